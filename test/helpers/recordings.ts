// Reading what kubetape recorded, through the same store interface the CLI uses.
import type { RecordingStore } from '../../src/store/store.js';
import type { RecordEvent, RequestEvent, ResponseEvent, ResponseChunkEvent, SessionSummary } from '../../src/model/recording.js';

export interface RecordedExchange {
  request: RequestEvent;
  response?: ResponseEvent;
  chunks: ResponseChunkEvent[];
}

export async function sessionEvents(store: RecordingStore, id: string): Promise<RecordEvent[]> {
  const out: RecordEvent[] = [];
  for await (const ev of store.readSession(id)) out.push(ev);
  return out;
}

export function exchanges(events: RecordEvent[]): RecordedExchange[] {
  const bySeq = new Map<number, RecordedExchange>();
  for (const ev of events) {
    if (ev.type === 'request') bySeq.set(ev.seq, { request: ev, chunks: [] });
    else if (ev.type === 'response') {
      const x = bySeq.get(ev.seq);
      if (x) x.response = ev;
    } else if (ev.type === 'response.chunk') bySeq.get(ev.seq)?.chunks.push(ev);
  }
  return [...bySeq.values()];
}

/** The session whose kubectl command matches, newest first; waits briefly for it to appear. */
export async function findSession(store: RecordingStore, pred: (s: SessionSummary) => boolean, timeoutMs = 5000): Promise<SessionSummary> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await store.listSessions()).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error('no matching session was recorded');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until every request of a session has its response recorded. */
export async function settledExchanges(store: RecordingStore, id: string, timeoutMs = 5000): Promise<RecordedExchange[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const xs = exchanges(await sessionEvents(store, id));
    if (xs.every((x) => x.response) || Date.now() > deadline) return xs;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function chunkText(x: RecordedExchange): string {
  return x.chunks.map((c) => (c.encoding === 'base64' ? Buffer.from(c.data, 'base64').toString('utf8') : c.data)).join('');
}
