// The recorder turns traffic into the events of model.ts and hands them to
// the store. It owns session boundaries: one kubectl invocation (its
// Kubectl-Session header, scoped to the authenticated user so nobody can
// write into another person's session) or, for other clients (kubectl before
// 1.22, client libraries, k9s, curl), one person at one address with one
// User-Agent until it pauses for CLIENT_SESSION_WINDOW_MS. A session ends
// after it has been idle for `idleMs` (the client window for the latter)
// with no request in flight.
import type { Socket } from 'node:net';
import {
  countEvent,
  emptyCounts,
  type ExecRequest,
  type PortForwardRequest,
  type PolicyRecord,
  type RecordEvent,
  type RecordedBody,
  type ResponseChunkEvent,
  type ResponseEvent,
  type RecordedImpersonation,
  type RequestEvent,
  type SessionStartEvent,
  type SessionSummaryCounts,
  type StreamChannel,
  type StreamEvent,
} from '../model/recording.js';
import type { Identity, UpstreamPrincipal } from '../model/identity.js';
import type { RequestAttributes } from '../model/request-attributes.js';
import type { TraceContext } from '../model/trace-context.js';
import { StringDecoder } from 'node:string_decoder';
import { gunzipSync } from 'node:zlib';
import { BodyCapture, encodeBytes } from './body-capture.js';
import { maskPatterns, StreamMasker, type MaskPattern } from '../mask/patterns.js';
// A stream of NULs is valid UTF-8 too, but JSON would spell every byte as "\u0000": such chunks are stored as base64.
import { looksLikeText } from './looks-like-text.js';
import { isSecret } from '../model/request-attributes.js';
import type { RecordingStore, SessionWriter } from '../store/store.js';
import { newSessionId } from '../store/store.js';
import { recordingFailed, RecordingBudgetError, RecordingStopped, type RecordingLimits } from './limits.js';
import { StreamPacer, ENVELOPE_BOUND, type Batch, type Where } from './stream-pacing.js';
import { estimatedSize, streamEncoding, type MeasuredWriter } from './stored-size.js';
import { PortForwardTap } from './decode/portforward-tap.js';
import { DECODE_ALLOWANCE, decodedSize, decodeSpentNote, placeDecoded, proxyMcpEvents } from './decode/placed.js';
import { isProxyRequest } from './decode/proxy-mcp.js';
import type { UnplacedEvent } from './decode/types.js';

/** Events kept of each stream (exec, attach, port-forward, watch, logs -f) unless configured. */
export const DEFAULT_MAX_STREAM_EVENTS = 200_000;

/**
 * A client without Kubectl-Session: its session ends once it has had no
 * request in flight for this long (or `idleMs`, if shorter). Long enough to
 * join the requests of one run of a tool; short enough that two runs a few
 * seconds apart are two sessions.
 */
export const CLIENT_SESSION_WINDOW_MS = 5000;

export interface RecorderOptions {
  cluster: string;
  /** Bytes of each request and response body kept; the rest is counted and marked truncated. */
  maxBodyBytes: number;
  /** Stored bytes (envelope included) of each stream kept: watch, logs -f, exec, attach, port-forward. */
  maxStreamBytes: number;
  /**
   * Events of each stream kept (default 200,000). Past either limit failMode
   * closed stops the stream (507); open keeps forwarding, the event at the limit marked truncated.
   */
  maxStreamEvents?: number;
  /** Disk reserve and per-user budgets, and whether recording works (readiness). */
  limits?: RecordingLimits;
  idleMs: number;
  /** 'closed': a request whose record cannot be made durable is refused. 'open': it goes through and the failure is reported. */
  failMode: 'closed' | 'open';
  onRecordFailure?: (err: Error) => void;
  /** Who the cluster will see for a caller (its IAM role session, or whom kubetape impersonates), for session.start. */
  principal?: (identity: Identity) => UpstreamPrincipal | undefined;
  /** Credential patterns masked in everything stored (the policy's, read at each exchange's start so reloads apply). */
  patterns?: () => MaskPattern[];
  /** Decode port-forward traffic (HTTP, WebSocket, MCP) into extra events beside the raw bytes. Default true. */
  decodePortForwards?: boolean;
}

