// An incremental HTTP/1.x message reader for one direction of a connection:
// the head (start line and headers), then the body as its framing says
// (Content-Length, chunked, to the end of the connection, none), then the
// next message (keep-alive and pipelining). Every input is hostile: the head
// and each chunk-size line are bounded, sizes are checked, and anything
// that is not HTTP/1.x throws a DecodeError (the caller leaves the rest of
// the connection raw). Bytes are never buffered beyond a head; body bytes
// are handed on as they arrive.
import type { DecodedHeader } from '../../model/recording.js';
import { DecodeError } from './types.js';

/** A head (request line or status line with headers) larger than this is not decoded. */
export const MAX_HEAD_BYTES = 64 * 1024;
export const MAX_HEADERS = 256;
/** A chunk-size line (with extensions) longer than this is not decoded. */
const MAX_CHUNK_LINE = 1024;

export interface MessageHead {
  /** Request: method, target, version. Response: version, status, reason. */
  line: [string, string, string];
  headers: DecodedHeader[];
}

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'switch' };

export interface MessageEvents {
  /** A head is complete; returns how its body is framed ('switch': what follows is another protocol). */
  head(h: MessageHead): BodyFraming;
  /** `at`: the chunk's offset in this direction's bytes (from the connection's first byte). */
  body(chunk: Buffer, at: number): void;
  /** The message is complete. */
  end(): void;
  /** After a 'switch': everything that follows, as it comes. */
  switched(chunk: Buffer): void;
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'switched';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VERSION = /^HTTP\/1\.[01]$/;

export class Http1Reader {
  private state: State = 'head';
  private head: Buffer[] = [];
  private headBytes = 0;
  private remaining = 0;
  private line = '';
  /** Bytes of this direction pushed before the current buffer. */
  private base = 0;

  constructor(
    private readonly side: 'request' | 'response',
    private readonly events: MessageEvents,
  ) {}

  /** Whether a message has started and is not complete (its head or body is partway). */
  get partway(): boolean {
    return this.state !== 'head' || this.headBytes > 0;
  }

  get inBody(): boolean {
    return this.state !== 'head' && this.state !== 'switched';
  }

  push(buf: Buffer): void {
    try {
      this.read(buf, 0);
    } finally {
      this.base += buf.length;
    }
  }

  private read(buf: Buffer, off: number): void {
    while (off < buf.length) {
      switch (this.state) {
        case 'head':
          off = this.readHead(buf, off);
          break;
        case 'length': {
          const n = Math.min(this.remaining, buf.length - off);
          this.events.body(buf.subarray(off, off + n), this.base + off);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.complete();
          break;
        }
        case 'chunk-size':
        case 'chunk-crlf':
        case 'trailers':
          off = this.readLine(buf, off);
          break;
        case 'chunk-data': {
          const n = Math.min(this.remaining, buf.length - off);
          this.events.body(buf.subarray(off, off + n), this.base + off);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-crlf';
          break;
        }
        case 'close':
          this.events.body(off === 0 ? buf : buf.subarray(off), this.base + off);
          off = buf.length;
          break;
        case 'switched':
          this.events.switched(off === 0 ? buf : buf.subarray(off));
          off = buf.length;
          break;
      }
    }
  }

  /** The connection's direction ended: a body read to the end is complete; anything else partway is not. */
  finish(): 'complete' | 'incomplete' | 'idle' {
    if (this.state === 'close') {
      this.complete();
      return 'complete';
    }
    return this.partway && this.state !== 'switched' ? 'incomplete' : 'idle';
  }

  private readHead(buf: Buffer, off: number): number {
    // Blank lines before a request line are allowed (RFC 9112 2.2).
    if (this.headBytes === 0) {
      while (off < buf.length && (buf[off] === 0x0d || buf[off] === 0x0a)) off++;
      if (off === buf.length) return off;
    }
    const start = off;
    // Find the blank line that ends the head: look in what was held (its last 3 bytes) and this buffer.
    const carry = this.head.length > 0 ? tail(this.head, 3) : Buffer.alloc(0);
    const probe = carry.length > 0 ? Buffer.concat([carry, buf.subarray(off)]) : buf.subarray(off);
    const end = endOfHead(probe);
    if (end < 0) {
      const n = buf.length - off;
      if (this.headBytes + n > MAX_HEAD_BYTES) throw new DecodeError(`an HTTP head over ${MAX_HEAD_BYTES} bytes`);
      this.head.push(buf.subarray(off));
      this.headBytes += n;
      return buf.length;
    }
    const used = end - carry.length;
    if (this.headBytes + used > MAX_HEAD_BYTES) throw new DecodeError(`an HTTP head over ${MAX_HEAD_BYTES} bytes`);
    this.head.push(buf.subarray(start, start + used));
    const text = Buffer.concat(this.head).toString('latin1');
    this.head = [];
    this.headBytes = 0;
    this.begin(parseHead(text, this.side));
    return start + used;
  }

