// A session's events as they are recorded, for the live view: everything
// recorded so far, then what is added, until the session ends. Every
// `intervalMs` the store is read for what was added: the local store's file
// is tailed from the byte it was read to (readSessionTail; within 250 ms
// here); other stores are read again, skipping the events already sent.
// The AWS store shows events once their chunk is uploaded, so
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
  if (o.store.readSessionTail) return followTail(o, o.store.readSessionTail.bind(o.store));
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
    // No longer live: one more read for what was written before it ended.
    if (!(await stillLive(o))) last = true;
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

async function stillLive(o: FollowOptions): Promise<boolean> {
  const s = o.store.summary ? await o.store.summary(o.id) : (await o.store.listSessions({})).find((x) => x.id === o.id);
  return s?.state === 'live';
}

/** A store that can read from a position (local files): each poll reads only what was appended since the last. */
async function followTail(o: FollowOptions, tail: NonNullable<RecordingStore['readSessionTail']>): Promise<void> {
  let offset = 0;
  let lastBeat = Date.now();
  let last = !o.live;
  for (;;) {
    for (;;) {
      const r = await tail(o.id, offset);
      if (!r) return;
      for (const ev of r.events) {
        if (o.signal.aborted || !(await o.send(ev))) return;
        lastBeat = Date.now();
        if (ev.type === 'session.end') return;
      }
      offset = r.offset;
      if (r.events.length === 0) break; // caught up
    }
    if (last || o.signal.aborted) return;
    if (!(await stillLive(o))) last = true;
    if (Date.now() - lastBeat >= HEARTBEAT_MS) {
      if (!(await o.heartbeat())) return;
      lastBeat = Date.now();
    }
    if (!last) await sleep(o.intervalMs, o.signal);
  }
}
