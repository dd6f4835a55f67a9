// The console's logins as items in the DynamoDB recording table, so every
// replica on one table knows every login: pk "console-login#<sha256 of the
// token>", sk "login", the session as JSON, and the table's TTL attribute at
// the login's expiry (DynamoDB removes it some time after; a read checks
// the expiry itself). A logout marks the item revoked with UpdateItem: the
// task role may not delete items (infra/), and a revoked login must stay
// refused until it would have expired anyway. A replica keeps what it read
// for a second, so a logout reaches the others within that.
import { GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, toItem } from '../store/aws/item-codec.js';
import { TABLE_SCHEMA } from '../store/aws/table-schema.js';
import { isSession, type BrowserSession, type LoginStore } from './browser-sessions.js';

const PK_PREFIX = 'console-login#';
const SK = 'login';
/** How long a replica serves a login it read before asking the table again. */
export const LOGIN_CACHE_MS = 1000;
/** Logins kept in a replica's cache at most. */
const MAX_CACHED = 10_000;

export interface DynamoLoginOptions {
  client: DynamoDBClient;
  table: string;
  onClose?: () => void;
}

const isConditionFailure = (e: unknown): boolean => (e as { name?: string }).name === 'ConditionalCheckFailedException';

export class DynamoLoginStore implements LoginStore {
  private readonly cache = new Map<string, { s: BrowserSession; at: number }>();

  constructor(private readonly o: DynamoLoginOptions) {}

  private key(tokenHash: string) {
    return toItem({ pk: `${PK_PREFIX}${tokenHash}`, sk: SK });
  }

  async put(tokenHash: string, s: BrowserSession): Promise<void> {
    await this.o.client.send(
      new PutItemCommand({
        TableName: this.o.table,
        Item: toItem({ pk: `${PK_PREFIX}${tokenHash}`, sk: SK, login: JSON.stringify(s), [TABLE_SCHEMA.ttlAttribute]: Math.ceil(s.expiresAt / 1000) }),
        // A token is random (256 bits): a clash is an attack or a bug, never a second login to keep.
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(tokenHash: string): Promise<BrowserSession | undefined> {
    const hit = this.cache.get(tokenHash);
    if (hit && Date.now() - hit.at < LOGIN_CACHE_MS) return hit.s;
    const r = await this.o.client.send(new GetItemCommand({ TableName: this.o.table, Key: this.key(tokenHash), ConsistentRead: true }));
    this.cache.delete(tokenHash);
    if (!r.Item) return undefined;
    const item = fromItem(r.Item);
    if (item['revoked'] === true || typeof item['login'] !== 'string') return undefined;
    let s: unknown;
    try {
      s = JSON.parse(item['login']);
    } catch {
      return undefined;
    }
    if (!isSession(s)) return undefined;
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(tokenHash, { s, at: Date.now() });
    return s;
  }

  async revoke(tokenHash: string): Promise<void> {
    this.cache.delete(tokenHash);
    try {
      await this.o.client.send(
        new UpdateItemCommand({
          TableName: this.o.table,
          Key: this.key(tokenHash),
          UpdateExpression: 'SET revoked = :t',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':t': { BOOL: true } },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e; // no such login: nothing to end
    }
  }

  close(): void {
    this.o.onClose?.();
  }
}
