// The recording model: what kubetape keeps about every session, request and
// stream. These shapes are the contract between the recorder (which produces
// them on the data path) and every store (local files today, DynamoDB + S3
// later), and they are what `sessions show --json` prints. Add fields; never
// change the meaning of one.
import type { UpstreamPrincipal } from './identity.js';
import type { RequestAttributes } from './request-attributes.js';
import type { TraceContext } from './trace-context.js';

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
  /**
   * Port-forward decoded bodies whose wire bytes are the body (no chunked
   * framing, no content coding, no masking): not copied, but `length` bytes
   * from `offset` of this exchange's raw stream events of that connection and
   * channel (`data` is empty until resolved when read: record/decode/body-refs.ts).
   * The raw events stay the evidence, covered by the chain.
   */
  ref?: BodyRef;
}

/** Where a decoded body lies in a port-forward's raw bytes: offset counted from the connection's first byte in that direction. */
export interface BodyRef {
  connection: number;
  channel: 'in' | 'out';
  offset: number;
  length: number;
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
  /** 'machine' for agents (absent: a person); see Identity. */
  kind?: 'person' | 'machine';
  /** An agent's name, who it acted for, and the delegation chain as its token stated it. */
  agent?: string;
  actingFor?: string;
  delegation?: string[];
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
  /** W3C trace context the client sent (headers, or carried by `kubetape credential` from its environment): the tool call this request belongs to. */
  trace?: TraceContext;
  /** The name the client gave itself (e.g. an MCP server's "mcp-server-kubernetes/4.1.7"). */
  client?: string;
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
  /** MCP messages seen in the session's port-forwards and proxy requests; absent when none. */
  mcp?: McpCounts;
  /** Trace ids of the session's requests, first seen first, at most MAX_SESSION_TRACES (absent: none sent). */
  traces?: string[];
  /** Request paths (no query), first seen first, at most MAX_SUMMARY_TEXTS, discovery left out: what the console's free text searches. */
  paths?: string[];
  /** exec/attach commands (arguments joined by spaces), first seen first, at most MAX_SUMMARY_TEXTS. */
  execCommands?: string[];
  /** Reads of recordings through kubetape's sessions API (/kubetape/v1/sessions..., /accesses) in this session: accesses. */
  reads?: number;
}

/** Trace ids kept in a session's summary (a session of one kubectl run has one; a long script may have many). */
export const MAX_SESSION_TRACES = 100;

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

/** A header as decoded from a port-forward connection; credential values (Authorization, Cookie, ...) are never stored in clear. */
export type DecodedHeader = [name: string, value: string];

/** One side of an HTTP/1.x exchange decoded from a port-forward connection. */
export interface DecodedHttpMessage {
  headers: DecodedHeader[];
  /** The body after chunked framing and gzip/deflate are undone (up to recording.maxBodyBytes, pattern-masked); absent when empty. */
  body?: RecordedBody;
  /** The body's content coding on the wire (gzip, deflate) when it was undone for the record. */
  decodedFrom?: string;
}

/**
 * An HTTP/1.x request and its response, decoded beside the raw bytes of a
 * port-forward connection (which stay the evidence). Written once the
 * response is complete, or when the connection ends without it.
 */
export interface HttpExchangeEvent {
  type: 'http.exchange';
  session: string;
  seq: number;
  /** Milliseconds since the port-forward started, when the request began. */
  offsetMs: number;
  connection: number;
  port?: number;
  /** The exchange's place on its connection (1, 2, ...; pipelined requests keep their order). */
  index: number;
  request: DecodedHttpMessage & { method: string; target: string; version: string };
  response?: DecodedHttpMessage & { status: number; reason: string; version: string };
  /** From the request's start to the response's end. */
  durationMs?: number;
  /** The connection switched protocols here (e.g. websocket; its frames follow as ws.frame events). */
  upgrade?: string;
  /** Server-Sent Events counted in the response. */
  sseEvents?: number;
  /** Which side was cut off: the connection ended before this part was complete. */
  incomplete?: 'request' | 'response';
}

/** One WebSocket frame decoded from a port-forward connection after an HTTP upgrade. */
export interface WebSocketFrameEvent {
  type: 'ws.frame';
  session: string;
  seq: number;
  offsetMs: number;
  connection: number;
  /** in: client to pod; out: pod to client. */
  direction: 'in' | 'out';
  opcode: number;
  fin: boolean;
  /** The unmasked payload (pattern-masked when text), up to recording.maxBodyBytes. */
  payload: RecordedBody;
  /** permessage-deflate: the payload is stored compressed, as sent. */
  compressed?: boolean;
}

/**
 * What the decoder made of a port-forward connection: its protocol, or why
 * it gave up (the connection's raw bytes are the record either way).
 */
export interface DecodeNoteEvent {
  type: 'decode.note';
  session: string;
  seq: number;
  offsetMs: number;
  connection: number;
  /** http: decoded; tls: encrypted, opaque; binary / text: not HTTP, left raw; error: the decoder failed and left the rest raw. */
  protocol: 'http' | 'tls' | 'binary' | 'text' | 'error';
  note?: string;
}

