// Reading decoded port-forward bodies back. A body whose wire bytes were the
// body is recorded as a reference (RecordedBody.ref) into the raw `in`/`out`
// stream events of its connection, which stay the evidence; this fills such
// bodies in from those events as a session is read. Two passes, so a long
// recording is never held whole: the first notes which byte ranges are
// referred to, the second copies only those ranges out of the raw events as
// they pass and hands each decoded event on with its bodies filled (raw
// bytes always come before the decoded event that refers to them, so what is
// held is at most the bodies between their bytes and their event, as when
// they were recorded).
import type { BodyRef, HttpExchangeEvent, RecordEvent, RecordedBody } from '../../model/recording.js';
import { encodeBytes } from '../body-capture.js';

interface Range {
  offset: number;
  length: number;
  buf?: Buffer;
  filled: number;
}

/** The session's events, referenced bodies filled in. `read` opens the session anew: it is read twice when it holds references. */
export async function* resolveBodyRefs(read: () => AsyncIterable<RecordEvent>): AsyncGenerator<RecordEvent> {
  const wanted = new Map<string, Range[]>();
  for await (const ev of read()) {
    if (ev.type !== 'http.exchange') continue;
    for (const b of bodiesOf(ev)) if (b.ref) want(wanted, ev.seq, b.ref);
  }
  if (wanted.size === 0) {
    yield* read();
    return;
  }
  for (const list of wanted.values()) list.sort((a, b) => a.offset - b.offset);
  const position = new Map<string, { pos: number; next: number }>();
  for await (const ev of read()) {
    if (ev.type === 'stream' && (ev.channel === 'in' || ev.channel === 'out') && ev.connection !== undefined) {
      const key = keyOf(ev.seq, ev.connection, ev.channel);
      const list = wanted.get(key);
      if (list) {
        const at = position.get(key) ?? { pos: 0, next: 0 };
        position.set(key, at);
        const bytes = Buffer.from(ev.data, ev.encoding === 'base64' ? 'base64' : 'utf8');
        copyInto(list, at, bytes);
        at.pos += bytes.length;
      }
      yield ev;
      continue;
    }
    if (ev.type === 'http.exchange') {
      yield fill(ev, wanted);
      continue;
    }
    yield ev;
  }
}

function bodiesOf(ev: HttpExchangeEvent): RecordedBody[] {
  const out: RecordedBody[] = [];
  if (ev.request.body) out.push(ev.request.body);
  if (ev.response?.body) out.push(ev.response.body);
  return out;
}

function keyOf(seq: number, connection: number, channel: string): string {
  return `${seq} ${connection} ${channel}`;
}

function want(wanted: Map<string, Range[]>, seq: number, ref: BodyRef): void {
  const key = keyOf(seq, ref.connection, ref.channel);
  let list = wanted.get(key);
  if (!list) wanted.set(key, (list = []));
  if (!list.some((r) => r.offset === ref.offset && r.length === ref.length)) list.push({ offset: ref.offset, length: ref.length, filled: 0 });
}

/** Copies the parts of `bytes` (at `at.pos` of its stream) that referenced ranges cover. */
function copyInto(list: Range[], at: { pos: number; next: number }, bytes: Buffer): void {
  const end = at.pos + bytes.length;
  for (let i = at.next; i < list.length && list[i].offset < end; i++) {
    const r = list[i];
    const from = Math.max(r.offset, at.pos);
    const to = Math.min(r.offset + r.length, end);
    if (to > from) {
      r.buf ??= Buffer.allocUnsafe(r.length);
      bytes.copy(r.buf, from - r.offset, from - at.pos, to - at.pos);
      r.filled += to - from;
    }
    if (r.offset + r.length <= end && i === at.next) at.next++;
  }
}

function fill(ev: HttpExchangeEvent, wanted: Map<string, Range[]>): HttpExchangeEvent {
  const resolve = (b: RecordedBody | undefined): RecordedBody | undefined => {
    if (!b?.ref) return b;
    const list = wanted.get(keyOf(ev.seq, b.ref.connection, b.ref.channel));
    const r = list?.find((x) => x.offset === b.ref!.offset && x.length === b.ref!.length);
    // The raw bytes it refers to are not (all) in the recording: only the body's size is known.
    if (!r || r.filled !== r.length || !r.buf) return { ...b, data: '', truncated: true };
    const bytes = r.buf;
    // Each range has one event: let its bytes go once used, so what is held stays bounded.
    r.buf = undefined;
    r.filled = -1;
    const rec = encodeBytes(bytes, b.truncated, b.size, true);
    const out: RecordedBody = { ...rec, ref: b.ref };
    if (b.contentType) out.contentType = b.contentType;
    return out;
  };
  const copy: HttpExchangeEvent = { ...ev, request: { ...ev.request } };
  const rq = resolve(ev.request.body);
  if (rq) copy.request.body = rq;
  if (ev.response) {
    copy.response = { ...ev.response };
    const rs = resolve(ev.response.body);
    if (rs) copy.response.body = rs;
  }
  return copy;
}
