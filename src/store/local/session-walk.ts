// The expensive part of verifying one local session: reading its file line
// by line, checking each line's chain field, hashing it, counting its events.
// Its result is a function of the file's bytes alone (and of which lines'
// hashes are asked for), so it is kept, per file, keyed by what would change
// with those bytes: the file's device, inode, size, and modification and
// change times in nanoseconds (ctime moves on every write and cannot be set
// back with utimes, so rewriting a byte and restoring the mtime still misses
// the cache). Everything that comes from the index (its chain, the session's
// start/end/seal lines, checkpoints, the anchor file) is judged afresh on
// every verify by the caller: only the file walk is cached. A hour-long exec
// of 100,000 events is then hashed once, not on every open in the console.
import { statSync } from 'node:fs';
import { hash } from 'node:crypto';
import { countEvent, emptyCounts, type RecordEvent, type SessionSummaryCounts } from '../../model/recording.js';
import { CHAIN_FIELD, GENESIS_LINE } from './line-chain.js';
import { forEachLineYielding, withoutChainFields } from './index-chain.js';

export interface SessionWalk {
  walked: { lines: number; torn: number };
  /** The first line as parsed (chain fields included: its index link is read from it). */
  first: Record<string, unknown> | undefined;
  /** The last good line's event, without chain fields. */
  last: Record<string, unknown> | undefined;
  lastLine: number;
  /** SHA-256 of the last good line. */
  head: string;
  /** Why the chain stops, when it does. */
  broken: string | undefined;
  counts: SessionSummaryCounts;
  /** Hashes of the lines asked for. */
  hashes: Map<number, string>;
  /** Counts and event at the seal's line, when a seal line count was given. */
  sealCounts: SessionSummaryCounts | undefined;
  sealEvent: Record<string, unknown> | undefined;
}

/** Files kept: the sessions opened lately in the console. */
const MAX_CACHED = 64;
const cache = new Map<string, { key: string; walk: SessionWalk }>();

/** For tests: whether the cache is used (turning it off shows a test would catch a stale one). */
export const sessionWalkCache = { enabled: true, hits: 0, reportHits: 0 };

/** A file's identity: any write to it changes this (ctime cannot be set back); undefined when it is not there. */
export function fileIdentity(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * Walks `path` (named `file` in messages) as session `id`'s file: its chain, counts, the hashes of
 * the `wanted` lines, and the counts and event at line `sealLines` (when given). Throws when the
 * file cannot be read.
 */
export async function walkSessionFile(path: string, file: string, id: string, wanted: Set<number>, sealLines: number | undefined): Promise<SessionWalk> {
  const before = fileIdentity(path);
  const key = `${before}|${id}|${file}|${[...wanted].sort((a, b) => a - b).join(',')}|${sealLines ?? ''}`;
  const hit = cache.get(path);
  if (sessionWalkCache.enabled && before && hit && hit.key === key) {
    sessionWalkCache.hits++;
    cache.delete(path);
    cache.set(path, hit); // most recently used last
    return hit.walk;
  }
  const walk = await walk0(path, file, id, wanted, sealLines);
  // Kept only when the file did not change while it was read (a live session's appends).
  if (before && fileIdentity(path) === before) {
    cache.delete(path);
    cache.set(path, { key, walk });
    while (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  }
  return walk;
}

async function walk0(path: string, file: string, id: string, wanted: Set<number>, sealLines: number | undefined): Promise<SessionWalk> {
  const hashes = new Map<number, string>();
  const counts = emptyCounts();
  let sealCounts: SessionSummaryCounts | undefined = sealLines === 0 ? emptyCounts() : undefined;
  let sealEvent: Record<string, unknown> | undefined;
  let first: Record<string, unknown> | undefined;
  let lastRaw: Record<string, unknown> | undefined;
  let lastLine = 0;
  let prev = GENESIS_LINE;
  let broken: string | undefined;
  // Read with a turn for the event loop every 256 KiB: kubetape forwards on the same thread.
  const walked = await forEachLineYielding(path, (bytes, n) => {
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      broken = `${file} line ${n} is not JSON (changed)`;
      return false;
    }
    const chain = ev[CHAIN_FIELD];
    if (chain === undefined) broken = `${file} line ${n} carries no ${CHAIN_FIELD} (recorded before hash chains, or changed)`;
    else if (chain !== prev)
      broken =
        n === 1
          ? `${file} line ${n} is not the session's first line (lines removed or reordered)`
          : `${file} line ${n} does not follow line ${n - 1}: line ${n - 1} was changed, removed or moved`;
    else if (ev['session'] !== id) broken = `${file} line ${n} belongs to another session`;
    else if (n === 1 && ev['type'] !== 'session.start') broken = `${file} line ${n} is not a session start`;
    if (broken) return false;
    // One-shot hash (no Hash object per line); the same SHA-256 as lineBytesHash.
    prev = hash('sha256', bytes, 'hex');
    if (wanted.has(n)) hashes.set(n, prev);
    if (n === 1) first = ev;
    // countEvent reads only event fields: the chain fields need not be taken off each line.
    countEvent(counts, ev as unknown as RecordEvent);
    if (n === sealLines) {
      sealCounts = structuredClone(counts);
      sealEvent = withoutChainFields(ev);
    }
    lastRaw = ev;
    lastLine = n;
    return true;
  });
  return {
    walked,
    first,
    last: lastRaw ? withoutChainFields(lastRaw) : undefined,
    lastLine,
    head: prev,
    broken,
    counts,
    hashes,
    sealCounts,
    sealEvent,
  };
}
