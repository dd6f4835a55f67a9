// The DynamoDB items of a recording, built from its events. Items stay far
// below DynamoDB's 400 KB limit: bodies and stream data live only in the S3
// chunks, and the few free-form strings copied here are cut to a bound.
import { MAX_MCP_TOOLS } from '../../model/recording.js';
import type {
  GuardrailCounts,
  McpCounts,
  RecordEvent,
  RequestEvent,
  ResponseEvent,
  SessionEndEvent,
  SessionStartEvent,
  SessionSummary,
  SessionSummaryCounts,
} from '../../model/recording.js';
import type { EncodedChunk } from './chunk-format.js';
import type { Plain } from './item-codec.js';
import { SESSION_SK, chunkSk, clusterPk, monthOf, requestSk, responseSk, sessionPk, timePk, timeShard, userPk, MONTHS_PK } from './keys.js';

type Fields = { [k: string]: Plain | undefined };

/** Free-form strings (URIs, errors, commands) are kept to this many characters in items; the chunk has them whole. */
const MAX_TEXT = 1024;
const cut = (s: string | undefined): string | undefined => (s === undefined || s.length <= MAX_TEXT ? s : s.slice(0, MAX_TEXT) + '…');

export function sessionStartItem(s: SessionStartEvent, o: { s3Prefix: string; bucket: string; expiresAt?: number }): Fields {
  return {
    pk: sessionPk(s.session),
    sk: SESSION_SK,
    kind: 'session',
    id: s.session,
    state: 'live',
    startedAt: s.time,
    user: s.user,
    uid: s.uid,
    groups: s.groups.slice(0, 200),
    authMethod: s.authMethod,
    cluster: s.cluster,
    source: s.source,
    userAgent: cut(s.userAgent),
    command: cut(s.command),
    clientSession: cut(s.clientSession),
    // Agents (issue 15); `kind` is the item's own kind, so the caller's is `callerKind`.
    callerKind: s.kind === 'machine' ? 'machine' : undefined,
    agent: cut(s.agent),
    actingFor: cut(s.actingFor),
    bucket: o.bucket,
    s3Prefix: o.s3Prefix,
    userPk: userPk(s.user),
    userSk: s.session,
    clusterPk: clusterPk(s.cluster),
    clusterSk: s.session,
    timePk: timePk(monthOf(s.time), timeShard(s.session)),
    timeSk: s.session,
    expiresAt: o.expiresAt,
  };
}

export const monthItem = (month: string): Fields => ({ pk: MONTHS_PK, sk: month, kind: 'month' });

export function requestItem(ev: RequestEvent, chunk: number, expiresAt: number | undefined): Fields {
  const a = ev.attrs;
  return {
    pk: sessionPk(ev.session),
    sk: requestSk(ev.seq),
    kind: 'request',
    seq: ev.seq,
    time: ev.time,
    method: ev.method,
    uri: cut(ev.uri),
    verb: a.verb,
    apiGroup: a.apiGroup || undefined,
    resource: a.resource || undefined,
    subresource: a.subresource || undefined,
    namespace: a.namespace || undefined,
    name: a.name || undefined,
    streaming: ev.streaming,
    command: ev.exec ? cut(ev.exec.command.join(' ')) : undefined,
    bodyBytes: ev.body?.size,
    chunk,
    expiresAt,
  };
}

export function responseItem(ev: ResponseEvent, chunk: number, expiresAt: number | undefined): Fields {
  return {
    pk: sessionPk(ev.session),
    sk: responseSk(ev.seq),
    kind: 'response',
    seq: ev.seq,
    time: ev.time,
    status: ev.status,
    durationMs: ev.durationMs,
    bytesIn: ev.bytesIn,
    bytesOut: ev.bytesOut,
    truncated: ev.truncated || ev.body?.truncated || undefined,
    error: cut(ev.error),
    exitCode: ev.exitCode,
    chunk,
    expiresAt,
  };
}

/** The index items an event contributes (requests and responses; streams are indexed per chunk). */
export function eventItems(ev: RecordEvent, chunk: number, expiresAt: number | undefined): Fields[] {
  if (ev.type === 'request') return [requestItem(ev, chunk, expiresAt)];
  if (ev.type === 'response') return [responseItem(ev, chunk, expiresAt)];
  return [];
}

/** The stream index: which requests have stream data or response chunks in this chunk. */
export function chunkItem(session: string, key: string, c: EncodedChunk, streamSeqs: number[], expiresAt: number | undefined): Fields {
  return {
    pk: sessionPk(session),
    sk: chunkSk(c.header.seq),
    kind: 'chunk',
    seq: c.header.seq,
    key,
    sha256: c.sha256,
    prev: c.header.prev,
    md5: c.md5,
    first: c.header.first,
    events: c.header.events,
    bytes: c.bytes,
    gzBytes: c.gz.length,
    streams: streamSeqs.slice(0, 1000),
    expiresAt,
  };
}

/**
 * What a session's item says of its requests so far: the fields the list filters on (verbs,
 * namespaces, kinds, traces, guardrails, free text), set while it is live so that a live session
 * is found by them too, and again, final, when it finishes.
 */
