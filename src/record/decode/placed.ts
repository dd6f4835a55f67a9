// Decoded events placed in their session: the exchange's session and seq,
// the offset from its start. And the bound on how much decoding may add.
import type { DecodedEvent, McpMessageEvent, RecordedBody } from '../../model/recording.js';
import type { MaskPattern } from '../../mask/patterns.js';
import { proxyMcpMessages } from './proxy-mcp.js';
import type { UnplacedEvent } from './types.js';

/**
 * What decoded events of one port-forward may take beyond the bytes it
 * carried: the whole decoded record stays under (traffic + this), so
 * decoding cannot grow a recording faster than the raw bound allows.
 */
export const DECODE_ALLOWANCE = 256 * 1024;

export function placeDecoded(u: UnplacedEvent, session: string, seq: number, started: number): DecodedEvent {
  const { at, ...rest } = u;
  return { ...rest, session, seq, offsetMs: Math.max(0, at - started) };
}

/**
 * A decoded event's stored size, estimated without encoding its bodies
 * twice (the store encodes it once when it writes): the envelope as JSON,
 * body and payload data counted by length (text data may take up to twice
 * that as JSON; base64 is exact).
 */
export function decodedSize(ev: DecodedEvent): number {
  const bodies: Array<RecordedBody | undefined> =
    ev.type === 'http.exchange' ? [ev.request.body, ev.response?.body] : ev.type === 'ws.frame' ? [ev.payload] : [];
  let big = 0;
  for (const b of bodies) if (b) big += b.encoding === 'base64' ? b.data.length : 2 * b.data.length;
  if (big < 4096) return Buffer.byteLength(JSON.stringify(ev)) + 81;
  const blank = (b: RecordedBody | undefined): RecordedBody | undefined => (b ? { ...b, data: '' } : undefined);
  const envelope =
    ev.type === 'http.exchange'
      ? {
          ...ev,
          request: { ...ev.request, body: blank(ev.request.body) },
          response: ev.response ? { ...ev.response, body: blank(ev.response.body) } : undefined,
        }
      : ev.type === 'ws.frame'
        ? { ...ev, payload: blank(ev.payload) }
        : ev;
  return Buffer.byteLength(JSON.stringify(envelope)) + big + 81;
}

export function decodeSpentNote(u: UnplacedEvent): UnplacedEvent {
  return {
    type: 'decode.note',
    at: u.at,
    connection: 'connection' in u && typeof u.connection === 'number' ? u.connection : 0,
    protocol: 'error',
    note: `decoded events reached their bound (the bytes forwarded plus ${DECODE_ALLOWANCE / 1024} KiB): decoding stopped, the raw bytes stay the record`,
  };
}

/** MCP messages of a proxy-subresource exchange as events. */
export function proxyMcpEvents(
  req: { method: string; body?: RecordedBody },
  response: RecordedBody | undefined,
  o: { session: string; seq: number; offsetMs: number; limit: number; patterns: MaskPattern[] },
): McpMessageEvent[] {
  return proxyMcpMessages(req.body, response, { method: req.method, limit: o.limit, patterns: o.patterns }).map((m) => ({
    type: 'mcp.message',
    session: o.session,
    seq: o.seq,
    offsetMs: o.offsetMs,
    ...m,
  }));
}