  private begin(h: MessageHead): void {
    const framing = this.events.head(h);
    switch (framing.kind) {
      case 'none':
        this.complete();
        return;
      case 'length':
        if (framing.length === 0) this.complete();
        else {
          this.state = 'length';
          this.remaining = framing.length;
        }
        return;
      case 'chunked':
        this.state = 'chunk-size';
        this.line = '';
        return;
      case 'close':
        this.state = 'close';
        return;
      case 'switch':
        this.events.end();
        this.state = 'switched';
        return;
    }
  }

  private complete(): void {
    this.state = 'head';
    this.events.end();
  }

  private readLine(buf: Buffer, off: number): number {
    const nl = buf.indexOf(0x0a, off);
    const stop = nl < 0 ? buf.length : nl;
    this.line += buf.toString('latin1', off, stop);
    if (this.line.length > (this.state === 'trailers' ? MAX_HEAD_BYTES : MAX_CHUNK_LINE)) throw new DecodeError('an over-long chunk line');
    if (nl < 0) return buf.length;
    const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
    this.line = '';
    if (this.state === 'chunk-size') {
      const size = line.split(';')[0].trim();
      if (!/^[0-9a-fA-F]{1,13}$/.test(size)) throw new DecodeError(`a bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
      this.remaining = parseInt(size, 16);
      this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
    } else if (this.state === 'chunk-crlf') {
      if (line !== '') throw new DecodeError('chunk data longer than its size');
      this.state = 'chunk-size';
    } else if (line === '') this.complete();
    return nl + 1;
  }
}

function tail(parts: Buffer[], n: number): Buffer {
  const last = Buffer.concat(parts.slice(-4));
  return last.subarray(Math.max(0, last.length - n));
}

/** Offset just past the blank line ending a head (CRLFCRLF, or bare LFs), or -1. */
function endOfHead(b: Buffer): number {
  let i = b.indexOf(0x0a);
  while (i >= 0) {
    if (b[i + 1] === 0x0a) return i + 2;
    if (b[i + 1] === 0x0d && b[i + 2] === 0x0a) return i + 3;
    if (i + 1 >= b.length || (b[i + 1] === 0x0d && i + 2 >= b.length)) return -1;
    i = b.indexOf(0x0a, i + 1);
  }
  return -1;
}

export function parseHead(text: string, side: 'request' | 'response'): MessageHead {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const first = lines.shift() ?? '';
  let line: [string, string, string];
  if (side === 'request') {
    const m = /^(\S+) (\S+) (\S+)$/.exec(first);
    if (!m || !TOKEN.test(m[1]) || !VERSION.test(m[3])) throw new DecodeError(`not an HTTP/1.x request line: ${JSON.stringify(first.slice(0, 60))}`);
    line = [m[1], m[2], m[3]];
  } else {
    const m = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(first);
    if (!m) throw new DecodeError(`not an HTTP/1.x status line: ${JSON.stringify(first.slice(0, 60))}`);
    line = [m[1], m[2], m[3] ?? ''];
  }
  if (lines.length > MAX_HEADERS) throw new DecodeError(`more than ${MAX_HEADERS} header lines`);
  const headers: DecodedHeader[] = [];
  for (const l of lines) {
    if ((l.startsWith(' ') || l.startsWith('\t')) && headers.length > 0) {
      // Obsolete line folding: one value.
      headers[headers.length - 1][1] += ` ${l.trim()}`;
      continue;
    }
    const colon = l.indexOf(':');
    const name = colon > 0 ? l.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new DecodeError(`a bad header line ${JSON.stringify(l.slice(0, 60))}`);
    headers.push([name, l.slice(colon + 1).trim()]);
  }
  return { line, headers };
}
