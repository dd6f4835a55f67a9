// The recording model: what kubetape keeps about every session, request and
// stream. These shapes are the contract between the recorder (which produces
// them on the data path) and every store (local files today, DynamoDB + S3
// later), and they are what `sessions show --json` prints. Add fields; never
// change the meaning of one.
import type { UpstreamPrincipal } from './identity.js';
import type { RequestAttributes } from './request-attributes.js';

/** A body as recorded: text when it is UTF-8, base64 otherwise. */
export interface RecordedBody {
  encoding: 'utf8' | 'base64';
  data: string;
  /** Bytes seen on the wire (before any cut). */
  size: number;
  /** True when `data` holds only the first part of the body. */
  truncated: boolean;
  contentType?: string;
  /** Set when the recorded bytes are compressed as they were on the wire (decoded when read). */
  contentEncoding?: string;
  /** Set when the body was not stored in clear; `data` is then empty. secret: a Secret's body; unmaskable: guardrail patterns could not be applied (e.g. a body that would not decompress). */
  redacted?: 'secret' | 'unmaskable';
}

export interface SessionStartEvent {
  type: 'session.start';
  session: string;
  time: string;
  user: string;
  uid?: string;
  groups: string[];
  authMethod: string;
  /** OIDC callers: the token's issuer and subject. */
  issuer?: string;
  subject?: string;
  cluster: string;
  /** Multi-cluster configurations: who the cluster saw for this caller. */
  upstream?: UpstreamPrincipal;
  source: string;
  userAgent?: string;
  /** kubectl's `Kubectl-Command` header, e.g. "kubectl get". */
  command?: string;
  /** kubectl's `Kubectl-Session` header, when present. */
  clientSession?: string;
}

export interface RequestEvent {
  type: 'request';
  session: string;
  /** Request number within the session, from 1. */
  seq: number;
  time: string;
  method: string;
  /** Path and query, exactly as the client sent them. */
  uri: string;
  attrs: RequestAttributes;
  /** Headers worth keeping (content type, accept, user agent, kubectl's); never credentials. */
  headers: Record<string, string>;
  body?: RecordedBody;
  /** Watch and follow requests stream their responses as response.chunk events. */
  streaming: boolean;
  /** exec and attach: what was asked for, parsed from the query before anything was forwarded. */
  exec?: ExecRequest;
  /** port-forward: the ports named in the query. */
  portForward?: PortForwardRequest;
  /** The caller sent Impersonate-*: who they are and whom they asked to act as (a 403/503 response means it was not forwarded). */
  impersonation?: RecordedImpersonation;
  /** Guardrails: the policy rule that decided this request (absent when no rule matched). deny and require-approval mean it was not forwarded. */
  policy?: PolicyRecord;
}

/** A guardrail decision as recorded: the action and the rule (its name, and its 1-based position in the policy file). */
export interface PolicyRecord {
  action: 'deny' | 'allow' | 'mask' | 'require-approval';
  rule: string;
  index: number;
  /** require-approval: the approval id it was refused under, or the grant that let it through. */
  approval?: { id: string; grant?: string };
  /**
   * Present when a rule matching on labels was reached: the target's labels
   * the decision used ('unknown' when a side could not be known), the
   * collection request's own selector, or why the labels could not be read.
   */
  labels?: {
    current?: Record<string, string> | 'unknown';
    new?: Record<string, string> | 'unknown';
    selector?: string;
    error?: string;
  };
}

/** A caller's request to act as someone else (kubectl --as / --as-group). */
export interface RecordedImpersonation {
  /** The caller as the cluster would otherwise see them (with system:authenticated on impersonation clusters). */
  caller: { user: string; groups: string[] };
  /** The identity they asked for, sent upstream as Impersonate-* when the cluster allowed it. */
  as: { user: string; groups: string[]; uid?: string; extra?: Record<string, string[]> };
}

/** An exec or attach as the API server reads it from the query (PodExecOptions / PodAttachOptions). */
export interface ExecRequest {
  /** The command and its arguments (repeated `command=`); empty for attach. */
  command: string[];
  /** Absent when the client left the choice to the server (the pod's only or default container). */
  container?: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  /** Always false with tty: a terminal has no separate stderr. */
  stderr: boolean;
}

