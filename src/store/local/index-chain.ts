// The local store's index (recordings/index.ndjson) as evidence, not only as
// the read path of `sessions list`.
//
// Every index line ends with "prevSha256", the SHA-256 of the index line
// before it (64 zeros for the first), as the lines of a session file do
// (line-chain.ts): removing, editing or moving an index line breaks the chain
// at the next one. Everything an index line says is derived from a session
// file and checked against it by `kubetape verify` (store-verify.ts):
//
//   start       a session began: its start event, exactly as its file's first line holds it
//   end         a session ended: its end event (its file's last line), the file's line count and last line's hash
//   seal        a session interrupted by a crash, sealed at the next start: its last good line, its hash, its counts
//   checkpoint  the chain heads at a moment: the index's (its line count and head) and the durable
//               head of every open session; HMAC-SHA256-signed with recording.checkpointKeyFile
//
// A session file's first line also says where in the index its start line
// goes ("indexAt": the index's line count and head then, and the session
// started before it), so a session deleted with its index lines, or an index
// rewritten, is named from the files that remain.
//
// The chain alone can be recomputed end to end by anyone who can write the
// data dir; a checkpoint signed with a key kept outside the data dir cannot
// be, so what lies before the last signed checkpoint is anchored.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, closeSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { countEvent, emptyCounts, type RecordEvent, type SessionEndEvent, type SessionStartEvent, type SessionSummaryCounts } from '../../model/recording.js';
import { CHAIN_FIELD, GENESIS_LINE, LINK_FIELD, lineBytesHash } from './line-chain.js';

export { LINK_FIELD };

/** Where a session's start line goes in the index, as its file's first line records it. */
export interface IndexLink {
  /** Index lines written before the session's start line. */
  lines: number;
  /** SHA-256 of the last of them (64 zeros when none): the start line's prevSha256. */
  sha256: string;
  /** The session whose start line was the last one before it, if any. */
  prevSession?: string;
}

export interface IndexStart {
  kind: 'start';
  id: string;
  file: string;
  instance: string;
  start: SessionStartEvent;
}
export interface IndexEnd {
  kind: 'end';
  id: string;
  end: SessionEndEvent;
  /** Lines in the session file and the SHA-256 of the last one (see line-chain.ts). */
  lines?: number;
  headSha256?: string;
}
/** A session whose serve process died before ending it, sealed at the next start at its last good line. */
export interface IndexSeal {
  kind: 'seal';
  id: string;
  time: string;
  /** Complete, chained lines in the file at the seal, and the SHA-256 of the last one. */
  lines: number;
  headSha256: string;
  /** Counts of those lines' events (what `sessions list` shows for it). */
  summary: SessionSummaryCounts;
  /** The file's own end line, when it had one (kubetape died between it and the index end line). */
  end?: SessionEndEvent;
  /** A torn last line followed (kubetape died while writing it): not part of the recording. */
  torn?: boolean;
  /** The chain broke at this line (changed before the seal); the seal stops before it. */
  brokenAt?: number;
}
/** A session file's durable head at a checkpoint. */
export interface SessionHead {
  id: string;
  lines: number;
  headSha256: string;
}
export interface IndexCheckpoint {
  kind: 'checkpoint';
  time: string;
  reason: 'start' | 'session-end' | 'periodic' | 'shutdown';
  /** Index lines before this one (its prevSha256 is the last one's hash). */
  lines: number;
  /** Sessions open at the time, with the lines known to be on disk. */
  open: SessionHead[];
  /** Which key signed it (see keyId); absent: not signed. */
  keyId?: string;
  /** HMAC-SHA256 of the checkpoint and the index head (checkpointMac). */
  mac?: string;
}
export type IndexLine = IndexStart | IndexEnd | IndexSeal | IndexCheckpoint;

/** A short, public name of a checkpoint key: which key signed a checkpoint, without revealing it. */
export function keyId(key: Buffer): string {
  return createHmac('sha256', key).update('kubetape checkpoint key id').digest('hex').slice(0, 16);
}

/** What a checkpoint's MAC covers: its fields and the index head it follows (and so every index line before it). */
export function checkpointMac(key: Buffer, prev: string, cp: Omit<IndexCheckpoint, 'mac'>): string {
  const signed = JSON.stringify([
    'kubetape checkpoint v1',
    prev,
    cp.time,
    cp.reason,
    cp.lines,
    cp.open.map((o) => [o.id, o.lines, o.headSha256]),
    cp.keyId ?? null,
  ]);
  return createHmac('sha256', key).update(signed).digest('hex');
}

export function macMatches(key: Buffer, prev: string, cp: IndexCheckpoint): boolean {
  if (typeof cp.mac !== 'string' || !/^[0-9a-f]{64}$/.test(cp.mac)) return false;
  const want = Buffer.from(checkpointMac(key, prev, cp), 'hex');
  return timingSafeEqual(want, Buffer.from(cp.mac, 'hex'));
}

/** Shortest key accepted: 32 bytes (`openssl rand -hex 32 > key` makes 64). */
export const MIN_KEY_BYTES = 32;

/**
 * Reads the checkpoint key (recording.checkpointKeyFile): the file's bytes,
 * trailing whitespace removed. A key inside the data dir would protect
 * nothing (whoever can rewrite the recordings could read it), so it is refused.
 */
