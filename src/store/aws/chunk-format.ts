// The S3 objects of a recording. A chunk is gzip'd NDJSON: a header line,
// then the session's events exactly as they were spooled. The header names
// the chunk's place (seq, index of its first event) and the SHA-256 of the
// previous chunk, so the chunks of a recording form a hash chain; the
// manifest written at the end holds the head of that chain and the counts.
//
// Hashes are over the *uncompressed* bytes: a chunk rebuilt from the spool
// after a crash hashes the same even if a newer zlib compresses differently.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

/** `prev` of a recording's first chunk. */
export const GENESIS = '0'.repeat(64);

export interface ChunkHeader {
  kubetape: 'chunk';
  version: 1;
  session: string;
  seq: number;
  /** SHA-256 (hex) of the previous chunk's uncompressed bytes; GENESIS for chunk 0. */
  prev: string;
  /** Index (from 0) of this chunk's first event within the session. */
  first: number;
  events: number;
}

export interface EncodedChunk {
  header: ChunkHeader;
  /** sha256 hex of the uncompressed object. */
  sha256: string;
  /** The object as stored. */
  gz: Buffer;
  /** base64 MD5 of `gz`, for Content-MD5. */
  md5: string;
  bytes: number;
}

export class ChunkFormatError extends Error {}

export const sha256Hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
export const md5Base64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

/** `lines` are event JSON lines without their newline. Same input, same bytes. */
export function encodeChunk(h: Omit<ChunkHeader, 'kubetape' | 'version' | 'events'>, lines: readonly string[]): EncodedChunk {
  const header: ChunkHeader = { kubetape: 'chunk', version: 1, session: h.session, seq: h.seq, prev: h.prev, first: h.first, events: lines.length };
  const content = Buffer.from(JSON.stringify(header) + '\n' + lines.map((l) => l + '\n').join(''), 'utf8');
  const gz = gzipSync(content, { level: 6 });
  return { header, sha256: sha256Hex(content), gz, md5: md5Base64(gz), bytes: content.length };
}

export interface DecodedChunk {
  header: ChunkHeader;
  lines: string[];
  sha256: string;
  bytes: number;
}

export function decodeChunk(gz: Buffer): DecodedChunk {
  let content: Buffer;
  try {
    content = gunzipSync(gz);
  } catch (e) {
    throw new ChunkFormatError(`not valid gzip (${(e as Error).message})`);
  }
  const text = content.toString('utf8');
  if (!text.endsWith('\n')) throw new ChunkFormatError('does not end with a newline (cut short)');
  const lines = text.slice(0, -1).split('\n');
  let header: ChunkHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as ChunkHeader;
  } catch {
    throw new ChunkFormatError('its first line is not a chunk header');
  }
  if (header.kubetape !== 'chunk' || typeof header.seq !== 'number' || typeof header.prev !== 'string')
    throw new ChunkFormatError('its first line is not a chunk header');
  return { header, lines: lines.slice(1), sha256: sha256Hex(content), bytes: content.length };
}

/** Written once, when the recording is complete (ended, or interrupted and recovered). */
export interface Manifest {
  kubetape: 'manifest';
  version: 1;
  session: string;
  state: 'ended' | 'interrupted';
  startedAt: string;
  endedAt?: string;
  chunks: number;
  events: number;
  /** Uncompressed bytes of all chunks. */
  bytes: number;
  /** SHA-256 of the last chunk: the head of the chain (GENESIS when there are none). */
  head: string;
}
