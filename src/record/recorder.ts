// The recorder turns traffic into the events of model.ts and hands them to
// the store. It owns session boundaries: one kubectl invocation (its
// Kubectl-Session header, scoped to the authenticated user so nobody can
// write into another person's session) or, for other clients, one
// connection. A session ends after it has been idle for `idleMs` with no
// request in flight.
import type { Socket } from 'node:net';
import {
  countEvent,
  emptyCounts,
  type ExecRequest,
  type PortForwardRequest,
  type PolicyRecord,
  type RecordedBody,
  type RecordedImpersonation,
  type RequestEvent,
  type SessionStartEvent,
  type SessionSummaryCounts,
  type StreamChannel,
  type StreamEvent,
} from '../model/recording.js';
import type { Identity, UpstreamPrincipal } from '../model/identity.js';
import type { RequestAttributes } from '../model/request-attributes.js';
import { StringDecoder } from 'node:string_decoder';
import { gunzipSync } from 'node:zlib';
import { BodyCapture, encodeBytes } from './body-capture.js';
import { maskPatterns, StreamMasker, type MaskPattern } from '../mask/patterns.js';
// A stream of NULs is valid UTF-8 too, but JSON would spell every byte as "\u0000": such chunks are stored as base64.
import { looksLikeText } from './looks-like-text.js';
import { isSecret } from '../model/request-attributes.js';
import type { RecordingStore, SessionWriter } from '../store/store.js';
import { newSessionId } from '../store/store.js';

export interface RecorderOptions {
  cluster: string;
  /** Bytes of each request and response body kept; the rest is counted and marked truncated. */
  maxBodyBytes: number;
  /** Bytes of each streaming response (watch, logs -f) kept. */
  maxStreamBytes: number;
  idleMs: number;
  /** 'closed': a request whose record cannot be made durable is refused. 'open': it goes through and the failure is reported. */
  failMode: 'closed' | 'open';
  onRecordFailure?: (err: Error) => void;
  /** Who the cluster will see for a caller (its IAM role session, or whom kubetape impersonates), for session.start. */
  principal?: (identity: Identity) => UpstreamPrincipal | undefined;
  /** Credential patterns masked in everything stored (the policy's, read at each exchange's start so reloads apply). */
  patterns?: () => MaskPattern[];
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
}

/** Headers worth keeping with a request; credentials never are. */
export const RECORDED_HEADERS = ['accept', 'content-type', 'content-encoding', 'content-length', 'user-agent', 'kubectl-command', 'kubectl-session'];

interface ActiveSession {
  writer: SessionWriter;
  seq: number;
  inflight: number;
  counts: SessionSummaryCounts;
  timer?: NodeJS.Timeout;
  key: string;
  failed: boolean;
}