export function loadCheckpointKey(path: string, dataDir?: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the checkpoint key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d || raw[end - 1] === 0x20 || raw[end - 1] === 0x09)) end--;
  const key = raw.subarray(0, end);
  if (key.length < MIN_KEY_BYTES)
    throw new Error(`the checkpoint key ${path} holds ${key.length} bytes; give at least ${MIN_KEY_BYTES} (openssl rand -hex 32 > ${path})`);
  if (dataDir !== undefined && inside(real(path), real(dataDir))) {
    throw new Error(`the checkpoint key ${path} is inside the data dir ${dataDir}: whoever can rewrite the recordings could read it; keep it elsewhere`);
  }
  return Buffer.from(key);
}

/**
 * One line of the anchor file (recording.checkpointAnchorFile): a checkpoint
 * as it landed in the index, appended once the index holds it durably. The
 * file lives outside the data dir (another volume, an append-only file, a
 * log shipped elsewhere): an older but consistent copy of the data dir put
 * back in place (a rollback, which every chain and signature inside it
 * accepts) has an index that ends before the last line recorded here.
 */
export interface AnchorEntry {
  time: string;
  /** The checkpoint's line in index.ndjson (1-based) and the SHA-256 of that line. */
  line: number;
  sha256: string;
  keyId?: string;
}

/** Refuses an anchor file inside the data dir: whoever could roll the data dir back could roll it back too. */
export function checkAnchorFile(path: string, dataDir: string): void {
  if (inside(real(path), real(dataDir)))
    throw new Error(
      `the checkpoint anchor file ${path} is inside the data dir ${dataDir}: a rollback of the data dir would take it back too; keep it elsewhere`,
    );
}

export function appendAnchor(path: string, e: AnchorEntry): void {
  appendFileSync(path, JSON.stringify(e) + '\n', { mode: 0o600 });
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

function inside(p: string, dir: string): boolean {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

type LineVisitor = (bytes: Buffer, n: number) => boolean | void;
type LinesRead = { lines: number; torn: number };

/**
 * Calls `each` with every complete line of `path` (its bytes, without the
 * newline, and its 1-based number), reading 1 MiB at a time; `each`
 * returning false stops. Returns the lines seen and the length of an
 * unterminated last piece (a torn line, or one being written). Throws
 * ENOENT like readFileSync.
 */
export function forEachLine(path: string, each: LineVisitor): LinesRead {
  const g = readLines(path, each, 1024 * 1024);
  let r = g.next();
  while (!r.done) r = g.next();
  return r.value;
}

/**
 * forEachLine giving the event loop a turn after every 256 KiB: for a file
 * that may be large (an hour-long exec's), read while kubetape goes on
 * forwarding, so a verify holds the loop for milliseconds, not a second.
 */
export async function forEachLineYielding(path: string, each: LineVisitor): Promise<LinesRead> {
  const g = readLines(path, each, 256 * 1024);
  let r = g.next();
  while (!r.done) {
    await new Promise((resolve) => setImmediate(resolve));
    r = g.next();
  }
  return r.value;
}

/** The line reader of both: pauses (yields) after each buffer it read. */
function* readLines(path: string, each: LineVisitor, bufferBytes: number): Generator<void, LinesRead> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(bufferBytes);
    let carry: Buffer[] = [];
    let carryLen = 0;
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, from);
        if (nl < 0 || nl >= got) break;
        let line = buf.subarray(from, nl);
        if (carryLen > 0) {
          line = Buffer.concat([...carry, line]);
          carry = [];
          carryLen = 0;
        }
        n++;
        if (each(Buffer.from(line), n) === false) return { lines: n, torn: 0 };
        from = nl + 1;
      }
      if (from < got) {
        carry.push(Buffer.from(buf.subarray(from, got)));
        carryLen += got - from;
      }
      yield;
    }
    return { lines: n, torn: carryLen };
  } finally {
    closeSync(fd);
  }
}

/** An index or session line's JSON without the store's own fields: the event (or index record) as written. */
export function withoutChainFields<T extends object>(o: T): T {
  const c = { ...o } as Record<string, unknown>;
  delete c[CHAIN_FIELD];
  delete c[LINK_FIELD];
  return c as T;
}

/** Deep equality of two JSON values, whatever the order of their keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** What sealing found in an interrupted session's file: its last good line and the counts up to it. */
export interface SessionScan {
  lines: number;
  headSha256: string;
  summary: SessionSummaryCounts;
  end?: SessionEndEvent;
  torn: boolean;
  /** The first line that does not continue the chain (changed or foreign), if any. */
  brokenAt?: number;
}

/** Walks a session file's chain (line-chain.ts) up to its last good line. */
export function scanSessionFile(path: string, id: string): SessionScan {
  let head = GENESIS_LINE;
  let lines = 0;
  let last: RecordEvent | undefined;
  let brokenAt: number | undefined;
  const summary = emptyCounts();
  const r = forEachLine(path, (bytes, n) => {
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      brokenAt = n;
      return false;
    }
    if (ev[CHAIN_FIELD] !== head || ev['session'] !== id) {
      brokenAt = n;
      return false;
    }
    head = lineBytesHash(bytes);
    lines = n;
    last = withoutChainFields(ev) as unknown as RecordEvent;
    countEvent(summary, last);
    return true;
  });
  const scan: SessionScan = { lines, headSha256: head, summary, torn: r.torn > 0 };
  if (brokenAt !== undefined) scan.brokenAt = brokenAt;
  if (last?.type === 'session.end') scan.end = last;
  return scan;
}
