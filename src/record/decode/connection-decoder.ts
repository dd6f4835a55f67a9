// Decodes one port-forward connection from its two directions, in the order
// the bytes were forwarded: HTTP/1.x exchanges (keep-alive, pipelining,
// chunked, gzip/deflate, Server-Sent Events), a WebSocket after an upgrade,
// and MCP inside them. Anything else is named (TLS: opaque; text or binary:
// not HTTP) and left raw. A DecodeError stops decoding this connection only
// (noted); its raw bytes are the record either way.
import type { DecodedHeader, HttpExchangeEvent } from '../../model/recording.js';
import { StringDecoder } from 'node:string_decoder';
import { maskPatterns, type MaskPattern } from '../../mask/patterns.js';
import { looksLikeText } from '../looks-like-text.js';
import { encodeBytes } from '../body-capture.js';
import { BoundedBody, CaptureBudget, recordBody, type RefPlace } from './body-decode.js';
import { headerValue, headerValues, storedHeaders } from './header-values.js';
import { Http1Reader, type BodyFraming, type MessageHead } from './http1-reader.js';
import { mcpMessages, type McpLinker } from './mcp.js';
import { SseReader } from './sse-reader.js';
import { DecodeError, type DecodedSink, type UnplacedEvent } from './types.js';
import { WebSocketReader } from './websocket-reader.js';

/** Requests waiting for their responses on one connection (pipelining) before decoding gives up. */
export const MAX_PIPELINE = 64;
/** Bytes of the pod's answer held while the client's first bytes do not yet say what it speaks. */
const MAX_HELD = 64 * 1024;

export interface ConnectionContext {
  connection: number;
  port?: number | undefined;
  limit: number;
  patterns: MaskPattern[];
  linker: McpLinker;
  sink: DecodedSink;
  now: () => number;
  /**
   * Whether this connection's raw bytes are recorded exactly as forwarded
   * (unmasked, uncut) so far: then a body whose wire bytes are the body is
   * recorded as a reference to them (RecordedBody.ref), not a copy.
   */
  refs?: () => boolean;
}

interface Side {
  head: MessageHead;
  at: number;
  body: BoundedBody;
  done: boolean;
  sse?: SseReader;
  /** Text decoder state for SSE over a body read as it comes. */
  sseDecoder?: StringDecoder;
}

interface Pending {
  index: number;
  request: Side;
  response?: Side;
  method: string;
  upgrade?: string;
}

type Mode = 'sniff' | 'http' | 'websocket' | 'raw';

export class ConnectionDecoder {
  private mode: Mode = 'sniff';
  private sniffed: Buffer[] = [];
  private held: Array<{ dir: 'in' | 'out'; chunk: Buffer }> = [];
  private readonly queue: Pending[] = [];
  private count = 0;
  private reqReader: Http1Reader | undefined;
  private resReader: Http1Reader | undefined;
  private ws: { in: WebSocketReader; out: WebSocketReader } | undefined;
  private mcpSession: string | undefined;
  private heldBytes = 0;
  /** Bodies being captured on this connection hold at most two bodies' worth (pipelined requests share it). */
  private readonly budget: CaptureBudget;

  constructor(private readonly cx: ConnectionContext) {
    this.budget = new CaptureBudget(2 * cx.limit);
  }

  get decoding(): boolean {
    return this.mode !== 'raw';
  }

  push(dir: 'in' | 'out', chunk: Buffer): void {
    if (this.mode === 'raw' || chunk.length === 0) return;
    try {
      if (this.mode === 'sniff') return this.sniff(dir, chunk);
      if (this.mode === 'http') (dir === 'in' ? this.reqReader! : this.resReader!).push(chunk);
      else if (this.mode === 'websocket') this.ws![dir].push(chunk);
    } catch (e) {
      this.fail(e);
    }
  }

  /** The connection is over: whatever is partway is written as incomplete. */
  end(): void {
    try {
      if (this.mode === 'sniff' && this.sniffed.length > 0) this.decide(Buffer.concat(this.sniffed), true);
    } catch (e) {
      this.fail(e);
    }
    if (this.mode !== 'http') return;
    try {
      this.resReader!.finish();
      for (const p of this.queue.splice(0)) this.emitExchange(p, p.request.done ? 'response' : 'request');
      this.current = undefined;
    } catch (e) {
      this.fail(e);
    }
    this.mode = 'raw';
  }