export interface ExchangeStart {
  identity: Identity;
  method: string;
  uri: string;
  attrs: RequestAttributes;
  headers: Record<string, string>;
  body?: Buffer;
  streaming: boolean;
  source: string;
  userAgent?: string;
  command?: string;
  clientSession?: string;
  socket: Socket;
  /** exec/attach: the parsed options, recorded with the request. */
  exec?: ExecRequest;
  /** port-forward: the parsed options, recorded with the request. */
  portForward?: PortForwardRequest;
  /** Impersonate-* from the caller: recorded with the request. */
  impersonation?: RecordedImpersonation;
  /** The guardrail decision, recorded with the request. */
  policy?: PolicyRecord;
  /** W3C trace context the client sent, validated (trace-context.ts). */
  trace?: TraceContext;
  /** The name the client gave itself (an MCP server's name/version). */
  client?: string;
}

/** Headers worth keeping with a request; credentials never are. */
export const RECORDED_HEADERS = ['accept', 'content-type', 'content-encoding', 'content-length', 'user-agent', 'kubectl-command', 'kubectl-session'];

interface ActiveSession {
  writer: SessionWriter;
  /** Whose session: their daily recording budget pays for it. */
  user: string;
  seq: number;
  inflight: number;
  counts: SessionSummaryCounts;
  timer?: NodeJS.Timeout;
  key: string;
  failed: boolean;
}

export class Recorder {
  private sessions = new Map<string, Promise<ActiveSession>>();
  /** Per person and address, the client session last used (where a client that names itself nowhere goes). */
  private lastClient = new Map<string, string>();
  private closing = false;

  constructor(
    private readonly store: RecordingStore,
    readonly opts: RecorderOptions,
  ) {}

  /**
   * Record the start of an exchange. Resolves once the request (and its
   * session's start) is durable; rejects when it cannot be and failMode is
   * closed. The caller forwards only after this resolves.
   */
  async begin(x: ExchangeStart): Promise<Exchange> {
    if (this.closing) throw new Error('kubetape is shutting down');
    // Past the disk reserve or the caller's daily budget nothing new starts (507); failMode open never refuses.
    this.opts.limits?.admitNew(x.identity.user);
    const key = this.sessionKey(x);
    const session = await this.session(key, x);
    session.inflight++;
    if (session.timer) clearTimeout(session.timer);
    const seq = ++session.seq;
    const ev: RequestEvent = {
      type: 'request',
      session: session.writer.id,
      seq,
      time: new Date().toISOString(),
      method: x.method,
      uri: x.uri,
      attrs: x.attrs,
      headers: x.headers,
      streaming: x.streaming,
    };
    if (x.exec) ev.exec = x.exec;
    if (x.portForward) ev.portForward = x.portForward;
    if (x.impersonation) ev.impersonation = x.impersonation;
    if (x.policy) ev.policy = x.policy;
    if (x.trace) ev.trace = x.trace;
    if (x.client) ev.client = x.client;
    const redact = isSecret(x.attrs);
    const patterns = this.opts.patterns?.() ?? [];
    if (x.body && x.body.length > 0) {
      const cap = new BodyCapture(this.opts.maxBodyBytes);
      cap.add(x.body);
      ev.body = maskRecordedBody(cap.toRecorded({ contentType: x.headers['content-type'], contentEncoding: x.headers['content-encoding'], redact }), patterns);
    }
    countEvent(session.counts, ev);
    const ex = new Exchange(this, session, seq, x.body?.length ?? 0, x.streaming, redact, patterns);
    if (isProxyRequest(x.attrs) && !redact) ex.proxied = ev.body ? { method: x.method, body: ev.body } : { method: x.method };
    try {
      const durable = session.writer.append(ev, { durable: true });
      this.opts.limits?.charge(session.user, (session.writer as MeasuredWriter).lastAppendBytes ?? estimatedSize(ev));
      await durable;
      this.opts.limits?.succeeded();
    } catch (err) {
      this.recordFailed(session, err as Error);
      if (this.opts.failMode === 'closed') {
        ex.abandon();
        throw err;
      }
    }
    return ex;
  }