/**
 * One MCP (JSON-RPC 2.0) message recognised in decoded HTTP: POST bodies and
 * JSON or Server-Sent Events responses (streamable HTTP, and the older SSE
 * transport), in port-forward connections and proxy-subresource requests.
 * A response is linked to its request by id (method and tool repeated).
 */
export interface McpMessageEvent {
  type: 'mcp.message';
  session: string;
  seq: number;
  offsetMs: number;
  /** port-forward: the connection and the HTTP exchange on it that carried the message. */
  connection?: number;
  exchange?: number;
  from: 'client' | 'server';
  kind: 'request' | 'response' | 'notification';
  id?: string | number;
  /** The request's method (for a response, the method of the request it answers, when seen). */
  method?: string;
  /** tools/call: the tool's name (on the response too). */
  tool?: string;
  /** tools/call arguments, or other request params (pattern-masked; a string when cut at recording.maxBodyBytes). */
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
  /** tools/call result with isError: the tool failed. */
  isError?: boolean;
  /** initialize: the client's and the server's names and versions. */
  clientInfo?: { name: string; version?: string };
  serverInfo?: { name: string; version?: string };
  protocolVersion?: string;
  /** The Mcp-Session-Id header, when the transport used one. */
  mcpSession?: string;
  truncated?: boolean;
}

/** MCP in a session: kept with its summary so `sessions list --mcp` and `--tool` never read events. */
export interface McpCounts {
  messages: number;
  /** tools/call requests. */
  calls: number;
  /** Responses carrying a JSON-RPC error or a tool result with isError. */
  errors: number;
  /** Tools called, first seen first, with how often (at most MAX_MCP_TOOLS names). */
  tools: Array<{ name: string; calls: number }>;
}

/** Distinct tool names kept in a session's summary; calls of others still count in `calls`. */
export const MAX_MCP_TOOLS = 200;

export type DecodedEvent = HttpExchangeEvent | WebSocketFrameEvent | DecodeNoteEvent | McpMessageEvent;

export type RecordEvent = SessionStartEvent | RequestEvent | ResponseChunkEvent | StreamEvent | ResponseEvent | SessionEndEvent | DecodedEvent;

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
  /** 'machine' for agents; absent: a person. */
  kind?: 'person' | 'machine';
  agent?: string;
  actingFor?: string;
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
    if (ev.trace && (c.traces?.length ?? 0) < MAX_SESSION_TRACES) addUnique((c.traces ??= []), ev.trace.traceId);
    countTexts(c, ev);
  } else if (ev.type === 'mcp.message') {
    countMcp(c, ev);
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

function countMcp(c: SessionSummaryCounts, ev: McpMessageEvent): void {
  const m = (c.mcp ??= { messages: 0, calls: 0, errors: 0, tools: [] });
  m.messages++;
  if (ev.kind === 'request' && ev.method === 'tools/call') {
    m.calls++;
    const name = typeof ev.tool === 'string' ? ev.tool : '';
    const known = m.tools.find((t) => t.name === name);
    if (known) known.calls++;
    else if (m.tools.length < MAX_MCP_TOOLS) m.tools.push({ name, calls: 1 });
  }
  if (ev.kind === 'response' && (ev.error !== undefined || ev.isError === true)) m.errors++;
}

function addUnique(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}

/** How many paths and exec commands a summary keeps (the list reads every summary: keep it small). */
export const MAX_SUMMARY_TEXTS = 20;
const MAX_TEXT_CHARS = 200;
/** Discovery and health paths every kubectl run makes: noise to a search. */
const DISCOVERY_PATH = /^\/(?:api(?:\/v1)?|apis(?:\/[^/]+(?:\/[^/]+)?)?|openapi\/.*|version|healthz|readyz|livez)\/?$/;
/** kubetape's sessions API paths that read recordings (a read is an access, counted in `reads`). */
const RECORDING_READ_PATH = /^(?:\/clusters\/[^/]+)?\/kubetape\/v1\/(?:sessions|accesses)(?:\/|$)/;

/** Whether a request path reads recordings through kubetape's sessions API. */
export function isRecordingRead(path: string): boolean {
  return RECORDING_READ_PATH.test(path);
}

/** The searchable text of a request (its path, its exec command) and whether it read recordings. */
function countTexts(c: SessionSummaryCounts, ev: RequestEvent): void {
  const q = ev.uri.indexOf('?');
  const path = q === -1 ? ev.uri : ev.uri.slice(0, q);
  if (isRecordingRead(path)) c.reads = (c.reads ?? 0) + 1;
  if (!DISCOVERY_PATH.test(path) && (c.paths?.length ?? 0) < MAX_SUMMARY_TEXTS) addUnique((c.paths ??= []), path.slice(0, MAX_TEXT_CHARS));
  const command = ev.exec?.command.join(' ');
  if (command && (c.execCommands?.length ?? 0) < MAX_SUMMARY_TEXTS) addUnique((c.execCommands ??= []), command.slice(0, MAX_TEXT_CHARS));
}