  private fail(e: unknown): void {
    if (this.mode === 'raw') return;
    this.mode = 'raw';
    const note = e instanceof DecodeError ? e.message : `the decoder failed: ${(e as Error).message}`;
    this.emit({
      type: 'decode.note',
      at: this.cx.now(),
      connection: this.cx.connection,
      protocol: 'error',
      note: `${note}; the rest of this connection is left raw`,
    });
  }

  private emit(ev: UnplacedEvent): void {
    if (!this.cx.sink(ev)) this.mode = 'raw';
  }

  // ---- what the connection speaks ----

  private sniff(dir: 'in' | 'out', chunk: Buffer): void {
    if (dir === 'out') {
      // The pod spoke first: not HTTP (a client always speaks first there).
      if (this.sniffed.length === 0) return this.leaveRaw(chunk, 'the pod spoke first');
      this.heldBytes += chunk.length;
      if (this.heldBytes > MAX_HELD) return this.leaveRaw(Buffer.concat(this.sniffed), 'the pod kept talking before the client said anything HTTP');
      this.held.push({ dir, chunk });
      return;
    }
    this.sniffed.push(chunk);
    const head = this.sniffed.length === 1 ? chunk : Buffer.concat(this.sniffed);
    // A method is at most a few letters: wait for its space (up to 16 bytes).
    if (head.length < 16 && /^[A-Z]* ?$/.test(head.toString('latin1'))) return;
    this.decide(head, false);
  }

  private decide(head: Buffer, atEnd: boolean): void {
    this.sniffed = [];
    if (head[0] === 0x16 && head[1] === 0x03) {
      this.mode = 'raw';
      this.emit({
        type: 'decode.note',
        at: this.cx.now(),
        connection: this.cx.connection,
        protocol: 'tls',
        note: 'TLS: encrypted inside the forward, left raw',
      });
      return;
    }
    if (!/^[A-Z][A-Z0-9_-]{0,19} [^ \r\n]/.test(head.toString('latin1', 0, 32)))
      return this.leaveRaw(head, atEnd ? 'ended before it said anything HTTP' : undefined);
    this.mode = 'http';
    this.reqReader = new Http1Reader('request', {
      head: (h) => this.requestHead(h),
      body: (b, at) => this.requestBody(b, at),
      end: () => this.requestEnd(),
      switched: (b) => this.afterSwitch('in', b),
    });
    this.resReader = new Http1Reader('response', {
      head: (h) => this.responseHead(h),
      body: (b, at) => this.responseBody(b, at),
      end: () => this.responseEnd(),
      switched: (b) => this.afterSwitch('out', b),
    });
    this.emit({ type: 'decode.note', at: this.cx.now(), connection: this.cx.connection, protocol: 'http' });
    const held = this.held.splice(0);
    this.reqReader.push(head);
    for (const h of held) this.push(h.dir, h.chunk);
  }

  private leaveRaw(sample: Buffer, why: string | undefined): void {
    this.mode = 'raw';
    this.held = [];
    const text = looksLikeText(sample, true);
    const ev: UnplacedEvent = { type: 'decode.note', at: this.cx.now(), connection: this.cx.connection, protocol: text ? 'text' : 'binary' };
    ev.note = `not HTTP${why ? ` (${why})` : ''}: left raw`;
    this.emit(ev);
  }

  // ---- HTTP/1.x ----

  /** The request being read (its head seen, its body not yet complete). */
  private current: Pending | undefined;

  private requestHead(h: MessageHead): BodyFraming {
    if (this.queue.length >= MAX_PIPELINE) throw new DecodeError(`more than ${MAX_PIPELINE} requests waiting for responses`);
    const p: Pending = { index: ++this.count, method: h.line[0], request: this.side(h, h.line[0] === 'POST') };
    const upgrade = headerValue(h.headers, 'upgrade');
    if (upgrade) p.upgrade = upgrade.toLowerCase().slice(0, 64);
    const session = headerValue(h.headers, 'mcp-session-id');
    if (session) this.mcpSession = session;
    this.current = p;
    this.queue.push(p);
    if (headerValues(h.headers, 'transfer-encoding').some((v) => /chunked/i.test(v))) return { kind: 'chunked' };
    const length = contentLength(h.headers);
    if (length !== undefined) return { kind: 'length', length };
    return { kind: 'none' };
  }

  private requestBody(b: Buffer, at: number): void {
    this.current?.request.body.add(b, at);
  }

