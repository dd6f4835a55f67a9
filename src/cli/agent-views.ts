// What `sessions list` and `sessions show` say about agents: the AGENT
// column, the count per agent under the list, the agent and whom it acted
// for in a session's header, and a session's requests grouped by trace (one
// tool call of an agent) together with the requests of the same trace in
// other sessions (each kubectl run and exec of a tool call is a session).
import type { RecordEvent, RequestEvent, ResponseEvent, SessionStartEvent, SessionSummary } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';
import { table } from './format.js';

/** The AGENT column: the agent, and whom it acted for; "-" for a person. */
export function agentCell(s: SessionSummary): string {
  if (s.kind !== 'machine') return '-';
  const agent = s.agent ?? s.user;
  return s.actingFor ? `${agent} for ${s.actingFor}` : agent;
}

/** Under the list: sessions and requests per agent, and for whom (empty when no agent is listed). */
export function agentCounts(list: SessionSummary[]): string {
  const by = new Map<string, { sessions: number; requests: number; refused: number; for: Map<string, number> }>();
  for (const s of list) {
    if (s.kind !== 'machine') continue;
    const name = s.agent ?? s.user;
    const a = by.get(name) ?? { sessions: 0, requests: 0, refused: 0, for: new Map<string, number>() };
    a.sessions++;
    a.requests += s.requests;
    a.refused += s.guardrails ? s.guardrails.denied + s.guardrails.approvalRefused + s.guardrails.typedRefused : 0;
    if (s.actingFor) a.for.set(s.actingFor, (a.for.get(s.actingFor) ?? 0) + 1);
    by.set(name, a);
  }
  if (by.size === 0) return '';
  const people = list.filter((s) => s.kind !== 'machine').length;
  const rows = [...by.entries()]
    .sort((x, y) => y[1].sessions - x[1].sessions || (x[0] < y[0] ? -1 : 1))
    .map(([name, a]) => [
      name,
      String(a.sessions),
      String(a.requests),
      String(a.refused),
      [...a.for.entries()].map(([p, n]) => `${p} (${n})`).join(', ') || '-',
    ]);
  return (
    `\nAgents: ${by.size} (${list.length - people} sessions; people ${people})\n` + table(['AGENT', 'SESSIONS', 'REQUESTS', 'REFUSED', 'ACTING FOR'], rows)
  );
}

/** The header lines of a session made by an agent. */
export function agentHeader(start: SessionStartEvent): string[] {
  if (start.kind !== 'machine') return [];
  const lines = [`Agent     ${start.agent ?? start.user}${start.actingFor ? `   acting for ${start.actingFor}` : ''}`];
  if (start.delegation && start.delegation.length > 1) lines.push(`Delegated ${start.delegation.join(' <- ')}`);
  return lines;
}

/** Traces of a session (first seen first), from its events. */
function tracesOf(events: readonly RecordEvent[]): string[] {
  const ids: string[] = [];
  for (const ev of events) if (ev.type === 'request' && ev.trace && !ids.includes(ev.trace.traceId)) ids.push(ev.trace.traceId);
  return ids;
}

/** Traces shown per session: a session with more is a long script, not one tool call. */
const MAX_TRACES_SHOWN = 20;

/**
 * Every request of each trace of this session, across the sessions that
 * trace spanned (found through the store's trace filter), in time order.
 */
export async function traceSections(
  store: RecordingStore,
  sessionId: string,
  events: readonly RecordEvent[],
  describe: (rq: RequestEvent) => string,
): Promise<string> {
  const out: string[] = [];
  const traces = tracesOf(events);
  for (const traceId of traces.slice(0, MAX_TRACES_SHOWN)) {
    const sessions = await store.listSessions({ trace: traceId });
    const rows: Array<{ time: number; row: string[] }> = [];
    const ids = new Set<string>([sessionId, ...sessions.map((s) => s.id)]);
    for (const id of ids) {
      const evs: RecordEvent[] = [];
      if (id === sessionId) evs.push(...events);
      else for await (const ev of store.readSession(id)) evs.push(ev);
      const responses = new Map<number, ResponseEvent>();
      for (const ev of evs) if (ev.type === 'response') responses.set(ev.seq, ev);
      for (const ev of evs) {
        if (ev.type !== 'request' || ev.trace?.traceId !== traceId) continue;
        const rs = responses.get(ev.seq);
        rows.push({
          time: Date.parse(ev.time),
          row: [
            '',
            id === sessionId ? `${id.slice(0, 12)}*` : id.slice(0, 12),
            rs ? String(rs.status) : '...',
            describe(ev),
            ev.trace.parentId,
            ev.client ?? '',
          ],
        });
      }
    }
    rows.sort((a, b) => a.time - b.time);
    const t0 = rows[0]?.time ?? 0;
    for (const r of rows) r.row[0] = `+${((r.time - t0) / 1000).toFixed(3)}s`;
    const spans = new Set(rows.map((r) => r.row[4])).size;
    out.push(`Trace ${traceId}: ${rows.length} requests in ${ids.size} ${ids.size === 1 ? 'session' : 'sessions'}, ${spans} ${spans === 1 ? 'span' : 'spans'}`);
    out.push(
      table(
        ['AT', 'SESSION', 'CODE', 'REQUEST', 'PARENT SPAN', 'CLIENT'],
        rows.map((r) => r.row),
      ),
    );
  }
  if (traces.length > MAX_TRACES_SHOWN) out.push(`(${traces.length - MAX_TRACES_SHOWN} more traces; see sessions list --trace ID)\n`);
  return out.length ? '\n' + out.join('\n') : '';
}