export function progressFields(c: SessionSummaryCounts): Fields {
  return {
    requests: c.requests,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    verbs: c.verbs.slice(0, 100),
    namespaces: c.namespaces.slice(0, 200),
    resources: c.resources.slice(0, 200),
    errors: c.errors,
    guardrails: c.guardrails ? guardrailsItem(c.guardrails) : undefined,
    traces: c.traces?.slice(0, 100),
    mcp: c.mcp ? mcpItem(c.mcp) : undefined,
    paths: c.paths?.map((p) => cut(p)!),
    execCommands: c.execCommands?.map((p) => cut(p)!),
    reads: c.reads,
  };
}

export function finishFields(o: {
  state: 'ended' | 'interrupted';
  end?: SessionEndEvent;
  counts: SessionSummaryCounts;
  chunks: number;
  events: number;
  bytes: number;
  head: string;
  manifestKey: string;
}): Fields {
  const c = o.end?.summary ?? o.counts;
  return {
    state: o.state,
    endedAt: o.end?.time,
    endReason: o.end?.reason,
    finishedAt: new Date().toISOString(),
    ...progressFields(c),
    chunks: o.chunks,
    events: o.events,
    bytes: o.bytes,
    headHash: o.head,
    manifestKey: o.manifestKey,
  };
}

/** Rule names kept in the session item: bounded like the other lists (a policy file has far fewer). */
const MAX_RULES = 100;

/** The guardrail counts as a map attribute of the session item (an attribute only: no key or index reads it). */
function guardrailsItem(g: GuardrailCounts): Fields {
  return {
    denied: g.denied,
    approvalRefused: g.approvalRefused,
    masked: g.masked,
    allowed: g.allowed,
    granted: g.granted,
    typedRefused: g.typedRefused,
    refusedBy: g.refusedBy.slice(0, MAX_RULES).map((r) => cut(r)!),
    rules: g.rules.slice(0, MAX_RULES).map((r) => cut(r)!),
  };
}

/** MCP counts as a map attribute (sessions list --mcp, --tool): tool names bounded like the other lists. */
function mcpItem(m: McpCounts): Fields {
  return {
    messages: m.messages,
    calls: m.calls,
    errors: m.errors,
    tools: m.tools.slice(0, MAX_MCP_TOOLS).map((t) => ({ name: cut(t.name)!, calls: t.calls })),
  };
}

function mcpFromItem(v: Plain | undefined): McpCounts | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const tools = Array.isArray(v['tools']) ? v['tools'] : [];
  return {
    messages: num(v['messages']),
    calls: num(v['calls']),
    errors: num(v['errors']),
    tools: tools.flatMap((t) =>
      t && typeof t === 'object' && !Array.isArray(t) && typeof t['name'] === 'string' ? [{ name: t['name'], calls: num(t['calls']) }] : [],
    ),
  };
}

/** Read back leniently: items written before guardrails were kept have none, and a hand-edited one must not break listing. */
function guardrailsFromItem(v: Plain | undefined): GuardrailCounts | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  return {
    denied: num(v['denied']),
    approvalRefused: num(v['approvalRefused']),
    masked: num(v['masked']),
    allowed: num(v['allowed']),
    granted: num(v['granted']),
    typedRefused: num(v['typedRefused']),
    refusedBy: strs(v['refusedBy']),
    rules: strs(v['rules']),
  };
}

const str = (v: Plain | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: Plain | undefined): number => (typeof v === 'number' ? v : 0);
const strs = (v: Plain | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function summaryFromItem(it: { [k: string]: Plain }): SessionSummary {
  const state = str(it['state']);
  const s: SessionSummary = {
    id: str(it['id']) ?? '',
    user: str(it['user']) ?? '',
    groups: strs(it['groups']),
    cluster: str(it['cluster']) ?? '',
    source: str(it['source']) ?? '',
    startedAt: str(it['startedAt']) ?? '',
    state: state === 'ended' || state === 'interrupted' ? state : 'live',
    requests: num(it['requests']),
    bytesIn: num(it['bytesIn']),
    bytesOut: num(it['bytesOut']),
    verbs: strs(it['verbs']),
    namespaces: strs(it['namespaces']),
    resources: strs(it['resources']),
    errors: num(it['errors']),
  };
  const command = str(it['command']);
  const ua = str(it['userAgent']);
  const ended = str(it['endedAt']);
  if (command) s.command = command;
  if (ua) s.userAgent = ua;
  if (ended) s.endedAt = ended;
  const guardrails = guardrailsFromItem(it['guardrails']);
  if (guardrails) s.guardrails = guardrails;
  const mcp = mcpFromItem(it['mcp']);
  if (mcp) s.mcp = mcp;
  if (Array.isArray(it['paths'])) s.paths = strs(it['paths']);
  if (Array.isArray(it['execCommands'])) s.execCommands = strs(it['execCommands']);
  if (typeof it['reads'] === 'number') s.reads = it['reads'];
  if (it['callerKind'] === 'machine') s.kind = 'machine';
  const agent = str(it['agent']);
  if (agent) s.agent = agent;
  const actingFor = str(it['actingFor']);
  if (actingFor) s.actingFor = actingFor;
  if (Array.isArray(it['traces'])) s.traces = strs(it['traces']);
  return s;
}