  private requestEnd(): void {
    const p = this.current;
    this.current = undefined;
    if (!p) return;
    p.request.done = true;
    const h = p.request.head;
    if (p.method === 'POST' && isJson(headerValue(h.headers, 'content-type'))) {
      const text = this.bodyText(p.request);
      if (text !== undefined) this.mcp(text, 'client', p.index, p.request.at);
    }
    // A response that came before its request ended (e.g. 413) waits for this.
    if (p.response?.done && this.queue[0] === p) this.finishFront();
  }

  private responseHead(h: MessageHead): BodyFraming {
    const p = this.queue[0];
    if (!p) throw new DecodeError('a response without a request');
    const status = Number(h.line[1]);
    if (status >= 100 && status < 200 && status !== 101) return { kind: 'none' }; // informational: the real answer follows
    p.response = this.side(h, true);
    const session = headerValue(h.headers, 'mcp-session-id');
    if (session) this.mcpSession = session;
    if (status === 101) {
      if (p.upgrade !== 'websocket') throw new DecodeError(`the connection switched to ${JSON.stringify(p.upgrade ?? 'another protocol')}`);
      return { kind: 'switch' };
    }
    if (p.method === 'CONNECT' && status >= 200 && status < 300) throw new DecodeError('a CONNECT tunnel');
    if (p.method === 'HEAD' || status === 204 || status === 304) return { kind: 'none' };
    const type = headerValue(h.headers, 'content-type');
    const coding = headerValue(h.headers, 'content-encoding');
    if (type && /^text\/event-stream\b/i.test(type) && (!coding || coding === 'identity')) {
      const from = this.cx.limit;
      p.response.sse = new SseReader(from, (e) => {
        if (!e.cut && e.data) this.mcp(e.data, 'server', p.index, this.cx.now());
      });
      p.response.sseDecoder = new StringDecoder('utf8');
    }
    if (headerValues(h.headers, 'transfer-encoding').some((v) => /chunked/i.test(v))) return { kind: 'chunked' };
    const length = contentLength(h.headers);
    if (length !== undefined) return { kind: 'length', length };
    return { kind: 'close' };
  }

  private responseBody(b: Buffer, at: number): void {
    const r = this.queue[0]?.response;
    if (!r) return;
    r.body.add(b, at);
    if (r.sse) r.sse.push(r.sseDecoder!.write(b));
  }

  private responseEnd(): void {
    const p = this.queue[0];
    if (!p?.response) return; // an informational response
    p.response.done = true;
    if (p.response.sse) sseEnd(p.response);
    const h = p.response.head;
    if (!p.response.sse && isJson(headerValue(h.headers, 'content-type'))) {
      const text = this.bodyText(p.response);
      if (text !== undefined) this.mcp(text, 'server', p.index, this.cx.now());
    }
    if (h.line[1] === '101') {
      this.finishFront();
      this.startWebSocket();
      return;
    }
    if (p.request.done) this.finishFront();
  }

  private finishFront(): void {
    const p = this.queue.shift();
    if (p) this.emitExchange(p, undefined);
  }

  private startWebSocket(): void {
    this.ws ??= {
      in: new WebSocketReader(this.cx.limit, (f) => this.frame('in', f)),
      out: new WebSocketReader(this.cx.limit, (f) => this.frame('out', f)),
    };
    if (this.mode === 'http') this.mode = 'websocket';
  }

  private afterSwitch(dir: 'in' | 'out', chunk: Buffer): void {
    this.startWebSocket();
    this.ws![dir].push(chunk);
  }

  private frame(direction: 'in' | 'out', f: { fin: boolean; opcode: number; compressed: boolean; payload: Buffer; size: number }): void {
    const text = (f.opcode === 1 || f.opcode === 8 || (f.opcode === 0 && looksLikeText(f.payload, true))) && !f.compressed;
    const payload = encodeBytes(f.payload, f.size > f.payload.length, f.size, text);
    if (payload.encoding === 'utf8' && this.cx.patterns.length > 0) payload.data = maskPatterns(payload.data, this.cx.patterns);
    const ev: UnplacedEvent = { type: 'ws.frame', at: this.cx.now(), connection: this.cx.connection, direction, opcode: f.opcode, fin: f.fin, payload };
    if (f.compressed) ev.compressed = true;
    this.emit(ev);
  }

  /**
   * `mcpCandidate`: a JSON body here is read for MCP. A body that will be a
   * reference into the raw bytes (nothing frames, codes or masks it) and
   * that nothing reads is not copied at all, only placed.
   */
  private side(h: MessageHead, mcpCandidate: boolean): Side {
    const keep =
      !this.refsNow() ||
      this.cx.patterns.length > 0 ||
      (mcpCandidate && isJson(headerValue(h.headers, 'content-type'))) ||
      !!headerValue(h.headers, 'content-encoding') ||
      headerValues(h.headers, 'transfer-encoding').length > 0;
    return { head: h, at: this.cx.now(), body: new BoundedBody(this.cx.limit, this.budget, { keep }), done: false };
  }