  /**
   * kubectl's own session, or, without Kubectl-Session, the client's: one
   * person at one source address with one User-Agent, while its requests
   * come closer together than CLIENT_SESSION_WINDOW_MS (so kubectl 1.20's
   * exec, a GET and an upgrade on two connections, is one session, and a
   * script's requests are one session however many connections it opens).
   * A request without a User-Agent (the WebSocket libraries of client-node
   * and the Python client send none for exec) joins that person's client
   * session at that address last used, when one is open.
   */
  private sessionKey(x: ExchangeStart): string {
    // An agent acting for a person is not that person: their requests never share a session.
    const issuer = `${x.identity.issuer ?? ''}${x.identity.agent ? `|${x.identity.agent}` : ''}`;
    if (x.clientSession) return `k\0${x.identity.user}\0${issuer}\0${x.clientSession}`;
    const who = `${x.identity.user}\0${issuer}\0${x.source}`;
    if (!x.userAgent) {
      const open = this.lastClient.get(who);
      if (open && this.sessions.has(open)) return open;
    }
    // Requests of another trace (another tool call of an agent) start another session.
    const key = `a\0${who}\0${x.userAgent ?? ''}${x.trace ? `\0${x.trace.traceId}` : ''}`;
    this.lastClient.set(who, key);
    return key;
  }

  private session(key: string, x: ExchangeStart): Promise<ActiveSession> {
    let p = this.sessions.get(key);
    if (!p) {
      const start: SessionStartEvent = {
        type: 'session.start',
        session: newSessionId(),
        time: new Date().toISOString(),
        user: x.identity.user,
        groups: x.identity.groups,
        authMethod: x.identity.method,
        cluster: this.opts.cluster,
        source: x.source,
      };
      if (x.identity.uid) start.uid = x.identity.uid;
      if (x.identity.issuer) start.issuer = x.identity.issuer;
      if (x.identity.subject) start.subject = x.identity.subject;
      if (x.identity.kind === 'machine') start.kind = 'machine';
      if (x.identity.agent) start.agent = x.identity.agent;
      if (x.identity.actingFor) start.actingFor = x.identity.actingFor;
      if (x.identity.delegation?.length) start.delegation = x.identity.delegation;
      const principal = this.opts.principal?.(x.identity);
      if (principal) start.upstream = principal;
      if (x.userAgent) start.userAgent = x.userAgent;
      if (x.command) start.command = x.command;
      if (x.clientSession) start.clientSession = x.clientSession;
      p = this.store.openSession(start).then(
        (writer): ActiveSession => {
          this.opts.limits?.charge(start.user, estimatedSize(start));
          return { writer, user: start.user, seq: 0, inflight: 0, counts: emptyCounts(), key, failed: false };
        },
        (err) => {
          this.sessions.delete(key);
          throw err;
        },
      );
      this.sessions.set(key, p);
    }
    return p;
  }

  /** Called by Exchange when it has finished. */
  done(s: ActiveSession): void {
    s.inflight--;
    if (s.inflight === 0 && !this.closing) {
      const idle = s.key.startsWith('a\0') ? Math.min(this.opts.idleMs, CLIENT_SESSION_WINDOW_MS) : this.opts.idleMs;
      s.timer = setTimeout(() => void this.end(s, 'idle'), idle);
      s.timer.unref();
    }
  }

  private async end(s: ActiveSession, reason: 'idle' | 'connection-closed' | 'shutdown'): Promise<void> {
    if (this.sessions.get(s.key) === undefined) return;
    this.sessions.delete(s.key);
    if (s.key.startsWith('a\0')) {
      const who = s.key.split('\0').slice(1, 4).join('\0');
      if (this.lastClient.get(who) === s.key) this.lastClient.delete(who);
    }
    if (s.timer) clearTimeout(s.timer);
    try {
      const end: RecordEvent = { type: 'session.end', session: s.writer.id, time: new Date().toISOString(), reason, summary: s.counts };
      this.opts.limits?.charge(s.user, estimatedSize(end));
      await s.writer.close(end);
    } catch (err) {
      this.recordFailed(s, err as Error);
    }
  }

