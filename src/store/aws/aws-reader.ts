// Reading recordings back from DynamoDB and S3: `sessions list` from the
// session items (through the index that fits the filter), `sessions show`
// and replay from the S3 chunks in chain order, each checked against the
// hash its index item holds before any of its events is returned.
import { DescribeTableCommand, GetItemCommand, QueryCommand, type DynamoDBClient, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { RecordEvent, SessionSummary } from '../../model/recording.js';
import { matchesGuardrailFilter, matchesSummaryFilter, type SessionFilter } from '../store.js';
import { decodeChunk } from './chunk-format.js';
import { fromItem, type Plain } from './item-codec.js';
import { CHUNK_PREFIX, MONTHS_PK, REQUEST_PREFIX, SESSION_SK, clusterPk, idLowerBound, idPrefixTimeRange, monthOf, sessionPk, timePk, userPk } from './keys.js';
import { summaryFromItem } from './session-items.js';
import { TABLE_SCHEMA } from './table-schema.js';
import { textOf } from '../../model/text.js';

export type PlainItem = { [k: string]: Plain };

export interface ChunkIndexItem {
  seq: number;
  key: string;
  sha256: string;
  prev: string;
  first: number;
  events: number;
}

export interface ReaderOptions {
  table: string;
  bucket: string;
  /** Items per Query page (default 100); small in tests to exercise paging. */
  pageSize?: number;
}

const newestFirst = (a: SessionSummary, b: SessionSummary): number => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1);

export class AwsReader {
  private readonly pageSize: number;

  constructor(
    private readonly dynamo: DynamoDBClient,
    private readonly s3: S3Client,
    private readonly o: ReaderOptions,
  ) {
    this.pageSize = o.pageSize ?? 100;
  }

