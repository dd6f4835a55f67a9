// The one dialer for upgrades to the cluster: exec, attach and port-forward
// (WebSocket first; a refusal, i.e. any non-101 answer or a 101 without one
// of the offered subprotocols, makes the caller fall back to SPDY/3.1 like
// kubectl's fallback executor, the server version never decides) and the
// byte tunnel for any other upgrade. Every dial sends the admitted
// RequestTarget as it is, with the admitted credential.
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { SpdyConnection } from './spdy/connection.js';
import { upstreamTarget, type Upstream, type UpstreamAuth } from '../model/upstream.js';
import type { RequestTarget } from '../model/request-target.js';

/** The cluster answered the upgrade with something other than a usable 101. */
export class UpstreamRefusal extends Error {
  override name = 'UpstreamRefusal';
  constructor(
    readonly statusCode: number,
    readonly headers: http.IncomingHttpHeaders,
    readonly body: Buffer,
    message: string,
  ) {
    super(message);
  }
}

export interface DialTarget {
  upstream: Upstream;
  auth: UpstreamAuth;
  /** The admitted target: what was decided on and recorded is what is sent. */
  target: RequestTarget;
  timeoutMs: number;
}

export interface DialedWebSocket {
  ws: WebSocket;
  protocol: string;
}

export interface DialedSpdyUpstream {
  connection: SpdyConnection;
  /** The raw socket under the SPDY session: pausing it is our only backpressure on spdystream. */
  socket: Duplex;
  protocol: string;
}

const MAX_REFUSAL_BODY = 64 * 1024;

/**
 * Every exec/attach/port-forward is a TLS connection of its own. This agent
 * keeps no sockets (an upgraded socket leaves any pool anyway); it is here
 * for its TLS session cache, so later dials resume instead of running a full
 * handshake (no certificate signature and chain verification on either
 * side: measured as part of the time to first byte). Node keys cached
 * sessions by host, port and every TLS option that changes what is
 * negotiated (ca, cert, key, servername, rejectUnauthorized), so a session
 * made with one client certificate is never offered with another.
 */
const resumingAgent = new https.Agent({ keepAlive: false, maxCachedSessions: 256 });

function tlsOptions(t: DialTarget): https.RequestOptions {
  const target = upstreamTarget(t.upstream, t.auth);
  const o: https.RequestOptions = { rejectUnauthorized: !t.upstream.insecureSkipTlsVerify };
  if (t.upstream.server.protocol === 'https:') o.agent = resumingAgent;
  if (target.ca) o.ca = target.ca;
  if (target.cert) o.cert = target.cert;
  if (target.key) o.key = target.key;
  if (!isIP(target.hostname)) o.servername = target.hostname;
  return o;
}

/**
 * The URL to dial. `ws` and node's http take a URL, so it is built from the
 * admitted target and then checked to read back as exactly that target: a
 * canonical target always does, and anything else is never dialed.
 */
function urlFor(t: DialTarget, webSocket: boolean): URL {
  const server = t.upstream.server;
  const secure = server.protocol === 'https:';
  const scheme = webSocket ? (secure ? 'wss:' : 'ws:') : server.protocol;
  const path = `${server.pathname.replace(/\/+$/, '')}${t.target.uri}`;
  const url = new URL(`${scheme}//${server.host}${path}`);
  if (url.pathname + url.search !== path) throw new Error(`kubetape: the request target ${JSON.stringify(t.target.uri)} would not be sent as decided`);
  return url;
}

function authHeaders(t: DialTarget): Record<string, string | string[]> {
  return { ...t.auth.headers, ...(t.auth.authorization ? { Authorization: t.auth.authorization } : {}) };
}

function readRefusal(res: http.IncomingMessage, what: string): Promise<UpstreamRefusal> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY);
      resolve(new UpstreamRefusal(res.statusCode ?? 0, res.headers, body, `the cluster refused the ${what} upgrade with HTTP ${res.statusCode}`));
    };
    res.on('data', (c: Buffer) => {
      if (size < MAX_REFUSAL_BODY) chunks.push(c);
      size += c.length;
    });
    res.on('end', finish);
    res.on('error', finish);
    res.on('close', finish);
    setTimeout(finish, 5000).unref();
  });
}

/**
 * WebSocket upgrade offering `protocols` in order. The subprotocol header is
 * written by hand and checked here because `ws` rejects names with a '/'
 * (SPDY/3.1+portforward.k8s.io); the socket starts paused.
 */
