// Who read which recordings, when: every call to the sessions API is
// recorded as a request in the reader's own session (sessions-routes.ts), and
// a session that read recordings says so in its summary (`reads`), so the
// accesses are found by listing those sessions and reading their requests.
// A reader sees the accesses made in sessions they may see, and every
// access to a session of theirs (who read my recordings).
import { isRecordingRead, type SessionSummary } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';
import { QueryError, isSessionId, parseLimit, parseSinceParam } from './list-query.js';
import { maySee, type Visibility } from './visibility.js';

export const ACCESS_ACTIONS = ['list', 'show', 'events', 'cast', 'live', 'accesses'] as const;

export interface Access {
  time: string;
  /** Who read. */
  user: string;
  action: (typeof ACCESS_ACTIONS)[number];
  /** The session read (show, events, cast, live). */
  session?: string;
  /** The query string as sent (list filters, ranges). */
  query?: string;
  /** What the API answered (absent while the read is still streaming). */
  status?: number;
  /** The reader's own session, where the read is recorded. */
  readerSession: string;
  cluster: string;
}

export interface AccessQuery {
  user?: string;
  session?: string;
  since?: Date;
  limit: number;
}

export function parseAccessQuery(q: URLSearchParams): AccessQuery {
  const known = ['user', 'session', 'since', 'limit'];
  for (const k of q.keys()) if (!known.includes(k)) throw new QueryError(`unknown parameter ${JSON.stringify(k.slice(0, 40))} (known: ${known.join(', ')})`);
  const one = (k: string): string | undefined => {
    const all = q.getAll(k);
    if (all.length > 1) throw new QueryError(`${k} may be given once`);
    return all[0] === '' ? undefined : all[0]?.slice(0, 256);
  };
  const a: AccessQuery = { limit: parseLimit(one('limit')) };
  const user = one('user');
  if (user) a.user = user;
  const session = one('session');
  if (session) {
    if (!isSessionId(session)) throw new QueryError('session must be a session id');
    a.session = session;
  }
  const since = one('since');
  if (since) a.since = parseSinceParam(since);
  return a;
}

/** The access a recorded request path is, or undefined when it read no recording. */
export function accessOf(uri: string): Pick<Access, 'action' | 'session' | 'query'> | undefined {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  if (!isRecordingRead(path)) return undefined;
  const parts = path.split('/').filter(Boolean);
  const at = parts.indexOf('v1');
  const [what, id, sub] = parts.slice(at + 1);
  const query = q === -1 ? undefined : uri.slice(q + 1).slice(0, 512);
  const base = query ? { query } : {};
  if (what === 'accesses') return { action: 'accesses', ...base };
  if (!id) return { action: 'list', ...base };
  // The player's index and its segments are the cast, cut for seeking.
  const action = sub === 'player' ? 'cast' : sub === 'events' || sub === 'cast' || sub === 'live' ? sub : 'show';
  return { action, session: id, ...base };
}

export async function listAccesses(store: RecordingStore, vis: Visibility, q: AccessQuery): Promise<Access[]> {
  const readers = await store.listSessions({
    reads: true,
    ...(q.since ? { since: new Date(q.since.getTime() - 86_400_000) } : {}),
    ...(q.user ? { user: q.user } : {}),
  });
  // Whose sessions were read: looked up only for readers who do not see everything.
  let owners: Map<string, SessionSummary> | undefined;
  const ownerOf = async (id: string) => (owners ??= new Map((await store.listSessions({})).map((s) => [s.id, s]))).get(id);
  const out: Access[] = [];
  for (const s of readers) {
    const seesReader = maySee(vis, s);
    const found = new Map<number, Access>();
    for await (const ev of store.readSession(s.id)) {
      if (ev.type === 'request') {
        const a = accessOf(ev.uri);
        if (!a) continue;
        if (q.since && Date.parse(ev.time) < q.since.getTime()) continue;
        if (q.session && a.session !== q.session) continue;
        if (!seesReader) {
          const owner = a.session ? await ownerOf(a.session) : undefined;
          if (!owner || owner.user !== vis.user) continue;
        }
        found.set(ev.seq, { time: ev.time, user: s.user, ...a, readerSession: s.id, cluster: s.cluster });
      } else if (ev.type === 'response') {
        const a = found.get(ev.seq);
        if (a) a.status = ev.status;
      }
    }
    out.push(...found.values());
    if (out.length >= q.limit) break;
  }
  out.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return out.slice(0, q.limit);
}
