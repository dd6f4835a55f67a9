// The names and traits of every streaming protocol Kubernetes clients speak
// for exec, attach and port-forward, and the choice among them. The traits
// are what translation needs: whether the error channel carries a Status as
// JSON (v4+, with the exit code) or a bare message (v1..v3), whether stdin
// can be closed on its own (WebSocket v5), whether a resize channel exists.

/** Channel numbers of the WebSocket exec/attach framing (byte 0 of each message). */
export const ExecChannel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** The error channel: the final Status (or message). */
  status: 3,
  resize: 4,
  /** v5 only: `[255, n]` closes channel n (stdin EOF is `[255, 0]`). */
  close: 255,
} as const;

export interface ExecWebSocketProtocol {
  name: string;
  /** false: text messages, a '0'+channel character, then base64. */
  binary: boolean;
  /** The error channel carries a JSON Status (exit codes survive). */
  statusJson: boolean;
  /** Supports `[255, channel]` to close one channel (stdin EOF). */
  closeSignal: boolean;
}

/** WebSocket subprotocols for exec/attach, most capable first (the order kubetape offers upstream). */
export const EXEC_WEBSOCKET_PROTOCOLS: readonly ExecWebSocketProtocol[] = [
  { name: 'v5.channel.k8s.io', binary: true, statusJson: true, closeSignal: true },
  { name: 'v4.channel.k8s.io', binary: true, statusJson: true, closeSignal: false },
  { name: 'v4.base64.channel.k8s.io', binary: false, statusJson: true, closeSignal: false },
  { name: 'channel.k8s.io', binary: true, statusJson: false, closeSignal: false },
  { name: 'base64.channel.k8s.io', binary: false, statusJson: false, closeSignal: false },
];

/** What a WebSocket client that names no subprotocol gets, as the kubelet does. */
export const EXEC_WEBSOCKET_DEFAULT: ExecWebSocketProtocol = { name: '', binary: true, statusJson: false, closeSignal: false };

/** Protocols kubetape offers when it dials the cluster over WebSocket. */
export const UPSTREAM_EXEC_WEBSOCKET_OFFER = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

export interface ExecSpdyProtocol {
  name: string;
  statusJson: boolean;
  /** v3+: the client opens a resize stream when it has a terminal. */
  resize: boolean;
}

/** X-Stream-Protocol-Version values for exec/attach over SPDY. v5 is v4 on SPDY (close is WebSocket-only). */
export const EXEC_SPDY_PROTOCOLS: readonly ExecSpdyProtocol[] = [
  { name: 'v5.channel.k8s.io', statusJson: true, resize: true },
  { name: 'v4.channel.k8s.io', statusJson: true, resize: true },
  { name: 'v3.channel.k8s.io', statusJson: false, resize: true },
  { name: 'v2.channel.k8s.io', statusJson: false, resize: false },
  { name: 'channel.k8s.io', statusJson: false, resize: false },
];

/** SPDY port-forward protocol (X-Stream-Protocol-Version). */
export const PORT_FORWARD_SPDY_PROTOCOL = 'portforward.k8s.io';

/** kubectl >= 1.31: a raw SPDY byte stream inside binary WebSocket messages. */
export const PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

export interface PortForwardWebSocketProtocol {
  name: string;
  binary: boolean;
}

/**
 * The kubelet's WebSocket port-forward framing: per port a data channel
 * (2i) and an error channel (2i+1), each opened by the server with the port
 * as two little-endian bytes. `portforward.k8s.io` is accepted as a binary
 * alias some clients send.
 */
export const PORT_FORWARD_WEBSOCKET_PROTOCOLS: readonly PortForwardWebSocketProtocol[] = [
  { name: 'v4.channel.k8s.io', binary: true },
  { name: 'v4.base64.channel.k8s.io', binary: false },
  { name: 'portforward.k8s.io', binary: true },
];

/** Browsers cannot set Authorization on a WebSocket; the API server accepts the token in a subprotocol. */
export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

/** Sec-WebSocket-Protocol values in the client's order (the header may repeat or hold a list). */
export function offeredWebSocketProtocols(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** The client's most preferred protocol that we support, as wsstream and httpstream choose. */
export function pickProtocol<T extends { name: string }>(offered: readonly string[], supported: readonly T[]): T | undefined {
  for (const name of offered) {
    const hit = supported.find((p) => p.name === name);
    if (hit) return hit;
  }
  return undefined;
}

/** The bearer token carried in a `base64url.bearer.authorization.k8s.io.<token>` subprotocol, if any. */
export function bearerTokenFromProtocols(offered: readonly string[]): string | undefined {
  const p = offered.find((x) => x.startsWith(BEARER_PROTOCOL_PREFIX));
  if (!p) return undefined;
  const token = Buffer.from(p.slice(BEARER_PROTOCOL_PREFIX.length), 'base64url').toString('utf8');
  return token.length > 0 ? token : undefined;
}
