// `kubetape replay` of a port-forward: each connection's transcript. A
// connection decoded as HTTP reads as its exchanges (request line, headers,
// body; status, headers, body) and any WebSocket frames after an upgrade;
// any other connection as text (> in, < out) or, for binary, a hex dump of
// what was recorded. Read in one pass; what is kept per connection is
// bounded (SHOWN_BYTES of raw data per direction).
import type { DecodeNoteEvent, HttpExchangeEvent, RecordEvent, RecordedBody, StreamEvent, WebSocketFrameEvent } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';
import { resolveBodyRefs } from '../record/decode/body-refs.js';
import { humanBytes } from './format.js';
import { decodedBytes, hexDump, safeLine, safeText } from './decoded-text.js';
import { looksLikeText } from '../record/looks-like-text.js';

/** Raw bytes kept per connection and direction for a text or hex transcript. */
const SHOWN_BYTES = 64 * 1024;
/** Body bytes printed per message. */
const BODY_SHOWN = 4096;

interface Conn {
  seq: number;
  n: number;
  port?: number;
  openedMs: number;
  note?: DecodeNoteEvent;
  exchanges: HttpExchangeEvent[];
  frames: WebSocketFrameEvent[];
  raw: Array<{ dir: 'in' | 'out'; at: number; data: Buffer }>;
  kept: { in: number; out: number };
  total: { in: number; out: number };
  error: string;
}

/** Which kind of streamed request a session (or its request `seq`) holds first: a port-forward or a terminal. */
export async function streamKind(store: RecordingStore, id: string, seq?: number): Promise<'portforward' | 'terminal' | undefined> {
  for await (const ev of store.readSession(id)) {
    if (ev.type !== 'request' || (seq !== undefined && ev.seq !== seq)) continue;
    if (ev.portForward) return 'portforward';
    if (ev.exec) return 'terminal';
    if (seq !== undefined) return undefined;
  }
  return undefined;
}

export async function portForwardTranscript(store: RecordingStore, id: string, o: { seq?: number; connection?: number }): Promise<string> {
  const conns = new Map<string, Conn>();
  const forwards = new Map<number, number[]>();
  const get = (seq: number, n: number, at: number): Conn => {
    const k = `${seq}/${n}`;
    let c = conns.get(k);
    if (!c) conns.set(k, (c = { seq, n, openedMs: at, exchanges: [], frames: [], raw: [], kept: { in: 0, out: 0 }, total: { in: 0, out: 0 }, error: '' }));
    return c;
  };
  for await (const ev of resolveBodyRefs(() => store.readSession(id))) {
    if (ev.type === 'request' && ev.portForward && (o.seq === undefined || ev.seq === o.seq)) forwards.set(ev.seq, ev.portForward.ports);
    if (!('seq' in ev) || !forwards.has(ev.seq) || !('connection' in ev) || typeof ev.connection !== 'number') continue;
    if (o.connection !== undefined && ev.connection !== o.connection) continue;
    take(get(ev.seq, ev.connection, 'offsetMs' in ev ? ev.offsetMs : 0), ev);
  }
  if (forwards.size === 0) return '';
  const out: string[] = [];
  for (const c of [...conns.values()].sort((a, b) => a.seq - b.seq || a.n - b.n)) out.push(render(c));
  if (out.length === 0) out.push(o.connection !== undefined ? `no connection ${o.connection} in this port-forward\n` : 'no connections were recorded\n');
  return out.join('\n');
}

function take(c: Conn, ev: RecordEvent): void {
  if (ev.type === 'http.exchange') c.exchanges.push(ev);
  else if (ev.type === 'ws.frame') c.frames.push(ev);
  else if (ev.type === 'decode.note') c.note ??= ev;
  else if (ev.type === 'stream') takeStream(c, ev);
}

function takeStream(c: Conn, ev: StreamEvent): void {
  if (ev.channel === 'open') {
    c.openedMs = ev.offsetMs;
    if (ev.port !== undefined) c.port = ev.port;
    return;
  }
  const data = ev.encoding === 'base64' ? Buffer.from(ev.data, 'base64') : Buffer.from(ev.data, 'utf8');
  if (ev.channel === 'error') c.error += data.toString('utf8').slice(0, 1024);
  if (ev.channel !== 'in' && ev.channel !== 'out') return;
  c.total[ev.channel] += data.length;
  const room = SHOWN_BYTES - c.kept[ev.channel];
  if (room <= 0) return;
  const part = data.length <= room ? data : data.subarray(0, room);
  c.kept[ev.channel] += part.length;
  c.raw.push({ dir: ev.channel, at: ev.offsetMs, data: part });
}

