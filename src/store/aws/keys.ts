// Every DynamoDB key and S3 key kubetape writes, built in one place so the
// writer, the reader and `verify` agree on them.
import { TABLE_SCHEMA } from './table-schema.js';

const pad = (n: number): string => String(n).padStart(8, '0');

/** All items of a session share its partition. */
export const sessionPk = (id: string): string => `session#${id}`;
export const SESSION_SK = 'session';
/** A request and its response sort next to each other: request#00000001, request#00000001#response, request#00000002 ... */
export const requestSk = (seq: number): string => `request#${pad(seq)}`;
export const responseSk = (seq: number): string => `request#${pad(seq)}#response`;
export const REQUEST_PREFIX = 'request#';
export const chunkSk = (seq: number): string => `chunk#${pad(seq)}`;
export const CHUNK_PREFIX = 'chunk#';

/** One small partition lists the months that have sessions, so a time listing knows where to look. */
export const MONTHS_PK = 'months';

export const userPk = (user: string): string => `user#${user}`;
export const clusterPk = (cluster: string): string => `cluster#${cluster}`;
export const timePk = (month: string, shard: number): string => `month#${month}#${shard}`;

/** "YYYY-MM" of an ISO time (UTC). */
export const monthOf = (iso: string): string => iso.slice(0, 7);

/** Which time-index partition a session lands in: spread by its random part, stable for its life. */
export function timeShard(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % TABLE_SCHEMA.timeShards;
}

/** prefix/YYYY/MM/DD/SESSION/ (the day the session started, UTC). */
export function sessionPrefix(prefix: string, startedAt: string, id: string): string {
  return `${prefix}${startedAt.slice(0, 4)}/${startedAt.slice(5, 7)}/${startedAt.slice(8, 10)}/${id}/`;
}
export const chunkKey = (sessionPrefixKey: string, seq: number): string => `${sessionPrefixKey}${pad(seq)}.ndjson.gz`;
export const manifestKey = (sessionPrefixKey: string): string => `${sessionPrefixKey}manifest.json`;

/** TTL (epoch seconds) for every item of a session; undefined keeps them. */
export function expiresAt(startedAt: string, retentionDays: number): number | undefined {
  if (retentionDays <= 0) return undefined;
  return Math.floor(Date.parse(startedAt) / 1000) + retentionDays * 86400;
}

const ULID = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The millisecond range a session id prefix can have been minted in (ULID time part: 10 chars). */
export function idPrefixTimeRange(prefix: string): { min: number; max: number } | undefined {
  const p = prefix.toUpperCase().slice(0, 10);
  if (![...p].every((c) => ULID.includes(c))) return undefined;
  const decode = (s: string): number => [...s].reduce((t, c) => t * 32 + ULID.indexOf(c), 0);
  return { min: decode(p.padEnd(10, '0')), max: decode(p.padEnd(10, 'Z')) };
}

/** The smallest id minted at or after `ms`: for "since" queries on id-sorted indexes. */
export function idLowerBound(ms: number): string {
  let t = Math.max(0, Math.floor(ms));
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = ULID[t % 32] + s;
    t = Math.floor(t / 32);
  }
  return s;
}
