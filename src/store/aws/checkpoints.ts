// Checkpoints of the AWS store: the chain heads of the recordings, in the
// Object Lock bucket, signed with a KMS key (kms-mac.ts).
//
// Each session's chunks form a hash chain (chunk-format.ts), and DynamoDB
// records each chunk's hash; but whoever can write both the table and the
// bucket can recompute a chain, and a session deleted whole (its items, and
// its objects hidden behind delete markers) leaves nothing behind in the
// session's own records. So the uploader writes, after sessions finish and
// every `checkpointSeconds` while live ones grow, a checkpoint object:
//
//   PREFIX/checkpoints/WRITER/SEQ.json
//     { kubetape: "checkpoint", writer, seq, prev, time, reason,
//       sessions: [{ id, state, chunks, events, head }], keyId, mac }
//
// `sessions` names every session finished since the writer's previous
// checkpoint (final head) and the heads of its live sessions so far; `prev`
// is the SHA-256 of the previous checkpoint object, `seq` counts them. Every
// finished session is so named in exactly one checkpoint of a chain that
// spans sessions: `verify --all` reports a session a checkpoint names that is
// gone, a chain rewritten below a head a checkpoint recorded, and a missing,
// overwritten or deleted checkpoint (the bucket is versioned: a delete
// leaves a marker, an overwrite a second version). WRITER is one data dir's
// uploader (kept in its upload state), so the chain carries on across restarts.
import { createHash } from 'node:crypto';
import { GENESIS } from './chunk-format.js';

export interface CheckpointHead {
  id: string;
  state: 'live' | 'ended' | 'interrupted';
  chunks: number;
  events: number;
  /** SHA-256 of the session's last chunk so far (GENESIS: none). */
  head: string;
}

export interface Checkpoint {
  kubetape: 'checkpoint';
  version: 1;
  writer: string;
  seq: number;
  /** SHA-256 of the previous checkpoint object of this writer (GENESIS for seq 0). */
  prev: string;
  time: string;
  reason: 'session-end' | 'periodic';
  sessions: CheckpointHead[];
  /** The KMS key the MAC was made with (as configured); absent: unsigned. */
  keyId?: string;
  /** KMS HMAC_SHA_256 of signedBytes(), base64. */
  mac?: string;
}

/** Where an uploader's checkpoints chain stands (kept in the upload state). */
export interface CheckpointState {
  writer: string;
  /** The next checkpoint's seq. */
  seq: number;
  /** SHA-256 of the last checkpoint written. */
  prev: string;
  /** Sessions finished since then: named by the next checkpoint. */
  finished: CheckpointHead[];
  /** JSON of the live heads the last checkpoint named (skip a periodic one when nothing moved). */
  lastLive?: string;
  /** When the last one was written (ms). */
  lastAt?: number;
}

export const CHECKPOINTS_DIR = 'checkpoints/';
const pad = (n: number): string => String(n).padStart(10, '0');
export const checkpointsPrefix = (prefix: string): string => `${prefix}${CHECKPOINTS_DIR}`;
export const checkpointKey = (prefix: string, writer: string, seq: number): string => `${checkpointsPrefix(prefix)}${writer}/${pad(seq)}.json`;

/** Writer and seq of a checkpoint key, or undefined for any other key. */
export function parseCheckpointKey(prefix: string, key: string): { writer: string; seq: number } | undefined {
  const m = /^([0-9a-f]{16,64})\/(\d{10})\.json$/.exec(key.slice(checkpointsPrefix(prefix).length));
  return key.startsWith(checkpointsPrefix(prefix)) && m ? { writer: m[1], seq: Number(m[2]) } : undefined;
}

/** What the MAC covers: every field but the MAC, in a fixed order. */
export function signedBytes(cp: Omit<Checkpoint, 'mac'>): Buffer {
  return Buffer.from(
    JSON.stringify([
      'kubetape aws checkpoint v1',
      cp.writer,
      cp.seq,
      cp.prev,
      cp.time,
      cp.reason,
      cp.sessions.map((s) => [s.id, s.state, s.chunks, s.events, s.head]),
      cp.keyId ?? null,
    ]),
    'utf8',
  );
}

export const objectSha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export function encodeCheckpoint(cp: Checkpoint): Buffer {
  return Buffer.from(JSON.stringify(cp, null, 1) + '\n', 'utf8');
}

export function newCheckpointState(writer: string): CheckpointState {
  return { writer, seq: 0, prev: GENESIS, finished: [] };
}
