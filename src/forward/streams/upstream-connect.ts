// Reaching the cluster for one exec/attach/port-forward: WebSocket first,
// SPDY/3.1 when the WebSocket upgrade is refused. Network failures are not
// retried over SPDY (they would fail the same way).
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { SpdyConnection } from '../spdy/connection.js';
import { EXEC_SPDY_PROTOCOLS, PORT_FORWARD_SPDY_PROTOCOL, PORT_FORWARD_TUNNEL_PROTOCOL, UPSTREAM_EXEC_WEBSOCKET_OFFER } from './protocols.js';
import { UpstreamRefusal, dialSpdyUpstream, dialWebSocket, type DialTarget } from '../upstream-dial.js';

export type UpstreamSession =
  { transport: 'websocket'; ws: WebSocket; protocol: string } | { transport: 'spdy'; connection: SpdyConnection; socket: Duplex; protocol: string };

export async function connectUpstream(kind: 'exec' | 'portforward', target: DialTarget): Promise<UpstreamSession> {
  const wsOffer = kind === 'portforward' ? [PORT_FORWARD_TUNNEL_PROTOCOL] : UPSTREAM_EXEC_WEBSOCKET_OFFER;
  const spdyOffer = kind === 'portforward' ? [PORT_FORWARD_SPDY_PROTOCOL] : EXEC_SPDY_PROTOCOLS.map((p) => p.name);
  try {
    const d = await dialWebSocket(target, wsOffer);
    return { transport: 'websocket', ws: d.ws, protocol: d.protocol };
  } catch (err) {
    if (!(err instanceof UpstreamRefusal)) throw err;
  }
  const d = await dialSpdyUpstream(target, spdyOffer);
  return { transport: 'spdy', connection: d.connection, socket: d.socket, protocol: d.protocol };
}

/** Abandons a session that will not be used (the client went away meanwhile). */
export function dropUpstream(s: UpstreamSession): void {
  if (s.transport === 'websocket') s.ws.terminate();
  else s.connection.destroy();
}