export class Recorder {
  private sessions = new Map<string, Promise<ActiveSession>>();
  private connIds = new WeakMap<Socket, number>();
  private nextConn = 1;
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
    const redact = isSecret(x.attrs);
    const patterns = this.opts.patterns?.() ?? [];
    if (x.body && x.body.length > 0) {
      const cap = new BodyCapture(this.opts.maxBodyBytes);
      cap.add(x.body);
      ev.body = maskRecordedBody(cap.toRecorded({ contentType: x.headers['content-type'], contentEncoding: x.headers['content-encoding'], redact }), patterns);
    }
    countEvent(session.counts, ev);
    const ex = new Exchange(this, session, seq, x.body?.length ?? 0, x.streaming, redact, patterns);
    try {
      await session.writer.append(ev, { durable: true });
    } catch (err) {
      this.recordFailed(session, err as Error);
      if (this.opts.failMode === 'closed') {
        ex.abandon();
        throw err;
      }
    }
    return ex;
  }

  private sessionKey(x: ExchangeStart): string {
    if (x.clientSession) return `k\0${x.identity.user}\0${x.identity.issuer ?? ''}\0${x.clientSession}`;
    let id = this.connIds.get(x.socket);
    if (id === undefined) {
      id = this.nextConn++;
      this.connIds.set(x.socket, id);
      const key = `c\0${id}`;
      // A connection-scoped session ends with its connection.
      x.socket.once('close', () => this.connectionClosed(key));
    }
    return `c\0${id}`;
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
      const principal = this.opts.principal?.(x.identity);
      if (principal) start.upstream = principal;
      if (x.userAgent) start.userAgent = x.userAgent;
      if (x.command) start.command = x.command;
      if (x.clientSession) start.clientSession = x.clientSession;
      p = this.store.openSession(start).then(
        (writer): ActiveSession => ({ writer, seq: 0, inflight: 0, counts: emptyCounts(), key, failed: false }),
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
    if (s.inflight === 0 && !s.key.startsWith('c\0') && !this.closing) {
      s.timer = setTimeout(() => void this.end(s, 'idle'), this.opts.idleMs);
      s.timer.unref();
    }
  }

  private connectionClosed(key: string): void {
    const p = this.sessions.get(key);
    if (!p) return;
    p.then((s) => {
      // Wait for in-flight exchanges on this connection to finish first.
      if (s.inflight === 0) void this.end(s, 'connection-closed');
      else s.key = `k\0closed\0${key}`; // becomes idle-ended instead
    }, () => undefined);
  }

  private async end(s: ActiveSession, reason: 'idle' | 'connection-closed' | 'shutdown'): Promise<void> {
    if (this.sessions.get(s.key) === undefined) return;
    this.sessions.delete(s.key);
    if (s.timer) clearTimeout(s.timer);
    try {
      await s.writer.close({ type: 'session.end', session: s.writer.id, time: new Date().toISOString(), reason, summary: s.counts });
    } catch (err) {
      this.recordFailed(s, err as Error);
    }
  }

  recordFailed(s: ActiveSession | undefined, err: Error): void {
    if (s) s.failed = true;
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
  private streamKept = 0;
  private streamTruncated = false;
  private finished = false;
  private streamBytesIn = 0;
  private channelBytes: Partial<Record<StreamChannel, number>> | undefined;
  private exitCode: number | undefined;
  private typedDenial: { line: string; rule: string; message: string } | undefined;
  private streamProtocol: { client: string; upstream: string } | undefined;
  /** Pattern masking of stored streams: one masker (and UTF-8 decoder) per channel or response stream. */
  private maskers = new Map<string, { masker: StreamMasker; decoder: StringDecoder; where: { connection?: number; port?: number } }>();

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

  responseHead(status: number, contentType: string | undefined, contentEncoding: string | undefined): void {
    this.status = status;
    this.contentType = contentType;
    this.contentEncoding = contentEncoding;
  }

  responseData(chunk: Buffer): void {
    this.bytesOut += chunk.length;
    if (!this.streaming) {
      this.capture.add(chunk);
      return;
    }
    if (this.redact) return;
    const room = this.recorder.opts.maxStreamBytes - this.streamKept;
    if (room <= 0) {
      this.streamTruncated = true;
      return;
    }
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (part.length < chunk.length) this.streamTruncated = true;
    this.streamKept += part.length;
    let stored = part;
    if (this.patterns.length > 0 && !this.contentEncoding) {
      stored = Buffer.from(this.maskStream('response', part));
      if (stored.length === 0) return;
    }
    this.appendChunk(stored);
  }

  private appendChunk(stored: Buffer): void {
    const body = encodeBytes(stored, false, stored.length, !this.contentEncoding);
    this.append({
      type: 'response.chunk',
      session: this.sessionId,
      seq: this.seq,
      offsetMs: Date.now() - this.started,
      encoding: body.encoding,
      data: body.data,
    });
  }

  /**
   * One decoded piece of an exec/attach/port-forward stream, recorded as it
   * is forwarded (written without waiting, like response chunks). Every byte
   * is counted; bytes beyond `maxStreamBytes` (per exchange) are not kept,
   * and the event that reaches the limit is marked truncated.
   */
  streamEvent(channel: StreamChannel, data: Buffer | string, where: { connection?: number; port?: number } = {}): void {
    if (this.finished) return;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (channel !== 'open' && channel !== 'close') {
      const counts = (this.channelBytes ??= {});
      counts[channel] = (counts[channel] ?? 0) + buf.length;
    }
    if (INBOUND_CHANNELS.has(channel)) this.streamBytesIn += buf.length;
    else if (OUTBOUND_CHANNELS.has(channel)) this.bytesOut += buf.length;
    if (this.streamTruncated) return;
    const room = this.recorder.opts.maxStreamBytes - this.streamKept;
    const cut = buf.length > room;
    let part = cut ? buf.subarray(0, Math.max(0, room)) : buf;
    this.streamKept += part.length;
    if (this.patterns.length > 0 && MASKED_CHANNELS.has(channel) && looksLikeText(part)) {
      const key = `${channel}\0${where.connection ?? ''}`;
      part = Buffer.from(this.maskStream(key, part, where));
      if (part.length === 0 && !cut) return;
    }
    this.appendStreamEvent(channel, part, cut, buf.length, where);
  }

  private appendStreamEvent(channel: StreamChannel, part: Buffer, cut: boolean, size: number, where: { connection?: number; port?: number }): void {
    const body = encodeBytes(part, cut, size, looksLikeText(part));
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
    if (cut) {
      ev.truncated = true;
      this.streamTruncated = true;
    }
    this.append(ev);
  }

  /** Masks one piece of a stored stream; text held back to catch credentials split across pieces comes out later. */
  private maskStream(key: string, part: Buffer, where: { connection?: number; port?: number } = {}): string {
    let m = this.maskers.get(key);
    if (!m) this.maskers.set(key, (m = { masker: new StreamMasker(this.patterns), decoder: new StringDecoder('utf8'), where }));
    return m.masker.push(m.decoder.write(part));
  }

  /** Stores what the maskers still hold, at the end of the exchange. */
  private flushMaskers(): void {
    for (const [key, m] of this.maskers) {
      const rest = Buffer.from(m.masker.flush() + m.decoder.end());
      if (rest.length === 0) continue;
      if (key === 'response') this.appendChunk(rest);
      else this.appendStreamEvent(key.split('\0')[0] as StreamChannel, rest, false, rest.length, m.where);
    }
    this.maskers.clear();
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

  /** The exchange is over: the response ended, or `error` says why it did not. */
  finish(error?: string, status?: number): void {
    if (this.finished) return;
    this.flushMaskers();
    this.finished = true;
    if (status !== undefined) this.status = status;
    const ev: import('../model/recording.js').ResponseEvent = {
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
      ev.body = maskRecordedBody(this.capture.toRecorded({ contentType: this.contentType, contentEncoding: this.contentEncoding, redact: this.redact }), this.patterns);
    }
    if (this.streaming && this.redact && this.bytesOut > 0) {
      ev.body = { encoding: 'utf8', data: '', size: this.bytesOut, truncated: false, redacted: 'secret' };
    }
    if (this.streamTruncated) ev.truncated = true;
    if (error) ev.error = error;
    countEvent(this.session.counts, ev);
    this.append(ev);
    this.recorder.done(this.session);
  }

  /** The request was refused before forwarding; release the session slot. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.recorder.done(this.session);
  }

  private append(ev: import('../model/recording.js').RecordEvent): void {
    // Responses are recorded as they pass; durability is batched by the store
    // and failures are reported, never allowed to stall the stream.
    this.session.writer.append(ev).catch((err) => this.recorder.recordFailed(this.session, err as Error));
  }
}

/** Output whose stored text is pattern-masked (stdin is kept as typed: it is the caller's own input). */
const MASKED_CHANNELS = new Set<StreamChannel>(['stdout', 'stderr', 'out']);

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
