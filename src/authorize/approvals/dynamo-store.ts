// The approval log as items in the DynamoDB recording table, so every
// kubetape replica on one table agrees. One partition ("approvals") holds
// every entry (sk "entry#<time>#<random>", created with a condition, never
// changed), so one consistent Query replays the same log the file store
// replays; approvals are few, so one partition is plenty. A one-time grant is
// taken by creating "use#<grant>" with a condition: only one replica wins.
import { randomBytes } from 'node:crypto';
import { PutItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, toItem } from '../../store/aws/item-codec.js';
import { TABLE_SCHEMA } from '../../store/aws/table-schema.js';
import { emptyFold, foldEntry, type ApprovalEntry, type ApprovalFold, type UseEntry } from './model.js';
import { LogApprovalStore } from './store.js';

export const APPROVALS_PK = 'approvals';
const ENTRY_PREFIX = 'entry#';
/** How long a read serves the hot path (a usable grant, `hold:` polls, listing) before the table is asked again. */
export const APPROVAL_CACHE_MS = 1000;

export interface DynamoApprovalOptions {
  client: DynamoDBClient;
  table: string;
  /** Items expire this many days after they were written (the table's TTL attribute); 0 keeps them. */
  retentionDays: number;
  /** Called on close (destroys a client made for this store). */
  onClose?: () => void;
}

const isConditionFailure = (e: unknown): boolean => (e as { name?: string }).name === 'ConditionalCheckFailedException';

export class DynamoApprovalStore extends LogApprovalStore {
  private cache: { fold: ApprovalFold; at: number } | undefined;

  constructor(private readonly o: DynamoApprovalOptions) {
    super();
  }

  protected async fold(fresh = false): Promise<ApprovalFold> {
    if (!fresh && this.cache && Date.now() - this.cache.at < APPROVAL_CACHE_MS) return this.cache.fold;
    const at = Date.now();
    const fold = emptyFold();
    let start: Record<string, never> | undefined;
    do {
      const r = await this.o.client.send(
        new QueryCommand({
          TableName: this.o.table,
          ConsistentRead: true,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :entry)',
          ExpressionAttributeValues: { ':pk': { S: APPROVALS_PK }, ':entry': { S: ENTRY_PREFIX } },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of r.Items ?? []) {
        const body = fromItem(item)['entry'];
        if (typeof body !== 'string') continue;
        try {
          foldEntry(fold, JSON.parse(body) as ApprovalEntry);
        } catch {
          // An item kubetape did not write: skip it rather than lose every approval.
        }
      }
      start = r.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
    this.cache = { fold, at };
    return fold;
  }

  protected async append(e: ApprovalEntry): Promise<void> {
    await this.putOnce(`${ENTRY_PREFIX}${e.at}#${randomBytes(6).toString('hex')}`, { entry: JSON.stringify(e), approval: e.id });
    this.cache = undefined;
  }

  protected async recordUse(use: UseEntry, once: boolean): Promise<boolean> {
    if (once && !(await this.putOnce(`use#${use.grant}`, { approval: use.id, at: use.at }))) {
      this.cache = undefined;
      return false;
    }
    await this.append(use);
    return true;
  }

  /** Creates an item unless its key exists; false when it did. */
  private async putOnce(sk: string, fields: Record<string, string>): Promise<boolean> {
    const ttl = this.o.retentionDays > 0 ? { [TABLE_SCHEMA.ttlAttribute]: Math.floor(Date.now() / 1000) + this.o.retentionDays * 86_400 } : {};
    try {
      await this.o.client.send(
        new PutItemCommand({
          TableName: this.o.table,
          Item: toItem({ pk: APPROVALS_PK, sk, ...fields, ...ttl }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  close(): void {
    this.o.onClose?.();
  }
}
