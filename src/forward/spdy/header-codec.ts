// SPDY/3 name/value header blocks and their compression.
//
// Block layout: count(32) then per pair: name length(32), name, value
// length(32), value; several values of one name are joined with NUL.
//
// Compression is one zlib stream per direction for the life of the
// connection, primed with the SPDY/3 dictionary and sync-flushed after every
// block, so block N can only be decoded after blocks 1..N-1, in order. Node's
// public zlib API keeps a context only in its streaming classes, which are
// asynchronous; SerialZlib runs one block at a time through such a stream and
// hands back exactly that block's output.
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './frames.js';

/** Decoded headers: lower-case names; several values of one name stay joined with NUL. */
export type SpdyHeaders = Record<string, string>;
/** Headers to send: an array value becomes several NUL-separated values. */
export type SpdyHeadersInit = Record<string, string | readonly string[]>;

/** Largest decompressed header block we accept (default of HeaderDecompressor). */
export const DEFAULT_MAX_HEADER_BLOCK = 256 * 1024;

/** What the peer will decode from `headers`: lower-case names, NUL-joined values. */
export function normalizeHeaders(headers: SpdyHeadersInit): SpdyHeaders {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), typeof v === 'string' ? v : v.join('\0')]));
}

export function encodeHeaderBlock(headers: SpdyHeadersInit): Buffer {
  const pairs: Array<[Buffer, Buffer]> = [];
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower.length === 0) throw new TypeError('SPDY header names must not be empty');
    const joined = typeof value === 'string' ? value : value.join('\0');
    pairs.push([Buffer.from(lower, 'utf8'), Buffer.from(joined, 'utf8')]);
  }
  let size = 4;
  for (const [n, v] of pairs) size += 8 + n.length + v.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(pairs.length, 0);
  let at = 4;
  for (const [n, v] of pairs) {
    out.writeUInt32BE(n.length, at);
    n.copy(out, at + 4);
    at += 4 + n.length;
    out.writeUInt32BE(v.length, at);
    v.copy(out, at + 4);
    at += 4 + v.length;
  }
  return out;
}

/** Parses an uncompressed block; throws SpdyProtocolError if it is inconsistent. */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const fail = (why: string): never => {
    throw new SpdyProtocolError(`malformed header block: ${why}`);
  };
  if (block.length < 4) fail(`${block.length} bytes`);
  const count = block.readUInt32BE(0);
  // Each pair takes at least 8 bytes, so a count beyond that is a lie.
  if (count > (block.length - 4) / 8) fail(`${count} pairs cannot fit in ${block.length} bytes`);
  const headers: SpdyHeaders = Object.create(null) as SpdyHeaders;
  let at = 4;
  const field = (what: string): string => {
    if (at + 4 > block.length) fail(`truncated ${what} length`);
    const len = block.readUInt32BE(at);
    at += 4;
    if (at + len > block.length) fail(`${what} of ${len} bytes overruns the block`);
    const s = block.toString('utf8', at, at + len);
    at += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = field('name').toLowerCase();
    if (name.length === 0) fail('empty header name');
    const value = field('value');
    // Duplicate names are a peer bug; keep both values rather than drop one.
    headers[name] = name in headers ? `${headers[name]}\0${value}` : value;
  }
  if (at !== block.length) fail(`${block.length - at} trailing bytes`);
  return { ...headers };
}

/**
 * Runs input blocks one at a time through a persistent zlib stream, each
 * followed by Z_SYNC_FLUSH, and resolves with that block's output. Jobs are
 * queued, so call order is output order.
 */
class SerialZlib {
  private queue: Promise<unknown> = Promise.resolve();
  private output: Buffer[] = [];
  private outputBytes = 0;
  private failure: Error | undefined;
  private current: ((err: Error) => void) | undefined;

  constructor(
    private readonly engine: zlib.Deflate | zlib.Inflate,
    private readonly maxOutput: number,
  ) {
    engine.on('data', (chunk: Buffer) => {
      this.outputBytes += chunk.length;
      if (this.outputBytes > this.maxOutput) {
        this.fail(new SpdyProtocolError(`header block inflates beyond ${this.maxOutput} bytes`));
        return;
      }
      this.output.push(chunk);
    });
    engine.on('error', (err: Error) => this.fail(new SpdyProtocolError(`header compression: ${err.message}`)));
  }

  run(input: Buffer): Promise<Buffer> {
    const job = this.queue.then(() => this.runOne(input));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Releases the zlib context; a job still running rejects. */
  close(): void {
    this.fail(new Error('header codec closed'));
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.engine.destroy();
    this.current?.(this.failure);
  }

  private runOne(input: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.current = reject;
      this.output = [];
      this.outputBytes = 0;
      this.engine.write(input);
      this.engine.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        // The flush callback can run before output queued in the readable
        // side has been emitted; one macrotask lets every 'data' arrive.
        setImmediate(() => {
          this.current = undefined;
          if (this.failure) return reject(this.failure);
          const out = Buffer.concat(this.output, this.outputBytes);
          this.output = [];
          this.outputBytes = 0;
          resolve(out);
        });
      });
    });
  }
}

/** Compresses header blocks for one direction of one connection. */
export class HeaderCompressor {
  private readonly zlib = new SerialZlib(
    zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: zlib.constants.Z_BEST_COMPRESSION }),
    Number.MAX_SAFE_INTEGER,
  );

  /** Encodes and compresses; results come back in call order. */
  async compress(headers: SpdyHeadersInit): Promise<Buffer> {
    // An async body runs synchronously up to its first await: the block joins the zlib queue in call order.
    return this.zlib.run(encodeHeaderBlock(headers));
  }

  close(): void {
    this.zlib.close();
  }
}

/** Decompresses header blocks for one direction of one connection. */
export class HeaderDecompressor {
  private readonly zlib: SerialZlib;

  constructor(maxBlockBytes = DEFAULT_MAX_HEADER_BLOCK) {
    this.zlib = new SerialZlib(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }), maxBlockBytes);
  }

  /** Decompresses and parses; must be called in wire order. Rejects with SpdyProtocolError. */
  async decompress(compressed: Buffer): Promise<SpdyHeaders> {
    // An empty block carries no headers and no compressor state.
    if (compressed.length === 0) return {};
    return decodeHeaderBlock(await this.zlib.run(compressed));
  }

  close(): void {
    this.zlib.close();
  }
}
