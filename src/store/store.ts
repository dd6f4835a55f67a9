// The one interface every recording store implements. The recorder writes
// through it on the data path; the CLI reads through it. A store must make an
// append `durable` before it resolves when asked, because kubetape forwards a
// request only after its record is safe.
import { refusedCount, type RecordEvent, type SessionStartEvent, type SessionSummary, type SessionSummaryCounts } from '../model/recording.js';
import type { StoreVerifyReport, VerifyReport } from './verify.js';
import { clientName } from '../model/client-name.js';

export interface AppendOptions {
  /** Resolve only once the event would survive a crash (fsync or equivalent). */
  durable?: boolean;
}

/** Writes one session's events, in order. */
export interface SessionWriter {
  readonly id: string;
  append(event: RecordEvent, opts?: AppendOptions): Promise<void>;
  /** Append the session.end event (durably) and release resources. */
  close(end: RecordEvent): Promise<void>;
}

export interface SessionFilter {
  user?: string;
  cluster?: string;
  /** Only sessions started at or after this time. */
  since?: Date;
  verb?: string;
  namespace?: string;
  /** Only sessions where a policy rule refused a request (deny, or require-approval without a grant) or a typed line. */
  refused?: boolean;
  /** Only sessions where this rule refused or decided something. */
  rule?: string;
  /** Only sessions where a request went through on an approval grant. */
  approved?: boolean;
  /** Only sessions in this state. */
  state?: SessionSummary['state'];
  /** exec, attach, port-forward: sessions holding such a request; rest: sessions holding none. */
  kind?: SessionKind;
  /** Only sessions of this client (`clientName` of the User-Agent: kubectl, k9s, python-requests...). */
  client?: string;
  /** Case-insensitive text in the command, User-Agent, request paths or exec commands. */
  q?: string;
  /** Only sessions that read recordings through the sessions API (accesses). */
  reads?: boolean;
  /** Only sessions of agents (machine callers): true for any, or this agent's name. */
  agent?: true | string;
  /** Only sessions of people (no agent). */
  human?: boolean;
  /** Only sessions of agents acting for this user. */
  actingFor?: string;
  /** Only sessions with a request of this W3C trace (32 hex digits): one tool call of an agent. */
  trace?: string;
  /** A page's cursor: only sessions listed after this one (newest first: by start time, then id). */
  after?: { startedAt: string; id: string };
  limit?: number;
  /** Only sessions in which this MCP tool was called (port-forward or proxy traffic). */
  tool?: string;
  /** Only sessions with MCP messages in them. */
  mcp?: boolean;
}

export const SESSION_KINDS = ['rest', 'exec', 'attach', 'port-forward'] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

const KIND_RESOURCES: Record<Exclude<SessionKind, 'rest'>, string> = { exec: 'pods/exec', attach: 'pods/attach', 'port-forward': 'pods/portforward' };

/** The summary part of a filter (state, kind, client, text, accesses, cursor), judged on a session's summary alone. */
export function matchesSummaryFilter(s: SessionSummary, f: SessionFilter): boolean {
  if (f.state && s.state !== f.state) return false;
  if (f.kind) {
    const streams = Object.values(KIND_RESOURCES).filter((r) => s.resources.includes(r));
    if (f.kind === 'rest' ? streams.length > 0 : !s.resources.includes(KIND_RESOURCES[f.kind])) return false;
  }
  if (f.client && clientName(s.userAgent) !== f.client && s.command?.split(' ')[0] !== f.client) return false;
  if (f.reads && !s.reads) return false;
  if (f.agent !== undefined && (s.kind !== 'machine' || (f.agent !== true && s.agent !== f.agent))) return false;
  if (f.human && s.kind === 'machine') return false;
  if (f.actingFor !== undefined && s.actingFor !== f.actingFor) return false;
  if (f.trace !== undefined && !s.traces?.includes(f.trace.toLowerCase())) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    const texts = [s.command ?? '', s.userAgent ?? '', ...(s.paths ?? []), ...(s.execCommands ?? [])];
    if (!texts.some((t) => t.toLowerCase().includes(q))) return false;
  }
  if (f.after && !(s.startedAt < f.after.startedAt || (s.startedAt === f.after.startedAt && s.id < f.after.id))) return false;
  return true;
}

/** The guardrail part of a filter, judged on a session's summary counts (never its events). */
export function matchesGuardrailFilter(c: SessionSummaryCounts, f: SessionFilter): boolean {
  const g = c.guardrails;
  if (f.refused && refusedCount(g) === 0) return false;
  if (f.rule && !g?.rules.includes(f.rule)) return false;
  if (f.approved && !(g && g.granted > 0)) return false;
  // MCP, like the guardrails, is judged on the summary's counts.
  if (f.mcp && !c.mcp) return false;
  if (f.tool !== undefined && !c.mcp?.tools.some((t) => t.name === f.tool)) return false;
  return true;
}

export interface RecordingStore {
  /** Start a session; resolves once its start event is durable. */
  openSession(start: SessionStartEvent): Promise<SessionWriter>;
  /** Sessions matching `filter`, newest first. */
  listSessions(filter?: SessionFilter): Promise<SessionSummary[]>;
  /** Resolve a full id or a unique prefix of one. */
  resolveId(idOrPrefix: string): Promise<string | undefined>;
  /** Every event of one session, in the order written. */
  readSession(id: string): AsyncIterable<RecordEvent>;
  /**
   * Events appended after `offset` (an opaque position from the previous call; 0: the start), and the position
   * to go on from: how the console's live view follows a session without reading it again (local store).
   */
  readSessionTail?(id: string, offset: number): Promise<{ events: RecordEvent[]; offset: number } | undefined>;
  /** One session's summary without listing them all (stores that can look one up directly). */
  summary?(id: string): Promise<SessionSummary | undefined>;
  /** Recompute the recording's hash chain and check it against the store's own records. */
  verify?(id: string): Promise<VerifyReport>;
  /**
   * Verify everything the store holds, not only what its index names: every
   * session, the index's own records, and how far back they are anchored.
   */
  verifyAll?(): Promise<StoreVerifyReport>;
  /** Throws when the store cannot take new sessions now (readiness). Default: a listing works. */
  ready?(): Promise<void>;
  /**
   * Take ownership of the sessions this process opens (local store: instance.json, so
   * they read as live). Called once kubetape holds the data dir and is listening.
   */
  claim?(): void;
  close(): Promise<void>;
}

/** Session ids sort by start time: 10 chars of time + 16 of randomness (a ULID). */
export function newSessionId(now = Date.now()): string {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = A[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = crypto.getRandomValues(new Uint8Array(16));
  let tail = '';
  for (const b of rnd) tail += A[b % 32];
  return time + tail;
}
