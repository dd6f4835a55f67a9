// A session's events as they are recorded, for the live view: everything
// recorded so far, then what is added, until the session ends. The store is
// read again every `intervalMs` from where the last read stopped (counted in
// events): the local store's file grows as kubetape writes it (within
// 250 ms here); the AWS store shows events once their chunk is uploaded, so
// a live view there lags by the store's flush interval (recording.aws
// flushSeconds) plus this interval.
import type { RecordEvent } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';

export interface FollowOptions {
  store: RecordingStore;
  id: string;
  /** Whether the session was live when the view started (an ended one is sent once, whole). */
  live: boolean;
  intervalMs: number;
  signal: AbortSignal;
  /** Resolves false when the client is gone. */
  send: (ev: RecordEvent) => Promise<boolean>;
  /** A comment line now and then, so proxies keep the connection open. */
  heartbeat: () => Promise<boolean>;
}

const HEARTBEAT_MS = 15_000;

export async function followSession(o: FollowOptions): Promise<void> {
  let sent = 0;
  let lastBeat = Date.now();
  let last = !o.live;
  for (;;) {
    let seen = 0;
    let ended = false;
    for await (const ev of o.store.readSession(o.id)) {
      if (o.signal.aborted) return;
      if (seen++ < sent) continue;
      if (!(await o.send(ev))) return;
      sent++;
      lastBeat = Date.now();
      if (ev.type === 'session.end') ended = true;
    }
    if (ended || last || o.signal.aborted) return;
    // Not ended in the record: still live, or kubetape stopped without ending it (interrupted).
    const s = o.store.summary ? await o.store.summary(o.id) : (await o.store.listSessions({})).find((x) => x.id === o.id);
    // No longer live: one more read for what was written before it ended.
    if (!s || s.state !== 'live') last = true;
    if (Date.now() - lastBeat >= HEARTBEAT_MS) {
      if (!(await o.heartbeat())) return;
      lastBeat = Date.now();
    }
    if (!last) await sleep(o.intervalMs, o.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