export interface PortForwardRequest {
  /**
   * Ports named in the query (`ports=`). WebSocket clients must name them;
   * SPDY clients (kubectl) name the port per connection instead, so this may
   * be empty and the `open` stream events carry the ports.
   */
  ports: number[];
}

/**
 * The channels of an exec/attach/port-forward recording.
 * exec and attach: stdin, stdout, stderr; resize (the terminal size as the
 * wire's JSON, {"Width":W,"Height":H}); status (the error channel as the
 * upstream sent it: a Status JSON on v4/v5, a plain message before);
 * close (data names the channel the client closed, e.g. "stdin" for EOF).
 * port-forward, per connection: open, in (client to pod), out (pod to
 * client), error (the error stream's text), close.
 */
export type StreamChannel = 'stdin' | 'stdout' | 'stderr' | 'resize' | 'status' | 'close' | 'open' | 'in' | 'out' | 'error';

/** One decoded piece of an exec/attach/port-forward stream, as it was forwarded. */
export interface StreamEvent {
  type: 'stream';
  session: string;
  seq: number;
  /** Milliseconds since the request started. */
  offsetMs: number;
  channel: StreamChannel;
  /** port-forward: the connection within this exchange (1, 2, ...). */
  connection?: number;
  /** port-forward: the pod port of that connection. */
  port?: number;
  encoding: 'utf8' | 'base64';
  data: string;
  /** True on the event cut at the recording limit; nothing of the stream is kept after it. */
  truncated?: boolean;
  /** How many frames this event holds when frames sent in a burst were recorded together (absent: one). */
  frames?: number;
}

/** A piece of a streaming response (watch events, log lines) recorded as it flowed. */
export interface ResponseChunkEvent {
  type: 'response.chunk';
  session: string;
  seq: number;
  /** Milliseconds since the request started. */
  offsetMs: number;
  encoding: 'utf8' | 'base64';
  data: string;
}

export interface ResponseEvent {
  type: 'response';
  session: string;
  seq: number;
  time: string;
  status: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  contentType?: string;
  /** The whole body for ordinary responses; absent for streams (see response.chunk). */
  body?: RecordedBody;
  /** For streams: true when chunks stopped being recorded at the size limit. */
  truncated?: boolean;
  /** Why the exchange failed, when kubetape (not the cluster) ended it; or, with `endedBy`, how the client ended it. */
  error?: string;
  /**
   * 'client': the client closed the connection before the exchange was over,
   * as a person ends `get -w` or `logs -f` with Ctrl-C, or kubectl cp closes
   * once it has read the whole tar stream. The exchange ended; it did not
   * fail, and is not counted in `errors` (unless the cluster answered with
   * an error status).
   */
  endedBy?: 'client';
  /** exec/attach: the command's exit code, when the protocols carried it (0 on success). */
  exitCode?: number;
  /** exec -it: the typed line a policy rule refused (the session was closed on it). */
  typed?: { line: string; rule: string; message: string };
  /** exec/attach/port-forward: bytes forwarded per channel, including any beyond the recording limit. */
  streamBytes?: Partial<Record<StreamChannel, number>>;
  /** exec/attach/port-forward: the protocol spoken with the client and with the cluster, e.g. "websocket v5.channel.k8s.io". */
  streamProtocol?: { client: string; upstream: string };
}

export interface SessionEndEvent {
  type: 'session.end';
  session: string;
  time: string;
  reason: 'idle' | 'connection-closed' | 'shutdown';
  summary: SessionSummaryCounts;
}

export interface SessionSummaryCounts {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  verbs: string[];
  namespaces: string[];
  resources: string[];
  errors: number;
  /** Guardrail decisions; absent when no policy rule decided anything (and in sessions recorded before it was kept). */
  guardrails?: GuardrailCounts;
}

/**
 * What the guardrails did in a session, kept with its summary so `sessions
 * list` can find refusals and grant uses without reading any event.
 */
