// Upgrades that are not exec, attach or port-forward (those are terminated
// and decoded in streams/): WebSocket watches, proxy subresources and the
// like, carried byte for byte once admitted. Only GET may be upgraded:
// anything else would run upstream as a plain request with the Upgrade
// ignored. The caller's bytes go upstream only after the cluster answered
// 101: on a connection it answered as plain HTTP they would be further
// requests sent with kubetape's credential and never admitted.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../admin/metrics.js';
import type { RequestTarget } from '../model/request-target.js';
import type { Admit, Refusal } from './admitted.js';
import { BEARER_PROTOCOL_PREFIX, bearerTokenFromProtocols, offeredWebSocketProtocols } from './streams/protocols.js';
import { isForbiddenUpstreamHeader } from './headers.js';
import { refuseUpgrade, relayRefusal } from './refuse-upgrade.js';
import { dialUpgrade, UpstreamRefusal } from './upstream-dial.js';

export interface UpgradeTunnelOptions {
  admit: Admit;
  metrics: Metrics;
  connectTimeoutMs: number;
}

/** Hop-by-hop and per-connection headers node's client sets itself, and those kubetape replaces. */
const NOT_PASSED = new Set(['host', 'connection', 'upgrade', 'sec-websocket-protocol', 'content-length', 'transfer-encoding', 'keep-alive']);

export function createUpgradeTunnel(o: UpgradeTunnelOptions) {
  return async (req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget): Promise<void> => {
    socket.on('error', () => socket.destroy());
    const method = req.method ?? 'GET';
    // A browser cannot set Authorization on a WebSocket and sends its token as a
    // subprotocol instead. Either way the token is the caller's: it is used to
    // authenticate here and is neither recorded nor passed on.
    const offered = offeredWebSocketProtocols(req.headers['sec-websocket-protocol']);
    const protocolToken = bearerTokenFromProtocols(offered);
    const otherProtocols = offered.filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
    const extraHeaders: Record<string, string> = {};
    for (const h of ['upgrade', 'x-stream-protocol-version']) {
      const v = req.headers[h];
      if (v !== undefined) extraHeaders[h] = Array.isArray(v) ? v.join(', ') : v;
    }
    if (otherProtocols.length > 0) extraHeaders['sec-websocket-protocol'] = otherProtocols.join(', ');
    const early: Refusal | undefined =
      method === 'GET'
        ? undefined
        : {
            code: 400,
            reason: 'BadRequest',
            message: `kubetape: only GET requests may be upgraded; send ${method} without the Connection: Upgrade and Upgrade headers`,
          };

    // What the caller sends while admission waits (a hold) is kept, bounded, for after the 101.
    const held: Buffer[] = head.length ? [head] : [];
    let heldBytes = head.length;
    const hold = (c: Buffer) => {
      heldBytes += c.length;
      if (heldBytes > MAX_HELD_BYTES) socket.destroy();
      else held.push(c);
    };
    socket.on('data', hold);
    const gone = new AbortController();
    socket.once('close', () => gone.abort());

    const admission = await o.admit({
      req,
      method,
      target,
      kind: 'tunnel',
      authorization: req.headers.authorization ?? (protocolToken ? `Bearer ${protocolToken}` : undefined),
      extraHeaders,
      streaming: true,
      signal: gone.signal,
      ...(early ? { early } : {}),
    });
    if (!admission.ok) {
      if (admission.gone) socket.destroy();
      else refuseUpgrade(socket, admission.refusal.code, admission.refusal.message, admission.refusal.reason);
      return;
    }
    const a = admission.admitted;
    const { exchange } = a;

    // The caller's headers as sent (admission stripped credentials and impersonation), the credential kubetape's.
    const headers: OutgoingHttpHeaders = { Connection: 'Upgrade', Upgrade: req.headers.upgrade ?? 'websocket' };
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || NOT_PASSED.has(name) || isForbiddenUpstreamHeader(name)) continue;
      headers[name] = value;
    }
    if (otherProtocols.length > 0) headers['Sec-WebSocket-Protocol'] = otherProtocols.join(', ');

    let up;
    try {
      up = await dialUpgrade({ upstream: a.upstream, auth: a.auth, target: a.target, timeoutMs: o.connectTimeoutMs }, 'GET', headers);
    } catch (err) {
      if (err instanceof UpstreamRefusal) {
        if (err.statusCode === 401) a.upstream.credentials.invalidate(a.identity);
        exchange.responseHead(err.statusCode, typeof err.headers['content-type'] === 'string' ? err.headers['content-type'] : undefined, undefined);
        if (err.body.length > 0) exchange.responseData(err.body);
        exchange.finish(undefined, err.statusCode);
        o.metrics.requests.inc({ verb: a.attrs.verb, code: String(err.statusCode) });
        relayRefusal(socket, err);
        return;
      }
      const message = `kubetape could not reach the upstream cluster ${a.upstream.server.origin}: ${(err as Error).message}`;
      o.metrics.upstreamErrors.inc({ kind: 'connect' });
      exchange.finish(message, 502);
      refuseUpgrade(socket, 502, message);
      return;
    }
    if (socket.destroyed) {
      up.socket.destroy();
      exchange.finish('the client went away before the upgrade completed', 499, 'client');
      return;
    }

    // The cluster's 101, passed on as it answered it.
    const lines = [`HTTP/1.1 101 ${up.res.statusMessage || 'Switching Protocols'}`];
    for (let i = 0; i < up.res.rawHeaders.length; i += 2) lines.push(`${up.res.rawHeaders[i]}: ${up.res.rawHeaders[i + 1]}`);
    const responseHead = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
    exchange.responseHead(101, undefined, undefined);
    exchange.responseData(responseHead);
    o.metrics.requests.inc({ verb: a.attrs.verb, code: '101' });
    socket.write(responseHead);
    if (up.head.length > 0) {
      exchange.responseData(up.head);
      socket.write(up.head);
    }
    // A chunk whose record cannot be written (failMode closed) is not passed on: this listener runs before the pipe's.
    up.socket.on(
      'data',
      (c: Buffer) => void (exchange.responseData(c) || end(new Error(`kubetape stopped the stream: ${exchange.stopError?.message ?? 'its recording failed'}`))),
    );
    up.socket.pipe(socket);
    socket.off('data', hold);
    for (const b of held.splice(0)) up.socket.write(b);
    socket.pipe(up.socket);

    let ended = false;
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      socket.destroy();
      up.socket.destroy();
      exchange.finish(err?.message);
    };
    up.socket.on('error', end);
    up.socket.on('close', () => end());
    socket.on('close', () => end());
    exchange.onStopped((reason) => end(new Error(`kubetape stopped the stream: ${reason.message}`)));
  };
}

/** What a caller may send before the cluster answers the upgrade (a WebSocket client sends nothing). */
const MAX_HELD_BYTES = 64 * 1024;
