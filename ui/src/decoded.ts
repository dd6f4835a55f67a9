// What kubetape decoded from a port-forward connection (or a proxied
// request), shown under its raw bytes: the HTTP exchanges with their headers
// and bodies, WebSocket frames, MCP messages with their tool and arguments,
// and the decoder's note on what the connection carried (TLS stays opaque).
// Everything recorded is set as text; the raw bytes above stay the evidence.
import type { DecodeNoteEvent, HttpExchangeEvent, McpMessageEvent, RecordEvent, WebSocketFrameEvent } from '../../src/model/recording.js';
import { h, visibleControls } from './dom.js';
import { duration } from './format.js';
import { bodyBlock, headersTable } from './bodies.js';

export type DecodedEvent = HttpExchangeEvent | WebSocketFrameEvent | DecodeNoteEvent | McpMessageEvent;

/** Frames and messages listed at most per connection (the raw bytes hold them all). */
const MAX_LISTED = 500;

const OPCODES: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

const NOTES: Record<DecodeNoteEvent['protocol'], string> = {
  http: 'decoded as HTTP/1.x',
  tls: 'TLS: encrypted, so only its raw bytes are recorded',
  binary: 'not HTTP: binary, left raw',
  text: 'not HTTP: text, left raw',
  error: 'the decoder gave up here; the rest is raw only',
};

export function isDecoded(ev: RecordEvent): ev is DecodedEvent {
  return ev.type === 'http.exchange' || ev.type === 'ws.frame' || ev.type === 'decode.note' || ev.type === 'mcp.message';
}

/** One connection's decoded traffic, or nothing when the decoder recorded none. */
export function renderDecoded(events: DecodedEvent[]): HTMLElement | string {
  if (!events.length) return '';
  const notes = events.filter((e): e is DecodeNoteEvent => e.type === 'decode.note');
  const exchanges = events.filter((e): e is HttpExchangeEvent => e.type === 'http.exchange');
  const frames = events.filter((e): e is WebSocketFrameEvent => e.type === 'ws.frame');
  const mcp = events.filter((e): e is McpMessageEvent => e.type === 'mcp.message');
  return h(
    'div',
    { class: 'decoded' },
    ...notes.map((n) =>
      h('p', { class: `decode-note ${n.protocol}`, data: { protocol: n.protocol } }, NOTES[n.protocol] ?? n.protocol, n.note ? ` (${n.note})` : ''),
    ),
    exchanges.length ? h('h5', null, `HTTP · ${exchanges.length} exchange${exchanges.length === 1 ? '' : 's'}`) : '',
    exchanges.length ? h('ol', { class: 'http-exchanges' }, ...exchanges.map(exchangeItem)) : '',
    frames.length ? h('h5', null, `WebSocket · ${frames.length} frame${frames.length === 1 ? '' : 's'}`) : '',
    frames.length ? h('ol', { class: 'ws-frames' }, ...frames.slice(0, MAX_LISTED).map(frameItem)) : '',
    mcp.length ? renderMcpMessages(mcp) : '',
  );
}

function exchangeItem(x: HttpExchangeEvent): HTMLElement {
  const rq = x.request;
  const rs = x.response;
  const line = [
    `${rq.method} ${rq.target} ${rs ? `→ ${rs.status} ${rs.reason}` : '→ no response'}`,
    x.durationMs !== undefined ? duration(x.durationMs) : '',
    x.upgrade ? `upgraded to ${x.upgrade}` : '',
    x.sseEvents ? `${x.sseEvents} server-sent events` : '',
    x.incomplete ? `${x.incomplete} cut off` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return h(
    'li',
    { class: `http-exchange ${rs && rs.status >= 400 ? 'bad' : ''}`, data: { exchange: String(x.index) } },
    h(
      'details',
      null,
      h('summary', null, h('code', null, visibleControls(line))),
      h('h6', null, 'request headers'),
      headersTable(rq.headers),
      bodyBlock(`request body${rq.decodedFrom ? ` (${rq.decodedFrom} undone)` : ''}`, rq.body),
      rs ? h('h6', null, 'response headers') : '',
      rs ? headersTable(rs.headers) : '',
      rs ? bodyBlock(`response body${rs.decodedFrom ? ` (${rs.decodedFrom} undone)` : ''}`, rs.body) : '',
    ),
  );
}

function frameItem(f: WebSocketFrameEvent): HTMLElement {
  return h(
    'li',
    { class: `ws-frame ${f.direction}` },
    h('span', { class: 't' }, `+${f.offsetMs} ms ${f.direction === 'in' ? 'client → pod' : 'pod → client'} ${OPCODES[f.opcode] ?? `opcode ${f.opcode}`}`),
    f.compressed ? ' (compressed as sent)' : '',
    bodyBlock('payload', f.payload),
  );
}

/** MCP messages: who sent what, the tool and its arguments, the result or error, as JSON text. */
export function renderMcpMessages(messages: McpMessageEvent[]): HTMLElement {
  return h(
    'div',
    { class: 'mcp' },
    h('h5', null, `MCP · ${messages.length} message${messages.length === 1 ? '' : 's'}`),
    h(
      'ol',
      { class: 'mcp-messages' },
      ...messages.slice(0, MAX_LISTED).map((m) => {
        const what = [m.from, m.kind, m.method, m.tool ? `tool ${m.tool}` : '', m.id !== undefined ? `id ${m.id}` : '', m.isError ? 'tool error' : '']
          .filter(Boolean)
          .join(' · ');
        const payload = m.error ?? m.result ?? m.params;
        return h(
          'li',
          { class: `mcp-message ${m.error || m.isError ? 'bad' : ''}`, data: { kind: m.kind, ...(m.method ? { method: m.method } : {}) } },
          h('span', { class: 't' }, `+${m.offsetMs} ms `),
          visibleControls(what),
          m.serverInfo ? ` · server ${m.serverInfo.name} ${m.serverInfo.version ?? ''}` : '',
          m.clientInfo ? ` · client ${m.clientInfo.name} ${m.clientInfo.version ?? ''}` : '',
          payload !== undefined
            ? h('pre', { class: 'code json' }, visibleControls(typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2)))
            : '',
        );
      }),
    ),
  );
}
