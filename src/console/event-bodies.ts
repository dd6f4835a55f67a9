// Events without their contents: what the sessions API sends unless asked
// for bodies (bodies=true), so a session's timeline is cheap to load. Each
// emptied `data` keeps its size and says it was left out.
import type { RecordedBody, RecordEvent } from '../model/recording.js';

/** Bytes a recorded `data` string stands for. */
function dataSize(encoding: 'utf8' | 'base64', data: string): number {
  return encoding === 'base64' ? Buffer.byteLength(data, 'base64') : Buffer.byteLength(data, 'utf8');
}

function emptyBody(b: RecordedBody): RecordedBody & { omitted: true } {
  return { ...b, data: '', omitted: true };
}

export function withoutBodies(ev: RecordEvent): RecordEvent {
  if ((ev.type === 'request' || ev.type === 'response') && ev.body && ev.body.data !== '') return { ...ev, body: emptyBody(ev.body) };
  if ((ev.type === 'stream' || ev.type === 'response.chunk') && ev.data !== '')
    return { ...ev, data: '', size: dataSize(ev.encoding, ev.data), omitted: true } as unknown as RecordEvent;
  return ev;
}
