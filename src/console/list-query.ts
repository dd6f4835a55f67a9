// The sessions list's query string, read as hostile input: every parameter
// checked, a bad one answered with a 400 Status naming it, and the page
// cursor opaque to callers (base64url of the last item's start time and id).
import type { SessionFilter } from '../store/store.js';
import { SESSION_KINDS, type SessionKind } from '../store/store.js';
import type { SessionSummary } from '../model/recording.js';

export class QueryError extends Error {}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const SESSION_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const LIST_PARAMS = [
  'user',
  'cluster',
  'since',
  'verb',
  'namespace',
  'refused',
  'rule',
  'approved',
  'state',
  'kind',
  'client',
  'q',
  'limit',
  'cursor',
  'accesses',
  // agents (issue 15) and MCP (issue 16), as `sessions list` has them
  'agent',
  'human',
  'actingFor',
  'trace',
  'tool',
  'mcp',
];
const STATES = ['live', 'ended', 'interrupted'] as const;

export function isSessionId(s: string): boolean {
  return SESSION_ID.test(s);
}

/** "90s", "30m", "24h", "2d", "1w" or a timestamp, to a Date. */
export function parseSinceParam(s: string, now = Date.now()): Date {
  const m = /^(\d{1,9})(s|m|h|d|w)$/.exec(s);
  if (m) return new Date(now - Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's'] * 1000);
  const t = Date.parse(s);
  if (s.length > 40 || Number.isNaN(t))
    throw new QueryError(`since must be a duration like 90s, 30m, 24h, 2d or a timestamp, got ${JSON.stringify(s.slice(0, 40))}`);
  return new Date(t);
}

function single(q: URLSearchParams, name: string): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw new QueryError(`${name} may be given once`);
  const v = all[0];
  if (v === undefined || v === '') return undefined;
  if (v.length > 256) throw new QueryError(`${name} is too long (at most 256 characters)`);
  return v;
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = single(q, name);
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new QueryError(`${name} must be true or false, got ${JSON.stringify(v)}`);
}

export function parseLimit(v: string | undefined): number {
  if (v === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new QueryError(`limit must be a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(v.slice(0, 40))}`);
  return Math.min(Number(v), MAX_LIMIT);
}

export function encodeCursor(s: Pick<SessionSummary, 'startedAt' | 'id'>): string {
  return Buffer.from(`${s.startedAt}|${s.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(c: string): { startedAt: string; id: string } {
  const bad = new QueryError('cursor is not one this server gave out (pass nextCursor as it came)');
  if (!/^[A-Za-z0-9_-]{1,120}$/.test(c)) throw bad;
  const [startedAt, id, extra] = Buffer.from(c, 'base64url').toString('utf8').split('|');
  if (extra !== undefined || !startedAt || !id || !TIMESTAMP.test(startedAt) || !isSessionId(id)) throw bad;
  return { startedAt, id };
}

/** The list filter (limit: what the caller wants on the page) from a query string. */
export function parseListQuery(q: URLSearchParams, now = Date.now()): SessionFilter & { limit: number } {
  for (const k of q.keys())
    if (!LIST_PARAMS.includes(k)) throw new QueryError(`unknown parameter ${JSON.stringify(k.slice(0, 40))} (known: ${LIST_PARAMS.join(', ')})`);
  const f: SessionFilter & { limit: number } = { limit: parseLimit(single(q, 'limit')) };
  for (const k of ['user', 'cluster', 'verb', 'namespace', 'rule', 'client', 'q'] as const) {
    const v = single(q, k);
    if (v !== undefined) f[k] = v;
  }
  const since = single(q, 'since');
  if (since) f.since = parseSinceParam(since, now);
  if (flag(q, 'refused')) f.refused = true;
  if (flag(q, 'approved')) f.approved = true;
  if (flag(q, 'accesses')) f.reads = true;
  const state = single(q, 'state');
  if (state !== undefined) {
    if (!(STATES as readonly string[]).includes(state)) throw new QueryError(`state must be one of ${STATES.join(', ')}`);
    f.state = state as SessionSummary['state'];
  }
  const kind = single(q, 'kind');
  if (kind !== undefined) {
    if (!(SESSION_KINDS as readonly string[]).includes(kind)) throw new QueryError(`kind must be one of ${SESSION_KINDS.join(', ')}`);
    f.kind = kind as SessionKind;
  }
  const agent = single(q, 'agent');
  if (agent !== undefined) f.agent = agent === 'true' ? true : agent;
  if (flag(q, 'human')) f.human = true;
  if (f.agent !== undefined && f.human) throw new QueryError('agent and human exclude each other');
  const actingFor = single(q, 'actingFor');
  if (actingFor) f.actingFor = actingFor;
  const trace = single(q, 'trace');
  if (trace !== undefined) {
    if (!/^[0-9a-fA-F]{32}$/.test(trace)) throw new QueryError('trace must be a W3C trace id (32 hex digits)');
    f.trace = trace.toLowerCase();
  }
  const tool = single(q, 'tool');
  if (tool) f.tool = tool;
  if (flag(q, 'mcp')) f.mcp = true;
  const cursor = single(q, 'cursor');
  if (cursor) f.after = decodeCursor(cursor);
  return f;
}