function render(c: Conn): string {
  const out: string[] = [];
  const kind = c.note?.protocol ?? (c.exchanges.length > 0 ? 'http' : 'raw');
  const what = kind === 'http' ? `HTTP, ${c.exchanges.length} exchange${c.exchanges.length === 1 ? '' : 's'}` : kind;
  out.push(
    `== port-forward seq ${c.seq}, connection ${c.n}${c.port !== undefined ? `, port ${c.port}` : ''}: ${what}; in ${humanBytes(c.total.in)}, out ${humanBytes(c.total.out)}`,
  );
  if (c.note?.note) out.push(`   (${safeLine(c.note.note, 200)})`);
  if (c.error) out.push(`   error: ${safeLine(c.error, 300)}`);
  if (kind === 'http') {
    for (const x of c.exchanges.sort((a, b) => a.index - b.index)) out.push(...exchange(x));
    for (const f of c.frames) out.push(frame(f));
    const decodeError = c.note?.protocol === 'error';
    if (decodeError) out.push(...rawPart(c));
  } else out.push(...rawPart(c));
  return out.join('\n') + '\n';
}

function at(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

function exchange(x: HttpExchangeEvent): string[] {
  const out: string[] = [];
  const pad = ' '.repeat(at(x.offsetMs).length + 5);
  out.push(`${at(x.offsetMs)} --> ${safeLine(`${x.request.method} ${x.request.target} ${x.request.version}`, 300)}`);
  for (const [n, v] of x.request.headers) out.push(`${pad}${safeLine(`${n}: ${v}`, 300)}`);
  out.push(...body(x.request.body, pad, x.request.decodedFrom));
  if (x.incomplete === 'request') out.push(`${pad}(the connection ended before the request was complete)`);
  if (x.response) {
    const took = x.durationMs !== undefined ? ` (${x.durationMs}ms)` : '';
    out.push(`${at(x.offsetMs + (x.durationMs ?? 0))} <-- ${safeLine(`${x.response.version} ${x.response.status} ${x.response.reason}`, 300)}${took}`);
    for (const [n, v] of x.response.headers) out.push(`${pad}${safeLine(`${n}: ${v}`, 300)}`);
    out.push(...body(x.response.body, pad, x.response.decodedFrom));
    if (x.sseEvents !== undefined) out.push(`${pad}(${x.sseEvents} server-sent events)`);
  }
  if (x.incomplete === 'response') out.push(`${pad}(the connection ended before the response was complete)`);
  if (x.upgrade) out.push(`${pad}(switched to ${safeLine(x.upgrade, 40)}; frames follow)`);
  return out;
}

function body(b: RecordedBody | undefined, pad: string, decodedFrom: string | undefined): string[] {
  if (!b) return [];
  const out = [`${pad}`];
  const note = [
    `${humanBytes(b.size)}`,
    decodedFrom ? `${decodedFrom} decoded` : '',
    b.truncated ? 'cut at the recording limit' : '',
    b.redacted ? `redacted: ${b.redacted}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  if (b.redacted) return [...out, `${pad}[body ${note}]`];
  const bytes = decodedBytes(b);
  if (b.encoding === 'utf8') {
    const text = safeText(bytes.subarray(0, BODY_SHOWN).toString('utf8'));
    out.push(...text.split('\n').map((l) => `${pad}${l}`));
  } else out.push(hexDump(bytes.subarray(0, 256), pad));
  if (bytes.length > BODY_SHOWN || b.truncated || b.encoding !== 'utf8') out.push(`${pad}[body ${note}]`);
  return out;
}

function frame(f: WebSocketFrameEvent): string {
  const names: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
  const kind = names[f.opcode] ?? `opcode ${f.opcode}`;
  const data = f.payload.encoding === 'utf8' ? safeLine(f.payload.data, 300) : `${humanBytes(f.payload.size)} binary`;
  return `${at(f.offsetMs)} ${f.direction === 'in' ? '-->' : '<--'} ws ${kind}${f.compressed ? ' (compressed)' : ''}: ${data}`;
}

function rawPart(c: Conn): string[] {
  const out: string[] = [];
  const all = Buffer.concat(c.raw.map((r) => r.data));
  const text = all.length === 0 || looksLikeText(all, true);
  for (const r of c.raw) {
    const mark = r.dir === 'in' ? '>' : '<';
    if (text)
      out.push(
        ...safeText(r.data.toString('utf8'))
          .split('\n')
          .filter((l, i, a) => l !== '' || i < a.length - 1)
          .map((l) => `${mark} ${l}`),
      );
    else out.push(`${at(r.at)} ${r.dir === 'in' ? '-->' : '<--'} ${r.data.length} B`, hexDump(r.data, '  '));
  }
  const more = c.total.in - c.kept.in + (c.total.out - c.kept.out);
  if (more > 0) out.push(`... ${humanBytes(more)} more not shown (sessions show --json has every byte)`);
  return out;
}
