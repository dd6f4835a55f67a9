// Stream recordings shown outside the terminal: non-TTY exec output in two
// lanes (stdout, stderr) plus what was sent on stdin, and port-forward
// connections with their bytes both ways (text where it is text, hex
// otherwise), with the traffic decoded from them (decoded.ts). Control
// characters are made visible, never interpreted.
import type { StreamEvent } from '../../src/model/recording.js';
import { h } from './dom.js';
import { asText, bodyBytes, bytes, hexDump } from './format.js';
import { visibleControls } from './dom.js';
import { renderDecoded, type DecodedEvent } from './decoded.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function shown(data: Uint8Array): { text: string; kind: 'text' | 'hex' } {
  const t = asText(data);
  return t === undefined ? { text: hexDump(data), kind: 'hex' } : { text: visibleControls(t), kind: 'text' };
}

function lane(title: string, cls: string, data: Uint8Array): HTMLElement {
  const s = shown(data);
  return h(
    'div',
    { class: `lane ${cls}`, data: { lane: cls } },
    h('h4', null, `${title} · ${bytes(data.length)}${s.kind === 'hex' ? ' · hex' : ''}`),
    h('pre', { class: s.kind }, s.text),
  );
}

/** exec without a terminal: stdout and stderr side by side, stdin above. */
export function renderLanes(events: StreamEvent[]): HTMLElement {
  const by = (c: string) => concat(events.filter((e) => e.channel === c).map((e) => bodyBytes(e)));
  const stdin = by('stdin');
  return h(
    'div',
    { class: 'lanes-box' },
    stdin.length ? lane('stdin', 'stdin', stdin) : '',
    h('div', { class: 'lanes' }, lane('stdout', 'stdout', by('stdout')), lane('stderr', 'stderr', by('stderr'))),
  );
}

/** port-forward: one block per connection, its raw bytes both ways and what was decoded from them. */
export function renderConnections(events: StreamEvent[], decoded: DecodedEvent[] = []): HTMLElement {
  const conns = new Map<number, StreamEvent[]>();
  for (const e of events) {
    const c = e.connection ?? 0;
    let list = conns.get(c);
    if (!list) conns.set(c, (list = []));
    list.push(e);
  }
  const box = h('div', { class: 'connections' });
  for (const [n, evs] of conns) {
    const port = evs.find((e) => e.port !== undefined)?.port;
    const join = (c: string) => concat(evs.filter((e) => e.channel === c).map((e) => bodyBytes(e)));
    const err = join('error');
    const closed = evs.find((e) => e.channel === 'close');
    box.append(
      h(
        'section',
        { class: 'connection', data: { connection: String(n) } },
        h('h4', null, `connection ${n}${port !== undefined ? ` · port ${port}` : ''}${closed ? ` · closed at ${closed.offsetMs} ms` : ''}`),
        h('div', { class: 'lanes' }, lane('client → pod', 'in', join('in')), lane('pod → client', 'out', join('out'))),
        err.length ? lane('error', 'error', err) : '',
        renderDecoded(decoded.filter((d) => d.connection === n)),
      ),
    );
  }
  if (!conns.size) box.append(h('p', null, 'No connection was opened.'));
  return box;
}