export interface GuardrailCounts {
  /** Requests refused by a deny rule. */
  denied: number;
  /** Requests refused by a require-approval rule (no grant covered them). */
  approvalRefused: number;
  /** Requests a mask rule decided (Secret values masked for the caller). */
  masked: number;
  /** Requests an allow rule decided. */
  allowed: number;
  /** Requests that went through on an approval grant. */
  granted: number;
  /** exec -it: typed lines a rule refused (the request itself was allowed; the shell was closed). */
  typedRefused: number;
  /** Rules that refused something (requests or typed lines), first seen first. */
  refusedBy: string[];
  /** Every rule that decided something in the session, refusing or not. */
  rules: string[];
}

export function emptyGuardrails(): GuardrailCounts {
  return { denied: 0, approvalRefused: 0, masked: 0, allowed: 0, granted: 0, typedRefused: 0, refusedBy: [], rules: [] };
}

/** Refusals of every kind: denied, refused for want of approval, typed lines refused. */
export function refusedCount(g: GuardrailCounts | undefined): number {
  return g ? g.denied + g.approvalRefused + g.typedRefused : 0;
}

export type RecordEvent = SessionStartEvent | RequestEvent | ResponseChunkEvent | StreamEvent | ResponseEvent | SessionEndEvent;

/** One line of `sessions list`. */
export interface SessionSummary extends SessionSummaryCounts {
  id: string;
  user: string;
  groups: string[];
  cluster: string;
  source: string;
  command?: string;
  userAgent?: string;
  startedAt: string;
  endedAt?: string;
  /** live: still open; ended: closed normally; interrupted: kubetape stopped without closing it. */
  state: 'live' | 'ended' | 'interrupted';
}

export function emptyCounts(): SessionSummaryCounts {
  return { requests: 0, bytesIn: 0, bytesOut: 0, verbs: [], namespaces: [], resources: [], errors: 0 };
}

/** Fold one event into running counts (used by the recorder and by readers of unfinished sessions). */
export function countEvent(c: SessionSummaryCounts, ev: RecordEvent): void {
  if (ev.type === 'request') {
    c.requests++;
    addUnique(c.verbs, ev.attrs.verb);
    if (ev.attrs.namespace) addUnique(c.namespaces, ev.attrs.namespace);
    if (ev.attrs.resource) addUnique(c.resources, ev.attrs.subresource ? `${ev.attrs.resource}/${ev.attrs.subresource}` : ev.attrs.resource);
    if (ev.policy) countDecision(c, ev.policy);
  } else if (ev.type === 'response') {
    c.bytesIn += ev.bytesIn;
    c.bytesOut += ev.bytesOut;
    if (failed(ev)) c.errors++;
    if (ev.typed) {
      const g = (c.guardrails ??= emptyGuardrails());
      g.typedRefused++;
      addUnique(g.refusedBy, ev.typed.rule);
      addUnique(g.rules, ev.typed.rule);
    }
  }
}

/**
 * Whether a response counts as an error: an error status, or kubetape ended it
 * with an error. An exchange the client ended counts only if the cluster had
 * answered with an error status (499, "the client left before the answer",
 * is kubetape's own code for that end, not an answer).
 */
function failed(ev: ResponseEvent): boolean {
  if (ev.endedBy === 'client') return ev.status >= 400 && ev.status !== 499;
  return ev.status >= 400 || !!ev.error;
}

/** A request's policy decision into the guardrail counts; require-approval with a grant went through, without one it was refused. */
function countDecision(c: SessionSummaryCounts, p: PolicyRecord): void {
  const g = (c.guardrails ??= emptyGuardrails());
  addUnique(g.rules, p.rule);
  if (p.action === 'deny') g.denied++;
  else if (p.action === 'mask') g.masked++;
  else if (p.action === 'allow') g.allowed++;
  else if (p.approval?.grant) g.granted++;
  else g.approvalRefused++;
  if (p.action === 'deny' || (p.action === 'require-approval' && !p.approval?.grant)) addUnique(g.refusedBy, p.rule);
}

function addUnique(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}