  recordFailed(s: ActiveSession | undefined, err: Error): void {
    if (s) s.failed = true;
    this.opts.limits?.failed(err);
    this.opts.onRecordFailure?.(err);
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** End every session (reason shutdown). In-flight exchanges finish recording first, up to `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const all = await Promise.allSettled([...this.sessions.values()]);
    const deadline = Date.now() + graceMs;
    for (const r of all) {
      if (r.status !== 'fulfilled') continue;
      while (r.value.inflight > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      this.sessions.set(r.value.key, Promise.resolve(r.value));
      await this.end(r.value, 'shutdown');
    }
  }
}

/** One request/response pair being recorded. */
export class Exchange {
  private readonly started = Date.now();
  private capture: BodyCapture;
  private status = 0;
  private contentType: string | undefined;
  private contentEncoding: string | undefined;
  private bytesOut = 0;
  /** Stored bytes of this exchange's stream events or response chunks, envelope included (maxStreamBytes). */
  private streamKept = 0;
  /** Stream events or response chunks written (maxStreamEvents). */
  private streamEvents = 0;
  private streamTruncated = false;
  private finished = false;
  private streamBytesIn = 0;
  private channelBytes: Partial<Record<StreamChannel, number>> | undefined;
  private exitCode: number | undefined;
  private typedDenial: { line: string; rule: string; message: string } | undefined;
  private streamProtocol: { client: string; upstream: string } | undefined;
  /** Pattern masking of stored streams: one masker (and UTF-8 decoder) per channel or response stream. */
  private maskers = new Map<string, { masker: StreamMasker; decoder: StringDecoder; where: Where }>();
  /** exec/attach/port-forward: frames wait here when recording them one by one would outgrow what they carry (stream-pacing.ts). */
  private pacer: StreamPacer | undefined;
  private stopReason: RecordingStopped | undefined;
  /** Made when a transport asks (most exchanges never are stopped, and REST requests never ask). */
  private stopController: AbortController | undefined;
  private stopListeners: Array<(reason: RecordingStopped) => void> | undefined;
  /** Stored bytes of decoded events (record/decode/), bounded apart from the raw stream. */
  private decodedKept = 0;
  private decodeSpent = false;
  /** A stream event could not be written (failMode open goes on): the raw bytes no longer stand for decoded bodies. */
  private rawLost = false;
  /** Proxy-subresource requests: the recorded request body, for MCP derived when the exchange ends. */
  proxied: { method: string; body?: RecordedBody } | undefined;

  constructor(
    private readonly recorder: Recorder,
    private readonly session: ActiveSession,
    readonly seq: number,
    private readonly bytesIn: number,
    private readonly streaming: boolean,
    private readonly redact: boolean,
    private readonly patterns: MaskPattern[] = [],
  ) {
    this.capture = new BodyCapture(streaming ? 0 : recorder.opts.maxBodyBytes);
  }

  /** The upstream's status, 0 until response headers arrived. */
  get statusCode(): number {
    return this.status;
  }

  get sessionId(): string {
    return this.session.writer.id;
  }

  /**
   * Aborted when this exchange may forward nothing more (failMode closed):
   * one of its events could not be recorded (disk full, a store error), or a
   * recording budget is spent. `reason` is the RecordingStopped. The
   * transport stops both directions at once, tells the client why, and
   * finishes the exchange; everything recorded up to then was forwarded and
   * nothing forwarded is missing from the recording.
   */
  get stopped(): AbortSignal {
    if (!this.stopController) {
      this.stopController = new AbortController();
      if (this.stopReason) this.stopController.abort(this.stopReason);
    }
    return this.stopController.signal;
  }

  /** Why the exchange was stopped, if it was. */
  get stopError(): RecordingStopped | undefined {
    return this.stopReason;
  }

  /** Calls `fn` once when the exchange is stopped (at once if it already is). */
  onStopped(fn: (reason: RecordingStopped) => void): void {
    if (this.stopReason) {
      const r = this.stopReason;
      queueMicrotask(() => fn(r));
      return;
    }
    (this.stopListeners ??= []).push(fn);
  }

  private stop(reason: RecordingStopped): void {
    if (this.stopReason || this.finished) return;
    this.stopReason = reason;
    this.pacer?.stop();
    this.stopController?.abort(reason);
    for (const fn of this.stopListeners?.splice(0) ?? []) fn(reason);
  }

  /** An event could not be written: counted and logged; in failMode closed the exchange stops. */
  private fail(err: Error): void {
    this.recorder.recordFailed(this.session, err);
    if (this.recorder.opts.failMode === 'closed') this.stop(recordingFailed(err));
  }

  responseHead(status: number, contentType: string | undefined, contentEncoding: string | undefined): void {
    this.status = status;
    this.contentType = contentType;
    this.contentEncoding = contentEncoding;
  }

  /**
   * A piece of the response, as it passes. Returns false when it must not be
   * passed on: the exchange is stopped (its record could not be written, or
   * a budget is spent; see `stopped`), and the transport ends the response.
   */
  responseData(chunk: Buffer): boolean {
    if (this.stopReason) return false;
    this.bytesOut += chunk.length;
    if (!this.streaming) {
      this.capture.add(chunk);
      return true;
    }
    if (this.redact || this.streamTruncated) return true;
    const { room, cut } = this.limitFor(chunk.length);
    if (cut && this.stopAtLimit()) return false;
    const part = room < chunk.length ? chunk.subarray(0, room) : chunk;
    let stored = part;
    if (this.patterns.length > 0 && !this.contentEncoding) {
      stored = Buffer.from(this.maskStream('response', part));
      if (stored.length === 0 && !cut) return true;
    }
    this.appendChunk(stored, cut, false);
    // failMode open: a chunk that could not be recorded still goes on (counted and logged).
    return !this.stopReason;
  }

  /**
   * How much of `size` payload bytes the next stream event may keep under
   * maxStreamBytes (stored bytes, envelope included, data at most base64's
   * 4/3) and maxStreamEvents; `cut`: this event is the last one kept (it is
   * marked truncated).
   */
  private limitFor(size: number): { room: number; cut: boolean } {
    const o = this.recorder.opts;
    const left = o.maxStreamBytes - this.streamKept - ENVELOPE_BOUND;
    const room = left >= 4 * Math.ceil(size / 3) + 4 ? size : Math.max(0, Math.min(size - 1, Math.floor(((left - 4) * 3) / 4)));
    // failMode closed stops at the event past the cap (stopAtLimit); open keeps the one at the cap, marked as the cut.
    const last = this.streamEvents + (o.failMode === 'closed' ? 0 : 1) >= (o.maxStreamEvents ?? DEFAULT_MAX_STREAM_EVENTS);
    return { room, cut: room < size || last };
  }

  /**
   * A stream whose recording is full. failMode closed: it is stopped, not
   * cut, because a cut stream would go on forwarding bytes the recording
   * does not hold; the client hears why (507) and the response event records
   * it. failMode open: false, the stream is cut (marked truncated) and goes on.
   */
  private stopAtLimit(): boolean {
    const o = this.recorder.opts;
    if (o.failMode !== 'closed') return false;
    const max = o.maxStreamEvents ?? DEFAULT_MAX_STREAM_EVENTS;
    this.stop(
      new RecordingBudgetError(
        this.streamEvents >= max
          ? `its recording holds the ${max} events a stream may keep (recording.maxStreamEvents)`
          : `its recording reached the ${o.maxStreamBytes} bytes a stream may keep (recording.maxStreamBytes)`,
      ),
    );
    return true;
  }

  private appendChunk(stored: Buffer, cut: boolean, end: boolean): void {
    const body = encodeBytes(stored, cut, stored.length, !this.contentEncoding);
    const ev: ResponseChunkEvent = {
      type: 'response.chunk',
      session: this.sessionId,
      seq: this.seq,
      offsetMs: Date.now() - this.started,
      encoding: body.encoding,
      data: body.data,
    };
    // The response event says the stream was cut (truncated: true); a chunk carries no mark.
    if (cut) this.streamTruncated = true;
    this.streamEvents++;
    this.streamKept += Math.max(0, this.append(ev, end));
  }

  /**
   * A structural piece of an exec/attach/port-forward stream, recorded at
   * once: the status, stdin close, a port-forward connection's close or
   * error, kubetape's own message to the client. Frames held for the same
   * stream (all of them, or of this connection) are recorded and forwarded
   * first. Returns false when the exchange is stopped.
   */
  streamEvent(channel: StreamChannel, data: Buffer | string, where: Where = {}, o: { prepaid?: boolean } = {}): boolean {
    if (this.finished || this.stopReason) return false;
    this.pacer?.drain(where.connection === undefined ? undefined : (b) => b.where.connection === where.connection);
    if (this.stopReason) return false;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.count(channel, buf.length);
    const size = this.recordStream(channel, buf, where, 1, false);
    if (!o.prepaid && size > 0) this.pacer?.charge(size);
    return !this.stopReason;
  }

  /**
   * One frame of an exec/attach/port-forward stream on its way: recorded
   * (decoded, timed), then `deliver` forwards it. Frames are recorded before
   * they are forwarded, one event each while the stream's pacing allows;
   * past it they wait (a few milliseconds) and are merged into one event
   * (stream-pacing.ts). Nothing is delivered once the exchange is stopped.
   * `merge: 'last'` (resize): only the newest of frames held together is
   * sent and recorded. `reserve`: tokens paid now for events to come (a
   * port-forward connection's close and errors, paid when it opens).
   */
  relay(channel: StreamChannel, data: Buffer, deliver: () => void, where: Where = {}, o: { merge?: 'concat' | 'last'; reserve?: number } = {}): void {
    if (this.finished || this.stopReason) return;
    this.count(channel, data.length);
    if (this.streamTruncated) {
      // Nothing more is kept: what waits goes out first, then this.
      this.pacer?.drain();
      deliver();
      return;
    }
    this.pacer ??= new StreamPacer({ write: (b) => this.writeBatch(b) });
    this.pacer.offer(channel, data, deliver, where, o);
  }

  /** Records and forwards every frame held by the pacing at once (before the end of a stream). */
  drain(): void {
    this.pacer?.drain();
  }

  /** The same for one port-forward connection (before its end). */
  drainConnection(connection: number): void {
    this.pacer?.drain((b) => b.where.connection === connection);
  }

  /** Records one batch of frames, then delivers them; the stored bytes. */
  private writeBatch(b: Batch): number {
    if (this.stopReason) return 0;
    let size = 0;
    if (!this.streamTruncated) {
      const data = b.parts.length === 1 ? b.parts[0] : Buffer.concat(b.parts, b.bytes);
      size = this.recordStream(b.channel, data, b.where, b.frames, false);
      // Not recorded: stopped (failMode closed), nothing is forwarded; failMode open forwards anyway.
      if (this.stopReason) return 0;
    }
    for (const deliver of b.delivers) deliver();
    return Math.max(0, size);
  }

  private count(channel: StreamChannel, n: number): void {
    if (channel !== 'open' && channel !== 'close') {
      const counts = (this.channelBytes ??= {});
      counts[channel] = (counts[channel] ?? 0) + n;
    }
    if (INBOUND_CHANNELS.has(channel)) this.streamBytesIn += n;
    else if (OUTBOUND_CHANNELS.has(channel)) this.bytesOut += n;
  }

  /**
   * Limits, masking, encoding and the append of one stream event. Returns
   * its stored bytes (0: nothing written, as past the limit), or -1 when it
   * could not be written (the exchange is then stopped, failMode closed).
   */
  private recordStream(channel: StreamChannel, buf: Buffer, where: Where, frames: number, end: boolean): number {
    if (this.streamTruncated) return 0;
    const { room, cut } = this.limitFor(buf.length);
    if (cut && this.stopAtLimit()) return -1;
    let part = room < buf.length ? buf.subarray(0, room) : buf;
    if (this.patterns.length > 0 && MASKED_CHANNELS.has(channel) && looksLikeText(part)) {
      const key = `${channel}\0${where.connection ?? ''}`;
      part = Buffer.from(this.maskStream(key, part, where));
      if (part.length === 0 && !cut) return 0;
    }
    return this.appendStreamEvent(channel, part, cut, where, frames, end);
  }

  private appendStreamEvent(channel: StreamChannel, part: Buffer, cut: boolean, where: Where, frames: number, end: boolean): number {
    const body = streamEncoding(part, cut, looksLikeText(part));
    const ev: StreamEvent = {
      type: 'stream',
      session: this.sessionId,
      seq: this.seq,
      offsetMs: Date.now() - this.started,
      channel,
      encoding: body.encoding,
      data: body.data,
    };
    if (where.connection !== undefined) ev.connection = where.connection;
    if (where.port !== undefined) ev.port = where.port;
    if (frames > 1) ev.frames = frames;
    if (cut) {
      ev.truncated = true;
      this.streamTruncated = true;
    }
    this.streamEvents++;
    const size = this.append(ev, end);
    if (size < 0) this.rawLost = true;
    this.streamKept += Math.max(0, size);
    return size;
  }

  /** Masks one piece of a stored stream; text held back to catch credentials split across pieces comes out later. */
  private maskStream(key: string, part: Buffer, where: Where = {}): string {
    let m = this.maskers.get(key);
    if (!m) this.maskers.set(key, (m = { masker: new StreamMasker(this.patterns), decoder: new StringDecoder('utf8'), where }));
    return m.masker.push(m.decoder.write(part));
  }

  /** Stores what the maskers still hold, at the end of the exchange. */
  private flushMaskers(): void {
    for (const [key, m] of this.maskers) {
      const rest = Buffer.from(m.masker.flush() + m.decoder.end());
      if (rest.length === 0 || this.streamTruncated) continue;
      if (key === 'response') this.appendChunk(rest, false, true);
      else this.appendStreamEvent(key.split('\0')[0] as StreamChannel, rest, false, m.where, 1, true);
    }
    this.maskers.clear();
  }

  /**
   * Port-forward: a tap that decodes the forwarded bytes (HTTP, WebSocket,
   * MCP) into extra events beside the raw ones (record/decode/), off the
   * forwarding path. undefined when decoding is off.
   */
  decodeTap(): PortForwardTap | undefined {
    if (this.recorder.opts.decodePortForwards === false) return undefined;
    return new PortForwardTap({
      maxBodyBytes: this.recorder.opts.maxBodyBytes,
      patterns: this.patterns,
      sink: (ev) => this.decoded(ev),
      // Raw bytes stored as forwarded (nothing masked, cut or lost so far): decoded bodies may refer to them (RecordedBody.ref).
      refs: () => this.patterns.length === 0 && !this.streamTruncated && !this.rawLost,
    });
  }

  /**
   * One decoded event (never durable-awaited: the raw bytes are the
   * evidence). Bounded apart from the raw stream: decoded events may take
   * what the stream carried plus DECODE_ALLOWANCE, and maxStreamBytes; past
   * either decoding stops, noted once. False: take no more.
   */
  decoded(u: UnplacedEvent): boolean {
    if (this.finished || this.stopReason || this.decodeSpent) return false;
    const ev = placeDecoded(u, this.sessionId, this.seq, this.started);
    const size = decodedSize(ev);
    const bound = Math.min(this.recorder.opts.maxStreamBytes, DECODE_ALLOWANCE + this.streamBytesIn + this.bytesOut);
    if (this.decodedKept + size > bound) {
      this.decodeSpent = true;
      this.append(placeDecoded(decodeSpentNote(u), this.sessionId, this.seq, this.started), false);
      return false;
    }
    countEvent(this.session.counts, ev);
    const written = this.append(ev, false);
    if (written < 0) return false;
    this.decodedKept += written;
    return true;
  }

  /** exec/attach: the command's exit code, recorded with the response. */
  setExitCode(code: number): void {
    this.exitCode = code;
  }

  /** exec -it: a typed line refused by policy, recorded with the response. */
  setTypedDenial(d: { line: string; rule: string; message: string }): void {
    this.typedDenial = d;
  }

  /** exec/attach/port-forward: which protocols were spoken on each side. */
  setStreamProtocol(client: string, upstream: string): void {
    this.streamProtocol = { client, upstream };
  }

  /**
   * The exchange is over: the response ended, or `error` says why it did not
   * (a stopped exchange records why it was stopped). Frames still held were
   * never forwarded and are dropped.
   */
  /**
   * `endedBy: 'client'`: the client closed the connection before the exchange
   * was over (Ctrl-C on a watch or logs -f, kubectl cp done reading): what the
   * user chose to end is recorded with its reason but not counted as an error.
   */
  finish(error?: string, status?: number, endedBy?: 'client'): void {
    if (this.finished) return;
    this.pacer?.stop();
    if (!this.stopReason) this.flushMaskers();
    this.finished = true;
    if (status !== undefined) this.status = status;
    const ev: ResponseEvent = {
      type: 'response',
      session: this.sessionId,
      seq: this.seq,
      time: new Date().toISOString(),
      status: this.status,
      durationMs: Date.now() - this.started,
      bytesIn: this.bytesIn + this.streamBytesIn,
      bytesOut: this.bytesOut,
    };
    if (this.contentType) ev.contentType = this.contentType;
    if (this.exitCode !== undefined) ev.exitCode = this.exitCode;
    if (this.typedDenial) ev.typed = this.typedDenial;
    if (this.channelBytes) ev.streamBytes = this.channelBytes;
    if (this.streamProtocol) ev.streamProtocol = this.streamProtocol;
    if (!this.streaming && this.capture.size > 0) {
      ev.body = maskRecordedBody(
        this.capture.toRecorded({ contentType: this.contentType, contentEncoding: this.contentEncoding, redact: this.redact }),
        this.patterns,
      );
    }
    if (this.streaming && this.redact && this.bytesOut > 0) {
      ev.body = { encoding: 'utf8', data: '', size: this.bytesOut, truncated: false, redacted: 'secret' };
    }
    if (this.streamTruncated) ev.truncated = true;
    const why = error ?? (this.stopReason ? `kubetape stopped it: ${this.stopReason.message}` : undefined);
    if (why) ev.error = why;
    if (endedBy && !this.stopReason) ev.endedBy = endedBy;
    if (this.proxied && !this.streaming) {
      for (const m of proxyMcpEvents(this.proxied, ev.body, {
        session: this.sessionId,
        seq: this.seq,
        offsetMs: ev.durationMs,
        limit: this.recorder.opts.maxBodyBytes,
        patterns: this.patterns,
      })) {
        countEvent(this.session.counts, m);
        this.append(m, true);
      }
    }
    countEvent(this.session.counts, ev);
    this.append(ev, true);
    this.recorder.done(this.session);
  }

  /** The request was refused before forwarding; release the session slot. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.pacer?.stop();
    this.recorder.done(this.session);
  }

  /**
   * Writes one event now (durability is batched by the store) and returns
   * the bytes it took, or -1 when it was not written: the write failed (the
   * exchange is stopped in failMode closed) or, for anything but an end, a
   * budget is spent (stopped too). Ends (the response, what maskers held)
   * are always attempted: the reserve is there for them.
   */
  private append(ev: RecordEvent, end: boolean): number {
    const limits = this.recorder.opts.limits;
    if (!end && limits) {
      const over = limits.streamProblem(this.session.user);
      if (over) {
        this.recorder.recordFailed(this.session, over);
        this.stop(over);
        return -1;
      }
    }
    const writer = this.session.writer;
    let durable: Promise<void>;
    try {
      durable = writer.append(ev);
    } catch (err) {
      this.fail(err as Error);
      return -1;
    }
    const size = (writer as MeasuredWriter).lastAppendBytes ?? estimatedSize(ev);
    limits?.charge(this.session.user, size);
    // A failure to make it durable later is reported, and stops the exchange if it still runs.
    durable.catch((err: Error) => this.fail(err));
    return size;
  }
}

/**
 * Streams whose stored text is pattern-masked. exec stdin is kept as typed
 * (the caller's own input); a port-forward's `in` is not typed but sent by
 * programs, HTTP clients with their Authorization headers among them.
 */
const MASKED_CHANNELS = new Set<StreamChannel>(['stdout', 'stderr', 'out', 'in']);

/**
 * Pattern-masks a recorded body. A compressed body is decoded first (and
 * stored decoded): masking must never be skipped because the wire was gzip.
 */
function maskRecordedBody(b: RecordedBody, patterns: MaskPattern[]): RecordedBody {
  if (patterns.length === 0 || b.redacted) return b;
  let text: string | undefined;
  if (b.contentEncoding === 'gzip') {
    try {
      const raw = gunzipSync(Buffer.from(b.data, 'base64'), { finishFlush: 2 /* Z_SYNC_FLUSH: a cut body still decodes */ });
      text = raw.toString('utf8');
      delete b.contentEncoding;
    } catch {
      return { ...b, encoding: 'utf8', data: '', redacted: 'unmaskable' };
    }
  } else if (b.encoding === 'utf8') text = b.data;
  if (text === undefined) return b;
  return { ...b, encoding: 'utf8', data: maskPatterns(text, patterns) };
}

/** Channels whose bytes came from the client (bytesIn) and from the cluster (bytesOut). */
const INBOUND_CHANNELS = new Set<StreamChannel>(['stdin', 'resize', 'in']);
const OUTBOUND_CHANNELS = new Set<StreamChannel>(['stdout', 'stderr', 'status', 'out', 'error']);
