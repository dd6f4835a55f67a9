// One port-forward after the cluster accepted kubetape's upgrade: the
// upstream becomes a SPDY session (direct or tunnelled), the client end is
// whichever of the three client protocols it spoke, and the bridge joins them.
import type { PortForwardRequest } from '../../model/recording.js';
import { SpdyConnection } from '../spdy/connection.js';
import { acceptSpdyUpgrade } from '../spdy/upgrade.js';
import type { ClientPlan } from './client-negotiation.js';
import type { UpgradeContext } from './exec-session.js';
import { bridgePortForward } from './portforward-bridge.js';
import { SpdyPortForwardClient } from './portforward-client-spdy.js';
import { WebSocketPortForwardClient } from './portforward-client-websocket.js';
import type { PortForwardClientEnd } from './portforward-types.js';
import { PortForwardUpstream } from './portforward-upstream.js';
import { PORT_FORWARD_TUNNEL_PROTOCOL } from './protocols.js';
import { dropUpstream, type UpstreamSession } from './upstream-connect.js';
import { keepAlive, webSocketByteStream } from './websocket-io.js';

type PortForwardPlan = Extract<ClientPlan, { kind: 'portforward-tunnel' | 'portforward-websocket' | 'portforward-spdy' }>;

export async function runPortForward(c: UpgradeContext, plan: PortForwardPlan, request: PortForwardRequest, upstream: UpstreamSession): Promise<void> {
  let client: PortForwardClientEnd;
  try {
    client = await acceptClient(c, plan, request);
  } catch (err) {
    dropUpstream(upstream);
    c.exchange.finish(`the client's side of the upgrade failed: ${(err as Error).message}`, plan.kind === 'portforward-spdy' ? 101 : 400);
    return;
  }
  await bridgePortForward(client, upstreamEnd(upstream), c.exchange);
}

async function acceptClient(c: UpgradeContext, plan: PortForwardPlan, request: PortForwardRequest): Promise<PortForwardClientEnd> {
  if (plan.kind === 'portforward-spdy') {
    const conn = acceptSpdyUpgrade(c.req, c.socket, c.head, plan.protocol);
    return new SpdyPortForwardClient(
      conn,
      `spdy ${plan.protocol || '(none)'}`,
      () => c.socket.pause(),
      () => c.socket.resume(),
      () => c.socket.writableLength,
    );
  }
  if (plan.kind === 'portforward-tunnel') {
    const ws = await c.acceptor.accept(c.req, c.socket, c.head, PORT_FORWARD_TUNNEL_PROTOCOL);
    ws.on('error', () => undefined);
    const bytes = webSocketByteStream(ws);
    const conn = new SpdyConnection(bytes, { role: 'server' });
    return new SpdyPortForwardClient(
      conn,
      `websocket ${PORT_FORWARD_TUNNEL_PROTOCOL}`,
      () => ws.pause(),
      () => ws.resume(),
      () => ws.bufferedAmount + bytes.writableLength,
    );
  }
  const ws = await c.acceptor.accept(c.req, c.socket, c.head, plan.protocol.name);
  return new WebSocketPortForwardClient(ws, plan.protocol, request.ports);
}

function upstreamEnd(s: UpstreamSession): PortForwardUpstream {
  if (s.transport === 'spdy') {
    return new PortForwardUpstream(
      s.connection,
      `spdy ${s.protocol}`,
      () => s.socket.pause(),
      () => s.socket.resume(),
    );
  }
  const ws = s.ws;
  ws.on('error', () => undefined);
  keepAlive(ws, 5000);
  const conn = new SpdyConnection(webSocketByteStream(ws), { role: 'client', pingIntervalMs: 5000 });
  ws.resume();
  return new PortForwardUpstream(
    conn,
    `websocket ${s.protocol}`,
    () => ws.pause(),
    () => ws.resume(),
  );
}