  /** A problem reaching the table or the bucket, said plainly; undefined when both answer. */
  async probe(): Promise<string | undefined> {
    try {
      await this.dynamo.send(new DescribeTableCommand({ TableName: this.o.table }));
    } catch (e) {
      return `DynamoDB table ${this.o.table} cannot be reached: ${(e as { name?: string }).name ?? 'Error'}: ${(e as Error).message}`;
    }
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: this.o.bucket }));
    } catch (e) {
      return `S3 bucket ${this.o.bucket} cannot be reached: ${(e as { name?: string }).name ?? 'Error'}${(e as Error).message ? `: ${(e as Error).message}` : ''}`;
    }
    return undefined;
  }

  async sessionItem(id: string): Promise<PlainItem | undefined> {
    const r = await this.dynamo.send(
      new GetItemCommand({ TableName: this.o.table, Key: { pk: { S: sessionPk(id) }, sk: { S: SESSION_SK } }, ConsistentRead: true }),
    );
    return r.Item ? fromItem(r.Item) : undefined;
  }

  async summary(id: string): Promise<SessionSummary | undefined> {
    const it = await this.sessionItem(id);
    return it ? summaryFromItem(it) : undefined;
  }

  /** Every page of a query, item by item. */
  private async *query(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>): AsyncGenerator<PlainItem> {
    let start: QueryCommandInput['ExclusiveStartKey'];
    do {
      const r = await this.dynamo.send(
        new QueryCommand({ ...input, TableName: this.o.table, Limit: this.pageSize, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      for (const it of r.Items ?? []) yield fromItem(it);
      start = r.LastEvaluatedKey;
    } while (start);
  }

  /** Sessions of one index partition, newest first, from `lower` (an id bound) on. */
  private sessionsIn(index: string, pkName: string, skName: string, pk: string, cond: { lower?: string; prefix?: string }): AsyncGenerator<PlainItem> {
    let key = '#pk = :pk';
    const values: Record<string, { S: string }> = { ':pk': { S: pk } };
    if (cond.lower) {
      key += ' AND #sk >= :lower';
      values[':lower'] = { S: cond.lower };
    } else if (cond.prefix) {
      key += ' AND begins_with(#sk, :prefix)';
      values[':prefix'] = { S: cond.prefix };
    }
    return this.query({
      IndexName: index,
      KeyConditionExpression: key,
      ExpressionAttributeNames: { '#pk': pkName, ...(cond.lower || cond.prefix ? { '#sk': skName } : {}) },
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
    });
  }

  /** Months that have sessions ("YYYY-MM"), newest first. */
  async months(): Promise<string[]> {
    const out: string[] = [];
    for await (const it of this.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: MONTHS_PK } },
      ScanIndexForward: false,
    })) {
      if (typeof it['sk'] === 'string') out.push(it['sk']);
    }
    return out;
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    const limit = filter.limit;
    const lower = filter.since ? idLowerBound(filter.since.getTime() - 1000) : undefined;
    const keep = (s: SessionSummary): boolean =>
      (!filter.user || s.user === filter.user) &&
      (!filter.cluster || s.cluster === filter.cluster) &&
      (!filter.since || Date.parse(s.startedAt) >= filter.since.getTime()) &&
      (!filter.verb || s.verbs.includes(filter.verb)) &&
      (!filter.namespace || s.namespaces.includes(filter.namespace)) &&
      matchesGuardrailFilter(s, filter) &&
      matchesSummaryFilter(s, filter);
    const collect = async (items: AsyncGenerator<PlainItem>): Promise<SessionSummary[]> => {
      const got: SessionSummary[] = [];
      for await (const it of items) {
        const s = summaryFromItem(it);
        if (!keep(s)) continue;
        got.push(s);
        if (limit && got.length >= limit) break;
      }
      return got;
    };
    if (filter.user)
      return (await collect(this.sessionsIn('byUser', 'userPk', 'userSk', userPk(filter.user), { ...(lower ? { lower } : {}) }))).sort(newestFirst);
    if (filter.cluster)
      return (await collect(this.sessionsIn('byCluster', 'clusterPk', 'clusterSk', clusterPk(filter.cluster), { ...(lower ? { lower } : {}) }))).sort(
        newestFirst,
      );
    // Everything, by time: month by month (newest first), every shard of a month at once.
    const out: SessionSummary[] = [];
    const fromMonth = filter.since ? monthOf(new Date(filter.since.getTime() - 1000).toISOString()) : '';
    for (const month of await this.months()) {
      if (month < fromMonth) break;
      const shards = await Promise.all(
        Array.from({ length: TABLE_SCHEMA.timeShards }, (_, shard) =>
          collect(this.sessionsIn('byTime', 'timePk', 'timeSk', timePk(month, shard), { ...(lower ? { lower } : {}) })),
        ),
      );
      out.push(...shards.flat().sort(newestFirst));
      if (limit && out.length >= limit) break;
    }
    out.sort(newestFirst);
    return limit ? out.slice(0, limit) : out;
  }

  async resolveId(idOrPrefix: string): Promise<string | undefined> {
    const want = idOrPrefix.toUpperCase();
    if (want.length >= 26) return (await this.sessionItem(want)) ? want : undefined;
    const range = idPrefixTimeRange(want);
    if (!range || want.length === 0) return undefined;
    const from = monthOf(new Date(range.min).toISOString());
    const to = monthOf(new Date(Math.min(range.max, 8.64e15)).toISOString());
    const found = new Set<string>();
    for (const month of await this.months()) {
      if (month < from || month > to) continue;
      await Promise.all(
        Array.from({ length: TABLE_SCHEMA.timeShards }, async (_, shard) => {
          for await (const it of this.sessionsIn('byTime', 'timePk', 'timeSk', timePk(month, shard), { prefix: want })) {
            found.add(textOf(it['id']));
            if (found.size > 1) break;
          }
        }),
      );
      if (found.size > 1) break;
    }
    if (found.size > 1) throw new Error(`session id prefix "${idOrPrefix}" matches more than one session; give more characters`);
    return [...found][0];
  }

  /** The chunk index of a session, in chain order. */
  async chunkItems(id: string): Promise<ChunkIndexItem[]> {
    const out: ChunkIndexItem[] = [];
    for await (const it of this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :c)',
      ExpressionAttributeValues: { ':pk': { S: sessionPk(id) }, ':c': { S: CHUNK_PREFIX } },
      ConsistentRead: true,
    })) {
      out.push({
        seq: Number(it['seq']),
        key: textOf(it['key']),
        sha256: textOf(it['sha256']),
        prev: textOf(it['prev']),
        first: Number(it['first']),
        events: Number(it['events']),
      });
    }
    return out;
  }

  /** A session's request and response items (what `sessions show` and the API read without the chunks), in key order. */
  async eventIndexItems(id: string): Promise<PlainItem[]> {
    const out: PlainItem[] = [];
    for await (const it of this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :r)',
      ExpressionAttributeValues: { ':pk': { S: sessionPk(id) }, ':r': { S: REQUEST_PREFIX } },
      ConsistentRead: true,
    })) {
      out.push(it);
    }
    return out;
  }

  /**
   * Every session with objects in the bucket under `prefix` (prefix/YYYY/MM/DD/SESSION/...):
   * the id and its session prefix. Found without DynamoDB, so a session whose items were deleted is still found.
   */
  async sessionsInBucket(prefix: string): Promise<Map<string, { prefix: string; objects: number }>> {
    const out = new Map<string, { prefix: string; objects: number }>();
    for (const key of await this.listKeys(prefix)) {
      const parts = key.slice(prefix.length).split('/');
      if (parts.length < 5 || !/^\d{4}$/.test(parts[0]) || !/^[0-9A-Z]{26}$/.test(parts[3])) continue;
      const id = parts[3];
      const e = out.get(id) ?? { prefix: `${prefix}${parts.slice(0, 4).join('/')}/`, objects: 0 };
      e.objects++;
      out.set(id, e);
    }
    return out;
  }

  /** An object's bytes, or undefined when there is no such key. */
  async getObject(key: string): Promise<Buffer | undefined> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
      throw e;
    }
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.s3.send(new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Every event of a session, chunk by chunk (the next chunk is fetched while this one is read). */
  async *readSession(id: string): AsyncGenerator<RecordEvent> {
    const chunks = await this.chunkItems(id);
    const fetch = (i: number) => (i < chunks.length ? this.getObject(chunks[i].key) : Promise.resolve(undefined));
    let next = fetch(0);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      const gz = await next;
      next = fetch(i + 1);
      next.catch(() => undefined);
      if (!gz) throw new Error(`recording ${id}: chunk ${c.seq} (${c.key}) is missing from S3; run \`kubetape verify ${id}\``);
      const d = decodeChunk(gz);
      if (d.sha256 !== c.sha256) throw new Error(`recording ${id}: chunk ${c.seq} (${c.key}) does not match its recorded hash; run \`kubetape verify ${id}\``);
      for (const line of d.lines) yield JSON.parse(line) as RecordEvent;
    }
  }
}
