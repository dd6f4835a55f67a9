// What an event costs in the store: the JSON line, envelope and encoding
// included, not only the payload. Every limit (maxStreamBytes,
// maxStreamEvents, the stream pacing, the per-user and disk budgets) counts
// this, so a flood of tiny or empty frames costs what it really takes.
//
// The stores say what each append wrote (`lastAppendBytes`, measured where
// the line is encoded anyway, so it costs nothing); for a store that does
// not, the size is estimated from the event (escapes not counted: measuring
// them costs as much as encoding the line again).
import type { RecordEvent } from '../model/recording.js';
import { encodeBytes } from './body-capture.js';

/**
 * Bytes a store adds to an event's JSON: the local store's chain field
 * (`,"prevSha256":"<64 hex>"`, 80 bytes) and the newline. The spool adds only
 * the newline, so this is an upper bound for both stores.
 */
export const LINE_OVERHEAD = 81;

/** A session writer that says how many bytes its last append put in the store (line and newline). */
export interface MeasuredWriter {
  readonly lastAppendBytes?: number;
}

/** Estimated stored bytes of an event (for stores that do not measure); a large body or data field is counted without stringifying it twice. */
export function estimatedSize(ev: RecordEvent): number {
  const big = 'data' in ev ? ev.data : 'body' in ev ? ev.body?.data : undefined;
  if (big === undefined || big.length < 4096) return Buffer.byteLength(JSON.stringify(ev)) + LINE_OVERHEAD;
  const envelope = 'data' in ev ? { ...ev, data: '' } : { ...ev, body: { ...(ev as { body: object }).body, data: '' } };
  return Buffer.byteLength(JSON.stringify(envelope)) + Buffer.byteLength(big) + LINE_OVERHEAD;
}

/**
 * Characters JSON writes as a six-byte `\u00XX`: the C0 controls other than
 * \b \t \n \f \r (which take two bytes), ESC included.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const SIX_BYTE_ESCAPES = /[\u0000-\u0007\u000b\u000e-\u001f]/;

/**
 * Bytes of an exec/attach/port-forward stream as stored: text stays text
 * only when JSON writes it in at most twice its bytes (quotes, backslashes,
 * \t \n \r and the like take two; a character that would take six sends the
 * piece to base64, 4/3). So stored data is at most 2 x the payload, which
 * the stream pacing relies on; terminal output with escape sequences is
 * kept as base64 (readers decode both).
 */
export function streamEncoding(buf: Buffer, truncated: boolean, mayBeText: boolean): { encoding: 'utf8' | 'base64'; data: string } {
  const body = encodeBytes(buf, truncated, buf.length, mayBeText);
  if (body.encoding === 'utf8' && SIX_BYTE_ESCAPES.test(body.data)) return { encoding: 'base64', data: buf.toString('base64') };
  return { encoding: body.encoding, data: body.data };
}
