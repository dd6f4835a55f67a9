// The terminal part of a recording, on one clock: the stream events of a
// session's exec/attach requests, read as a stream (a request always
// precedes its stream events), so a long recording is never held whole.
// `kubetape replay` and `export` (through cli/stream-reading.ts) and the
// sessions API's cast endpoint all read it from here.
import type { RequestEvent, StreamEvent } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';

/** Nothing to play: the session (or the request asked for) has no exec/attach. Its message is for people. */
export class NoTerminalError extends Error {}

export function isTerminalRequest(rq: RequestEvent): boolean {
  return rq.exec !== undefined && (rq.attrs.subresource === 'exec' || rq.attrs.subresource === 'attach');
}

/** A stream event placed on the session's clock: milliseconds since the first selected request started. */
export interface TimedStreamEvent {
  atMs: number;
  request: RequestEvent;
  event: StreamEvent;
}

/**
 * The stream events of the session's exec/attach requests (only `seq` when
 * given), in recording order, each with its time since the first of them.
 * Throws a NoTerminalError when there is nothing to play.
 */
export async function* terminalEvents(store: RecordingStore, id: string, seq?: number): AsyncGenerator<TimedStreamEvent> {
  const requests = new Map<number, RequestEvent>();
  let origin: number | undefined;
  let found = false;
  let seqSeen: RequestEvent | undefined;
  for await (const ev of store.readSession(id)) {
    if (ev.type === 'request') {
      if (seq !== undefined && ev.seq === seq) seqSeen = ev;
      if (!isTerminalRequest(ev) || (seq !== undefined && ev.seq !== seq)) continue;
      requests.set(ev.seq, ev);
      found = true;
      origin ??= Date.parse(ev.time);
    } else if (ev.type === 'stream') {
      const rq = requests.get(ev.seq);
      if (!rq || origin === undefined) continue;
      yield { atMs: Date.parse(rq.time) - origin + ev.offsetMs, request: rq, event: ev };
    }
  }
  if (seq !== undefined && !seqSeen) throw new NoTerminalError(`session ${id} has no request ${seq}`);
  if (seq !== undefined && !found) throw new NoTerminalError(`request ${seq} of session ${id} is not an exec or attach`);
  if (!found) throw new NoTerminalError(`session ${id} has no exec or attach recorded`);
}

export function eventBytes(ev: StreamEvent): Buffer {
  return ev.encoding === 'base64' ? Buffer.from(ev.data, 'base64') : Buffer.from(ev.data, 'utf8');
}
