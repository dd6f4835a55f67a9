// The uploader's DynamoDB writes. The session item is written with a
// condition (created once, finished once, never overwritten); chunk index
// items too (a chunk's hash, once written, is the anchor `verify` checks S3
// against). Request and response items go in BatchWriteItem groups of at most
// 25, which cannot carry conditions: they are derived deterministically from
// the spool, so a retry after a crash writes the very same item.
import { BatchWriteItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { toAttr, toItem, type Item, type Plain } from './item-codec.js';
import { SESSION_SK, sessionPk } from './keys.js';
import { backoffMs, errorName, sleep, withRetries, type RetryContext } from './retry.js';
import { textOf } from '../../model/text.js';

export const BATCH_LIMIT = 25;

const isConditionFailure = (e: unknown): boolean => errorName(e) === 'ConditionalCheckFailedException';

export class DynamoWrites {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly ctx: RetryContext,
  ) {}

  /** Create an item unless one with its key exists. Resolves to the existing item when there was one. */
  async putOnce(item: Item, what: string): Promise<Item | undefined> {
    return withRetries(this.ctx, 'dynamodb', what, async (abortSignal) => {
      try {
        await this.client.send(new PutItemCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }), { abortSignal });
        return undefined;
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
        const got = await this.client.send(new GetItemCommand({ TableName: this.table, Key: { pk: item['pk'], sk: item['sk'] }, ConsistentRead: true }), {
          abortSignal,
        });
        return got.Item ?? {};
      }
    });
  }

  /** An unconditional put of an item whose content never changes (the months list). */
  async put(item: Item, what: string): Promise<void> {
    await withRetries(this.ctx, 'dynamodb', what, (abortSignal) =>
      this.client.send(new PutItemCommand({ TableName: this.table, Item: item }), { abortSignal }),
    );
  }

  /**
   * Finish a session item: set `fields` only while it is still live. When it
   * was already finished (a retry after a crash), resolves to that item.
   */
  async finishSession(id: string, fields: Record<string, Plain | undefined>): Promise<Item | undefined> {
    return withRetries(this.ctx, 'dynamodb', `finish session ${id}`, async (abortSignal) => {
      try {
        await this.client.send(whileLive(this.table, id, fields), { abortSignal });
        return undefined;
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
        const got = await this.client.send(
          new GetItemCommand({ TableName: this.table, Key: { pk: { S: sessionPk(id) }, sk: { S: SESSION_SK } }, ConsistentRead: true }),
          { abortSignal },
        );
        if (!got.Item) throw new Error(`session item ${id} does not exist`, { cause: e });
        return got.Item;
      }
    });
  }

  /** Sets `fields` on a live session's item (what it holds so far); nothing once it is finished. */
  async updateLiveSession(id: string, fields: Record<string, Plain | undefined>): Promise<void> {
    await withRetries(this.ctx, 'dynamodb', `update live session ${id}`, async (abortSignal) => {
      try {
        await this.client.send(whileLive(this.table, id, fields), { abortSignal });
      } catch (e) {
        if (!isConditionFailure(e)) throw e; // finished meanwhile: its final fields are written
      }
    });
  }

  /** Write items in BatchWriteItem groups of at most 25, retrying unprocessed items with backoff. */
  async batchPut(items: Array<{ [k: string]: Plain | undefined }>): Promise<void> {
    const seen = new Set<string>();
    const requests: WriteRequest[] = [];
    for (const it of items) {
      const key = `${textOf(it['pk'])}\0${textOf(it['sk'])}`;
      if (seen.has(key)) continue; // one batch may not name a key twice
      seen.add(key);
      requests.push({ PutRequest: { Item: toItem(it) } });
    }
    for (let i = 0; i < requests.length; i += BATCH_LIMIT) {
      let pending = requests.slice(i, i + BATCH_LIMIT);
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) {
          this.ctx.metrics?.uploadRetries.inc({ target: 'dynamodb' });
          await sleep(backoffMs(round), this.ctx.signal);
        }
        const batch = pending;
        const res = await withRetries(this.ctx, 'dynamodb', `write ${batch.length} request items`, (abortSignal) =>
          this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: batch } }), { abortSignal }),
        );
        pending = res.UnprocessedItems?.[this.table] ?? [];
      }
    }
  }
}

/** An update of a session item's `fields`, made only while its state is live. */
function whileLive(table: string, id: string, fields: Record<string, Plain | undefined>): UpdateItemCommand {
  const names: Record<string, string> = { '#state': 'state' };
  const values: Item = { ':live': { S: 'live' } };
  const sets: string[] = [];
  let i = 0;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    names[`#f${i}`] = k;
    values[`:f${i}`] = toAttr(v);
    sets.push(`#f${i} = :f${i}`);
    i++;
  }
  return new UpdateItemCommand({
    TableName: table,
    Key: { pk: { S: sessionPk(id) }, sk: { S: SESSION_SK } },
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: 'attribute_exists(pk) AND #state = :live',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  });
}
