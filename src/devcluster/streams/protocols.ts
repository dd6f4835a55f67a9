// Which stream protocol a real cluster picks for each kind of upgrade.
//
// WebSocket exec/attach: since 1.30 the API server itself terminates a
// WebSocket that offers v5.channel.k8s.io anywhere in its list (the stream
// translator, which speaks only v5); any other WebSocket goes through to the
// kubelet, whose wsstream handshake takes the FIRST protocol in the client's
// list that it supports ("" when none was offered). v2/v3 exist only on SPDY.
// Port-forward: a WebSocket offering SPDY/3.1+portforward.k8s.io is tunnelled;
// otherwise the kubelet's v4 channel framing, negotiated the same way.
// SPDY: httpstream.Handshake takes the first X-Stream-Protocol-Version the
// client lists that the server supports; no header at all means v1.
import type { IncomingMessage } from 'node:http';

export const V5 = 'v5.channel.k8s.io';
export const V4 = 'v4.channel.k8s.io';
export const V4_BASE64 = 'v4.base64.channel.k8s.io';
export const V3 = 'v3.channel.k8s.io';
export const V2 = 'v2.channel.k8s.io';
export const V1 = 'channel.k8s.io';
export const V1_BASE64 = 'base64.channel.k8s.io';
export const PORT_FORWARD_SPDY = 'portforward.k8s.io';
export const PORT_FORWARD_TUNNEL = 'SPDY/3.1+portforward.k8s.io';

/** The kubelet's WebSocket exec/attach protocols ('' = no subprotocol offered). */
const KUBELET_EXEC_WEBSOCKET = ['', V1, V1_BASE64, V4, V4_BASE64];
/** The kubelet's WebSocket port-forward protocols. */
const KUBELET_PORT_FORWARD_WEBSOCKET = ['', V4, V4_BASE64];
export const SPDY_EXEC_PROTOCOLS = [V5, V4, V3, V2, V1];
export const SPDY_PORT_FORWARD_PROTOCOLS = [PORT_FORWARD_SPDY];

export interface WebSocketChoice {
  /** The subprotocol to answer with ('' = none, when none was offered). */
  protocol: string;
  /** Messages are text: a channel digit, then base64. */
  base64: boolean;
  /** Who would have answered in a real cluster. */
  endpoint: 'apiserver' | 'kubelet';
}

/** Sec-WebSocket-Protocol values in the client's order (Node joins repeated headers with ', '). */
export function offeredWebSocketProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  const values: string[] = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

function kubeletPick(offered: string[], supported: string[]): WebSocketChoice | undefined {
  const candidates = offered.length === 0 ? [''] : offered;
  const protocol = candidates.find((p) => supported.includes(p));
  if (protocol === undefined) return undefined;
  return { protocol, base64: protocol.includes('base64'), endpoint: 'kubelet' };
}

/** exec/attach over WebSocket; undefined = the handshake fails (403 in a real cluster). */
export function chooseExecWebSocketProtocol(offered: string[]): WebSocketChoice | undefined {
  if (offered.includes(V5)) return { protocol: V5, base64: false, endpoint: 'apiserver' };
  return kubeletPick(offered, KUBELET_EXEC_WEBSOCKET);
}

export type PortForwardWebSocketChoice = WebSocketChoice & { tunnel: boolean };

export function choosePortForwardWebSocketProtocol(offered: string[]): PortForwardWebSocketChoice | undefined {
  if (offered.includes(PORT_FORWARD_TUNNEL)) return { protocol: PORT_FORWARD_TUNNEL, base64: false, endpoint: 'apiserver', tunnel: true };
  const pick = kubeletPick(offered, KUBELET_PORT_FORWARD_WEBSOCKET);
  return pick && { ...pick, tunnel: false };
}

/** Status on the error channel as metav1.Status JSON (v4, v5) or as bare error text (older protocols). */
export function statusIsJson(protocol: string): boolean {
  return protocol === V5 || protocol === V4 || protocol === V4_BASE64;
}

/** SPDY v1/v2 have no resize stream. */
export function spdySupportsResize(protocol: string): boolean {
  return protocol === V5 || protocol === V4 || protocol === V3;
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const connection = String(req.headers.connection ?? '').toLowerCase();
  return upgrade === 'websocket' && connection.split(',').some((t) => t.trim() === 'upgrade');
}

/** Go's strconv.ParseBool truth values, as the API server decodes exec/attach query flags. */
export function queryFlag(q: URLSearchParams, name: string): boolean {
  return ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(q.get(name) ?? '');
}