export function dialWebSocket(t: DialTarget, protocols: readonly string[]): Promise<DialedWebSocket> {
  return new Promise((resolve, reject) => {
    let chosen: string | undefined;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    const ws = new WebSocket(urlFor(t, true), {
      ...tlsOptions(t),
      headers: { ...authHeaders(t), 'Sec-WebSocket-Protocol': protocols.join(', ') },
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: t.timeoutMs,
      maxPayload: 64 * 1024 * 1024,
    });
    ws.on('upgrade', (res) => {
      const header = res.headers['sec-websocket-protocol'];
      chosen = typeof header === 'string' ? header.trim() : undefined;
      // ws would refuse a subprotocol it did not send itself; this check is ours.
      delete res.headers['sec-websocket-protocol'];
    });
    ws.on('unexpected-response', (req, res) => {
      readRefusal(res, 'WebSocket').then(
        (refusal) => {
          req.destroy();
          settle(() => reject(refusal));
        },
        (err: Error) => settle(() => reject(err)),
      );
    });
    ws.on('open', () => {
      ws.pause();
      if (!chosen || !protocols.includes(chosen)) {
        ws.terminate();
        const msg = chosen
          ? `the cluster chose WebSocket subprotocol ${JSON.stringify(chosen)}, which was not offered`
          : 'the cluster accepted the WebSocket without a subprotocol';
        settle(() => reject(new UpstreamRefusal(101, {}, Buffer.alloc(0), msg)));
        return;
      }
      settle(() => resolve({ ws, protocol: chosen! }));
    });
    ws.on('error', (err) => settle(() => reject(err)));
    ws.on('close', () => settle(() => reject(new Error('the cluster closed the WebSocket during the handshake'))));
  });
}

export interface DialedUpgrade {
  /** The cluster's 101 answer (status line and headers as parsed). */
  res: http.IncomingMessage;
  socket: Duplex;
  head: Buffer;
}

/**
 * An upgrade request to the cluster with the admitted target and
 * credential: resolves on 101, rejects with an UpstreamRefusal carrying the
 * cluster's answer otherwise. `headers` are the caller's (already stripped
 * of credentials and impersonation); the credential's are added here.
 */
export function dialUpgrade(t: DialTarget, method: string, headers: http.OutgoingHttpHeaders, what = 'tunnelled'): Promise<DialedUpgrade> {
  const url = urlFor(t, false);
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    const options: https.RequestOptions = {
      method,
      headers: { ...headers, ...authHeaders(t) },
      agent: false,
      timeout: t.timeoutMs,
      ...(secure ? tlsOptions(t) : {}),
    };
    const req = (secure ? https : http).request(url, options);
    req.on('upgrade', (res, socket, head) => {
      socket.setTimeout(0);
      settle(() => resolve({ res, socket, head }));
    });
    req.on('response', (res) => {
      readRefusal(res, what).then(
        (refusal) => settle(() => reject(refusal)),
        (err: Error) => settle(() => reject(err)),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(t.timeoutMs / 1000)}s`)));
    req.on('error', (err) => settle(() => reject(err)));
    req.end();
  });
}

/** SPDY/3.1 upgrade (POST, as client-go does) offering `protocols` as X-Stream-Protocol-Version headers. */
export async function dialSpdyUpstream(t: DialTarget, protocols: readonly string[]): Promise<DialedSpdyUpstream> {
  const headers: http.OutgoingHttpHeaders = { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'Content-Length': '0' };
  if (protocols.length > 0) headers['X-Stream-Protocol-Version'] = [...protocols];
  const { res, socket, head } = await dialUpgrade(t, 'POST', headers, 'SPDY');
  const upgradeTo = String(res.headers.upgrade ?? '').toLowerCase();
  const chosen = String(res.headers['x-stream-protocol-version'] ?? '');
  if (upgradeTo !== 'spdy/3.1' || (chosen !== '' && !protocols.includes(chosen))) {
    socket.destroy();
    throw new UpstreamRefusal(
      101,
      res.headers,
      Buffer.alloc(0),
      `the cluster upgraded to ${JSON.stringify(res.headers.upgrade)} with protocol ${JSON.stringify(chosen)}, not what was offered`,
    );
  }
  if (head.length > 0) socket.unshift(head);
  const connection = new SpdyConnection(socket, { role: 'client', pingIntervalMs: 5000 });
  return { connection, socket, protocol: chosen };
}
