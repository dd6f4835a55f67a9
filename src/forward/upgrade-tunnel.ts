// Upgrades that are not exec, attach or port-forward (those are terminated
// and decoded in streams/): WebSocket watches, proxy subresources and the
// like. They are authenticated, recorded as a request, and tunnelled byte
// for byte to the upstream with kubetape's credential.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';
import { statusObject } from '../kube/status.js';
import { requestAttributes } from './request-info.js';
import { impersonationHeaders, impersonationRefusal } from '../authorize/impersonation.js';
import { recordedHeaders, stripCallerHeaders } from './headers.js';
import { upstreamTarget, type Upstream } from './upstream.js';
import type { Authenticator } from '../authenticate/identity.js';
import type { Recorder } from '../record/recorder.js';
import type { Metrics } from '../admin/metrics.js';
import { credentialFailure } from '../credentials/credential-error.js';

export interface UpgradeTunnelOptions {
  authenticator: Authenticator;
  upstream: Upstream;
  recorder: Recorder;
  metrics: Metrics;
  connectTimeoutMs: number;
}

/** Answer an upgrade request with a plain HTTP response carrying a Status, then close. */
export function refuseUpgrade(socket: Duplex, code: number, message: string, reason?: string): void {
  const body = JSON.stringify(statusObject(code, message, reason));
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function createUpgradeTunnel(o: UpgradeTunnelOptions) {
  return async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', () => socket.destroy());
    const uri = req.url ?? '/';
    const auth = await o.authenticator.authenticate(req.headers.authorization);
    if (!auth.ok) {
      o.metrics.authFailures.inc();
      return refuseUpgrade(socket, 401, `Unauthorized: ${auth.reason}`, 'Unauthorized');
    }
    const attrs = requestAttributes(req.method ?? 'GET', uri);
    const headers = recordedHeaders(req.headers);
    for (const h of ['upgrade', 'sec-websocket-protocol', 'x-stream-protocol-version']) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = Array.isArray(v) ? v.join(', ') : v;
    }
    const impersonation = impersonationHeaders(req.headers);
    stripCallerHeaders(req.headers);

    let exchange;
    try {
      exchange = await o.recorder.begin({
        identity: auth.identity,
        method: req.method ?? 'GET',
        uri,
        attrs,
        headers,
        streaming: true,
        source: req.socket.remoteAddress ?? '',
        ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
        ...(typeof req.headers['kubectl-command'] === 'string' ? { command: req.headers['kubectl-command'] } : {}),
        ...(typeof req.headers['kubectl-session'] === 'string' ? { clientSession: req.headers['kubectl-session'] } : {}),
        socket: req.socket,
      });
    } catch (err) {
      o.metrics.failClosedRefusals.inc();
      return refuseUpgrade(socket, 503, `kubetape refused the request because it could not be recorded: ${(err as Error).message}`, 'ServiceUnavailable');
    }

    if (impersonation.length > 0) {
      const message = impersonationRefusal(impersonation);
      exchange.finish(message, 403);
      return refuseUpgrade(socket, 403, message, 'Forbidden');
    }

    let creds;
    try {
      creds = await o.upstream.credentials.get(auth.identity);
    } catch (err) {
      const { code, message, reason } = credentialFailure(err);
      exchange.finish(message, code);
      return refuseUpgrade(socket, code, message, reason);
    }
    const t = upstreamTarget(o.upstream, creds);
    const up: Socket =
      t.protocol === 'https:'
        ? tlsConnect({ host: t.hostname, port: t.port, ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert, key: t.key } : {}), rejectUnauthorized: !o.upstream.insecureSkipTlsVerify, ALPNProtocols: ['http/1.1'], ...(isIpLiteral(t.hostname) ? {} : { servername: t.hostname }) })
        : netConnect({ host: t.hostname, port: t.port });
    const timer = setTimeout(() => up.destroy(new Error('connect timeout')), o.connectTimeoutMs);
    let connected = false;
    up.once(t.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      connected = true;
      clearTimeout(timer);
      const lines = [`${req.method} ${t.path}${uri} HTTP/1.1`, `Host: ${t.port === 443 ? t.hostname : `${t.hostname}:${t.port}`}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!;
        if (name.toLowerCase() === 'host' || name.toLowerCase() === 'authorization' || name.toLowerCase().startsWith('impersonate-')) continue;
        if (req.headers[name.toLowerCase()] === undefined) continue; // stripped above
        lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
      }
      if (creds.authorization) lines.push(`Authorization: ${creds.authorization}`);
      for (const [name, value] of Object.entries(creds.headers ?? {})) for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('data', (c: Buffer) => {
      exchange.responseData(c);
      if (exchange.statusCode === 0) {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(c.subarray(0, 16).toString('latin1'));
        if (m) exchange.responseHead(Number(m[1]), undefined, undefined);
      }
    });
    let ended = false;
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      if (!connected && err) {
        const msg = `kubetape could not reach the upstream cluster ${o.upstream.server.origin}: ${err.message}`;
        o.metrics.upstreamErrors.inc({ kind: 'connect' });
        refuseUpgrade(socket, 502, msg);
        exchange.finish(msg, 502);
        return;
      }
      socket.destroy();
      up.destroy();
      exchange.finish(err?.message);
    };
    up.on('error', end);
    up.on('close', () => end());
    socket.on('close', () => end());
  };
}

function isIpLiteral(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}