  private refsNow(): boolean {
    return this.cx.refs?.() ?? false;
  }

  /** A body as text for MCP: decoded, complete (a cut JSON body is not parsed), masked later per field. */
  private bodyText(s: Side): string | undefined {
    if (s.body.size === 0 || s.body.truncated) return undefined;
    const rec = recordBody(s.body, { coding: headerValue(s.head.headers, 'content-encoding'), limit: this.cx.limit, patterns: [] });
    if (!rec || rec.body.encoding !== 'utf8' || rec.body.truncated) return undefined;
    return rec.body.data;
  }

  private mcp(text: string, from: 'client' | 'server', exchange: number, at: number): void {
    for (const m of mcpMessages(text, { from, mcpSession: this.mcpSession, linker: this.cx.linker, limit: this.cx.limit, patterns: this.cx.patterns })) {
      this.emit({ type: 'mcp.message', at, connection: this.cx.connection, exchange, ...m });
    }
  }

  private emitExchange(p: Pending, incomplete: 'request' | 'response' | undefined): void {
    const rq = p.request;
    const [method, target, version] = rq.head.line;
    const ev: UnplacedEvent & HttpExchangeEventShape = {
      type: 'http.exchange',
      at: rq.at,
      connection: this.cx.connection,
      index: p.index,
      request: { method, target: maskPatterns(target.slice(0, 8192), this.cx.patterns), version, headers: storedHeaders(rq.head.headers, this.cx.patterns) },
    };
    if (this.cx.port !== undefined) ev.port = this.cx.port;
    const reqBody = recordBody(rq.body, this.bodyMeta(rq, 'in'));
    if (reqBody) {
      ev.request.body = reqBody.body;
      if (reqBody.decodedFrom) ev.request.decodedFrom = reqBody.decodedFrom;
    }
    const rs = p.response;
    if (rs) {
      const [v, status, reason] = rs.head.line;
      ev.response = { status: Number(status), reason: reason.slice(0, 256), version: v, headers: storedHeaders(rs.head.headers, this.cx.patterns) };
      const resBody = recordBody(rs.body, this.bodyMeta(rs, 'out'));
      if (resBody) {
        ev.response.body = resBody.body;
        if (resBody.decodedFrom) ev.response.decodedFrom = resBody.decodedFrom;
      }
      if (rs.sse) ev.sseEvents = rs.sse.count;
      ev.durationMs = this.cx.now() - rq.at;
      if (status === '101' && p.upgrade) ev.upgrade = p.upgrade;
    }
    if (incomplete) ev.incomplete = !rq.done ? 'request' : 'response';
    rq.body.release();
    rs?.body.release();
    this.emit(ev);
  }

  private bodyMeta(
    s: Side,
    channel: 'in' | 'out',
  ): { contentType?: string | undefined; coding?: string | undefined; limit: number; patterns: MaskPattern[]; ref?: RefPlace | undefined } {
    return {
      contentType: headerValue(s.head.headers, 'content-type')?.slice(0, 256),
      coding: headerValue(s.head.headers, 'content-encoding'),
      limit: this.cx.limit,
      patterns: this.cx.patterns,
      ref: this.refsNow() ? { connection: this.cx.connection, channel } : undefined,
    };
  }
}

type HttpExchangeEventShape = Omit<HttpExchangeEvent, 'session' | 'seq' | 'offsetMs'>;

function sseEnd(s: Side): void {
  const rest = s.sseDecoder?.end();
  if (rest) s.sse!.push(rest);
  s.sse!.end();
}

function contentLength(headers: DecodedHeader[]): number | undefined {
  const values = headerValues(headers, 'content-length');
  if (values.length === 0) return undefined;
  const all = new Set(values.flatMap((v) => v.split(',').map((x) => x.trim())));
  if (all.size !== 1) throw new DecodeError('conflicting Content-Length headers');
  const v = [...all][0];
  if (!/^\d{1,15}$/.test(v)) throw new DecodeError(`a bad Content-Length ${JSON.stringify(v.slice(0, 20))}`);
  return Number(v);
}

function isJson(type: string | undefined): boolean {
  return !!type && /^application\/(?:[\w.+-]*\+)?json\b/i.test(type.trim());
}
