// A decoded body as recorded: the first maxBodyBytes of it (after chunked
// framing), its content coding undone within the same bound (a zip bomb
// inflates to at most maxBodyBytes), pattern-masked when it is text.
import { constants, gunzipSync, inflateRawSync, inflateSync, type ZlibOptions } from 'node:zlib';
import type { RecordedBody } from '../../model/recording.js';
import { maskPatterns, type MaskPattern } from '../../mask/patterns.js';
import { encodeBytes } from '../body-capture.js';

/** Bytes one connection may hold in bodies being captured at once (pipelined requests share it). */
export class CaptureBudget {
  constructor(public left: number) {}
}

/**
 * Keeps the first `limit` bytes of a body (within the connection's budget)
 * and counts the rest. It also notes where the body lies on the wire: `start`
 * is its first byte's offset, and `contiguous` says the wire bytes from there
 * are the body (no chunk framing between its parts), so a recording can refer
 * to the raw bytes instead of a copy. `keep: false`: nothing is copied (the
 * body will be such a reference and nothing reads it here).
 */
export class BoundedBody {
  private parts: Buffer[] = [];
  private kept = 0;
  size = 0;
  start: number | undefined;
  contiguous = true;
  private readonly keep: boolean;

  constructor(
    private readonly limit: number,
    private readonly budget?: CaptureBudget,
    o: { keep?: boolean } = {},
  ) {
    this.keep = o.keep ?? true;
  }

  /** Whether the body's bytes were held (false: only counted and placed). */
  get held(): boolean {
    return this.keep;
  }

  /** The bytes a reference would cover: what a copy would have kept. */
  get refLength(): number {
    return Math.min(this.size, this.limit);
  }

  /** Gives the bytes held back to the budget (the body has been recorded or dropped). */
  release(): void {
    if (this.budget) this.budget.left += this.kept;
    this.parts = [];
    this.kept = 0;
  }

  add(chunk: Buffer, at?: number): void {
    if (at === undefined) this.contiguous = false;
    else if (this.start === undefined) this.start = at;
    else if (at !== this.start + this.size) this.contiguous = false;
    this.size += chunk.length;
    if (!this.keep) return;
    const room = Math.min(this.limit - this.kept, this.budget ? this.budget.left : Infinity);
    if (room <= 0) return;
    // Copied: the chunk belongs to the forwarding path.
    const part = Buffer.from(chunk.length <= room ? chunk : chunk.subarray(0, room));
    this.parts.push(part);
    this.kept += part.length;
    if (this.budget) this.budget.left -= part.length;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  bytes(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts, this.kept)];
    return this.parts[0] ?? Buffer.alloc(0);
  }
}

/**
 * Undoes gzip/deflate, keeping at most `limit` bytes of output. A cut or
 * broken stream yields what inflated before the cut; past the limit, the
 * longest prefix of the input that inflates within it (found by halving) is
 * used, so neither time nor memory grows with the inflation ratio.
 */
export function inflateBounded(coding: string, input: Buffer, limit: number): { data: Buffer; truncated: boolean } | undefined {
  const fn = coding === 'gzip' || coding === 'x-gzip' ? gunzipSync : coding === 'deflate' ? inflateAuto : undefined;
  if (!fn) return undefined;
  const opts: ZlibOptions = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, limit) };
  try {
    return { data: fn(input, opts), truncated: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') return undefined;
  }
  let lo = 0;
  let hi = input.length;
  let best: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 16 && hi - lo > 1; i++) {
    const mid = (lo + hi) >>> 1;
    try {
      best = fn(input.subarray(0, mid), opts);
      lo = mid;
    } catch {
      hi = mid;
    }
  }
  return { data: best, truncated: true };
}

/** "deflate" is zlib-wrapped by the standard, raw deflate by some servers. */
function inflateAuto(input: Buffer, opts: ZlibOptions): Buffer {
  return (input[0] & 0x0f) === 8 && ((input[0] << 8) | input[1]) % 31 === 0 ? inflateSync(input, opts) : inflateRawSync(input, opts);
}

/**
 * The recorded form of a captured body. `coding`: the Content-Encoding on the
 * wire; undone when it is gzip or deflate (decodedFrom says so), otherwise
 * kept as sent in base64 (then it cannot be masked: redacted unmaskable when
 * patterns apply).
 */
export function recordBody(
  body: BoundedBody,
  o: { contentType?: string | undefined; coding?: string | undefined; limit: number; patterns: MaskPattern[]; ref?: RefPlace | undefined },
): { body: RecordedBody; decodedFrom?: string } | undefined {
  if (body.size === 0) return undefined;
  const coding0 = o.coding?.trim().toLowerCase();
  if (o.ref && canRefer(body, coding0, o.patterns)) {
    const length = body.refLength;
    const rec: RecordedBody = {
      encoding: 'base64',
      data: '',
      size: body.size,
      truncated: body.size > length,
      ref: { connection: o.ref.connection, channel: o.ref.channel, offset: body.start!, length },
    };
    if (o.contentType) rec.contentType = o.contentType;
    return { body: rec };
  }
  if (!body.held) {
    // Meant to be a reference, but the raw bytes can no longer stand for it (their record was cut): only its size is known.
    const rec: RecordedBody = { encoding: 'base64', data: '', size: body.size, truncated: true };
    if (o.contentType) rec.contentType = o.contentType;
    return { body: rec };
  }
  let data: Buffer = body.bytes();
  let truncated = body.truncated;
  let decodedFrom: string | undefined;
  const coding = o.coding?.trim().toLowerCase();
  if (coding && coding !== 'identity') {
    const inflated = inflateBounded(coding, data, o.limit);
    if (!inflated) {
      const rec: RecordedBody = { encoding: 'base64', data: data.toString('base64'), size: body.size, truncated, contentEncoding: coding };
      if (o.contentType) rec.contentType = o.contentType;
      if (o.patterns.length > 0) return { body: { ...rec, data: '', redacted: 'unmaskable' } };
      return { body: rec };
    }
    data = inflated.data;
    truncated = truncated || inflated.truncated;
    decodedFrom = coding;
  }
  const rec = encodeBytes(data, truncated, body.size, true);
  if (rec.encoding === 'utf8' && o.patterns.length > 0) rec.data = maskPatterns(rec.data, o.patterns);
  if (o.contentType) rec.contentType = o.contentType;
  return decodedFrom ? { body: rec, decodedFrom } : { body: rec };
}

/** A connection and direction whose raw bytes are recorded as forwarded, unmasked and uncut: a body there may be a reference. */
export interface RefPlace {
  connection: number;
  channel: 'in' | 'out';
}

/** The wire bytes are the body: one contiguous run, no content coding, nothing to mask. */
export function canRefer(body: BoundedBody, coding: string | undefined, patterns: MaskPattern[]): boolean {
  return body.contiguous && body.start !== undefined && (!coding || coding === 'identity') && patterns.length === 0;
}
