// Which protocol kubetape will speak with the client, decided from the
// upgrade request alone (before anything is dialed), the way the kubelet and
// the API server choose: the client's most preferred protocol we support.
import type { IncomingMessage } from 'node:http';
import type { PortForwardRequest } from '../../model/recording.js';
import { isSpdyUpgrade, offeredStreamProtocols } from '../spdy/upgrade.js';
import {
  BEARER_PROTOCOL_PREFIX,
  EXEC_SPDY_PROTOCOLS,
  EXEC_WEBSOCKET_DEFAULT,
  EXEC_WEBSOCKET_PROTOCOLS,
  PORT_FORWARD_SPDY_PROTOCOL,
  PORT_FORWARD_TUNNEL_PROTOCOL,
  PORT_FORWARD_WEBSOCKET_PROTOCOLS,
  offeredWebSocketProtocols,
  pickProtocol,
  type ExecSpdyProtocol,
  type ExecWebSocketProtocol,
  type PortForwardWebSocketProtocol,
} from './protocols.js';
import type { StreamKind } from './stream-request.js';

export type ClientPlan =
  | { kind: 'exec-websocket'; protocol: ExecWebSocketProtocol }
  | { kind: 'exec-spdy'; protocol: ExecSpdyProtocol }
  | { kind: 'portforward-tunnel' }
  | { kind: 'portforward-websocket'; protocol: PortForwardWebSocketProtocol }
  | { kind: 'portforward-spdy'; protocol: string };

export type Negotiated = { ok: true; plan: ClientPlan } | { ok: false; code: number; message: string };

export type ClientTransport = 'websocket' | 'spdy';

export function clientTransport(req: IncomingMessage): ClientTransport | undefined {
  if (isSpdyUpgrade(req)) return 'spdy';
  const upgrade = req.headers.upgrade;
  if (typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket') return 'websocket';
  return undefined;
}

/** Sec-WebSocket-Protocol values that name a protocol (a bearer token carried there is not one). */
export function offeredChannelProtocols(req: IncomingMessage): string[] {
  return offeredWebSocketProtocols(req.headers['sec-websocket-protocol']).filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
}

export function negotiateClient(req: IncomingMessage, kind: StreamKind, transport: ClientTransport, portForward?: PortForwardRequest): Negotiated {
  if (transport === 'spdy') {
    const offered = offeredStreamProtocols(req);
    if (kind === 'portforward') {
      if (offered.length === 0 || offered.includes(PORT_FORWARD_SPDY_PROTOCOL)) {
        return { ok: true, plan: { kind: 'portforward-spdy', protocol: offered.length === 0 ? '' : PORT_FORWARD_SPDY_PROTOCOL } };
      }
      return refusedSpdy(offered, [PORT_FORWARD_SPDY_PROTOCOL]);
    }
    // No header at all is a client from before negotiation: the kubelet gives it v1.
    if (offered.length === 0) return { ok: true, plan: { kind: 'exec-spdy', protocol: EXEC_SPDY_PROTOCOLS[EXEC_SPDY_PROTOCOLS.length - 1] } };
    const p = pickProtocol(offered, EXEC_SPDY_PROTOCOLS);
    return p
      ? { ok: true, plan: { kind: 'exec-spdy', protocol: p } }
      : refusedSpdy(
          offered,
          EXEC_SPDY_PROTOCOLS.map((x) => x.name),
        );
  }

  const offered = offeredChannelProtocols(req);
  if (kind === 'portforward') {
    // The tunnel wins when offered: it carries any number of connections.
    if (offered.includes(PORT_FORWARD_TUNNEL_PROTOCOL)) return { ok: true, plan: { kind: 'portforward-tunnel' } };
    const p = offered.length === 0 ? { name: '', binary: true } : pickProtocol(offered, PORT_FORWARD_WEBSOCKET_PROTOCOLS);
    if (!p) return refusedWebSocket(offered, [PORT_FORWARD_TUNNEL_PROTOCOL, ...PORT_FORWARD_WEBSOCKET_PROTOCOLS.map((x) => x.name)]);
    if (!portForward || portForward.ports.length === 0) return { ok: false, code: 400, message: 'query parameter "ports" is required' };
    return { ok: true, plan: { kind: 'portforward-websocket', protocol: p } };
  }
  const p = offered.length === 0 ? EXEC_WEBSOCKET_DEFAULT : pickProtocol(offered, EXEC_WEBSOCKET_PROTOCOLS);
  return p
    ? { ok: true, plan: { kind: 'exec-websocket', protocol: p } }
    : refusedWebSocket(
        offered,
        EXEC_WEBSOCKET_PROTOCOLS.map((x) => x.name),
      );
}

function refusedSpdy(offered: string[], supported: string[]): Negotiated {
  return {
    ok: false,
    code: 403,
    message: `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}`,
  };
}

function refusedWebSocket(offered: string[], supported: string[]): Negotiated {
  return {
    ok: false,
    code: 400,
    message: `requested WebSocket subprotocols are not supported: ${JSON.stringify(offered)}; supported: ${JSON.stringify(supported)}`,
  };
}
