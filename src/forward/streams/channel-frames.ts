// The WebSocket channel framing of apimachinery's wsstream: every message
// starts with its channel. Binary protocols put the channel number in byte
// 0; the base64 ones send text whose first character is '0' + channel and
// whose rest is the data in standard base64.

export interface ChannelFrame {
  channel: number;
  data: Buffer;
}

export class ChannelFrameError extends Error {
  override name = 'ChannelFrameError';
}

/** A message to send: a Buffer for binary protocols, a string for base64 ones. */
export function encodeChannelFrame(channel: number, data: Buffer, binary: boolean): Buffer | string {
  if (binary) {
    const out = Buffer.allocUnsafe(data.length + 1);
    out[0] = channel;
    data.copy(out, 1);
    return out;
  }
  return String.fromCharCode(48 + channel) + data.toString('base64');
}

/**
 * A received message; undefined for an empty one (wsstream skips those).
 * Throws ChannelFrameError on base64 that does not decode.
 */
export function decodeChannelFrame(message: Buffer, binary: boolean): ChannelFrame | undefined {
  if (message.length === 0) return undefined;
  if (binary) return { channel: message[0], data: message.subarray(1) };
  const channel = message[0] - 48;
  if (channel < 0) throw new ChannelFrameError(`invalid channel character ${JSON.stringify(String.fromCharCode(message[0]))}`);
  const text = message.subarray(1).toString('latin1');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) throw new ChannelFrameError('channel data is not valid base64');
  return { channel, data: Buffer.from(text, 'base64') };
}

/** The two little-endian bytes a port-forward server writes first on each channel of a port. */
export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

/**
 * Terminal sizes from a byte stream of JSON objects, as client-go writes
 * them ({"Width":W,"Height":H} per resize, newline-separated on SPDY, one per
 * message on WebSocket). Objects may arrive split or several at once.
 */
export class ResizeDecoder {
  private pending = '';

  /** Complete objects found so far; malformed ones are skipped (the kubelet skips them too). */
  push(chunk: Buffer | string): TerminalSizeMessage[] {
    this.pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const out: TerminalSizeMessage[] = [];
    for (;;) {
      const end = objectEnd(this.pending);
      if (end < 0) break;
      const text = this.pending.slice(0, end);
      this.pending = this.pending.slice(end);
      const size = parseSize(text);
      if (size) out.push({ size, text: text.trim() });
    }
    // Anything that is not the start of an object is noise; an object that
    // never ends must not grow without bound.
    this.pending = this.pending.replace(/^[^{]+/, '');
    if (this.pending.length > 4096) this.pending = '';
    return out;
  }
}

export interface TerminalSize {
  Width: number;
  Height: number;
}

export interface TerminalSizeMessage {
  size: TerminalSize;
  /** The JSON as the client sent it (what the recording keeps). */
  text: string;
}

/** Index just past the first complete top-level JSON object, or -1. */
function objectEnd(s: string): number {
  const start = s.indexOf('{');
  if (start < 0) return -1;
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  return -1;
}

function parseSize(text: string): TerminalSize | undefined {
  try {
    const v = JSON.parse(text.slice(text.indexOf('{'))) as { Width?: unknown; Height?: unknown };
    const w = Number(v.Width ?? 0);
    const h = Number(v.Height ?? 0);
    if (!Number.isInteger(w) || !Number.isInteger(h) || w < 0 || h < 0 || w > 0xffff || h > 0xffff) return undefined;
    return { Width: w, Height: h };
  } catch {
    return undefined;
  }
}

/** The wire form client-go writes for a resize (json.Encoder: object then newline). */
export function encodeTerminalSize(size: TerminalSize): string {
  return JSON.stringify({ Width: size.Width, Height: size.Height }) + '\n';
}
