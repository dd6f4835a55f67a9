// Upgrades that are not exec, attach or port-forward (those are terminated
// and decoded in streams/): WebSocket watches, proxy subresources and the
// like. They are authenticated, recorded as a request, and tunnelled byte
// for byte to the upstream with kubetape's credential. The guardrails are
// asked first (tunnel-policy.ts): a tunnel cannot be inspected once open.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';
import { statusObject } from '../kube/status.js';
import { BEARER_PROTOCOL_PREFIX, bearerTokenFromProtocols, offeredWebSocketProtocols } from './streams/protocols.js';
import { requestAttributes } from './request-info.js';
import { impersonationHeaders, impersonationRefusal } from '../authorize/impersonation.js';
import { clientOf, recordedHeaders, stripCallerHeaders } from './headers.js';
import { upstreamTarget, type Upstream } from './upstream.js';
import type { Authenticator } from '../authenticate/identity.js';
import type { Recorder } from '../record/recorder.js';
import type { Metrics } from '../admin/metrics.js';
import { credentialFailure } from '../credentials/credential-error.js';
import type { PolicyHolder } from '../authorize/policy/holder.js';
import type { ApprovalStore } from '../authorize/approvals/store.js';
import { tunnelMethodRefusal, tunnelPolicyVerdict, type TunnelVerdict } from './tunnel-policy.js';
import type { Agent } from 'node:https';

export interface UpgradeTunnelOptions {
  authenticator: Authenticator;
  upstream: Upstream;
  recorder: Recorder;
  metrics: Metrics;
  connectTimeoutMs: number;
  /** Guardrails: asked before anything is dialed, like a REST request. */
  policy?: PolicyHolder;
  /** Just-in-time approval state for require-approval rules. */
  approvals?: ApprovalStore;
  /** For label lookups a rule may need. */
  agent?: Agent;
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
    // A browser cannot set Authorization on a WebSocket and sends its token as a
    // subprotocol instead. Either way the token is the caller's: it is used to
    // authenticate here and is neither recorded nor passed on.
    const offered = offeredWebSocketProtocols(req.headers['sec-websocket-protocol']);
    const protocolToken = bearerTokenFromProtocols(offered);
    const otherProtocols = offered.filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
    const auth = await o.authenticator.authenticate(req.headers.authorization ?? (protocolToken ? `Bearer ${protocolToken}` : undefined));
    if (!auth.ok) {
      o.metrics.authFailures.inc();
      return refuseUpgrade(socket, 401, `Unauthorized: ${auth.reason}`, 'Unauthorized');
    }
    const method = req.method ?? 'GET';
    const attrs = requestAttributes(method, uri);
    const headers = recordedHeaders(req.headers);
    for (const h of ['upgrade', 'x-stream-protocol-version']) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = Array.isArray(v) ? v.join(', ') : v;
    }
    if (otherProtocols.length > 0) headers['sec-websocket-protocol'] = otherProtocols.join(', ');
    const impersonation = impersonationHeaders(req.headers);
    stripCallerHeaders(req.headers);

    // Anything but GET would run upstream as a plain request with the Upgrade ignored.
    const methodRefusal = tunnelMethodRefusal(method);
    let verdict: TunnelVerdict | undefined;
    if (!methodRefusal && impersonation.length === 0 && o.policy) {
      try {
        verdict = await tunnelPolicyVerdict({ upstream: o.upstream, policy: o.policy, ...(o.approvals ? { approvals: o.approvals } : {}), ...(o.agent ? { agent: o.agent } : {}) }, auth.identity, attrs, uri);
      } catch (err) {
        verdict = { allow: false, code: 500, reason: 'InternalError', message: `kubetape could not apply its policy: ${(err as Error).message}` };
      }
    }

    let exchange;
    try {
      exchange = await o.recorder.begin({
        identity: auth.identity,
        method,
        uri,
        attrs,
        headers,
        streaming: true,
        ...clientOf(req),
        ...(verdict?.policy ? { policy: verdict.policy } : {}),
      });
    } catch (err) {
      o.metrics.failClosedRefusals.inc();
      return refuseUpgrade(socket, 503, `kubetape refused the request because it could not be recorded: ${(err as Error).message}`, 'ServiceUnavailable');
    }

    if (methodRefusal) {
      exchange.finish(methodRefusal, 400);
      return refuseUpgrade(socket, 400, methodRefusal, 'BadRequest');
    }
    if (impersonation.length > 0) {
      const message = impersonationRefusal(impersonation);
      exchange.finish(message, 403);
      return refuseUpgrade(socket, 403, message, 'Forbidden');
    }
    if (verdict && !verdict.allow) {
      exchange.finish(verdict.message, verdict.code);
      return refuseUpgrade(socket, verdict.code, verdict.message, verdict.reason);
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
        const lower = name.toLowerCase();
        if (lower === 'host' || lower === 'authorization' || lower.startsWith('impersonate-') || lower === 'sec-websocket-protocol') continue;
        if (req.headers[lower] === undefined) continue; // stripped above
        lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
      }
      if (otherProtocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${otherProtocols.join(', ')}`);
      if (creds.authorization) lines.push(`Authorization: ${creds.authorization}`);
      for (const [name, value] of Object.entries(creds.headers ?? {})) for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      up.pipe(socket);
    });
    // The caller's bytes go upstream only once the cluster switched protocols:
    // on a connection it answered as plain HTTP, they would be further requests
    // sent with kubetape's TLS identity and never asked of the policy.
    const held: Buffer[] = head.length ? [head] : [];
    let heldBytes = head.length;
    const hold = (c: Buffer) => {
      heldBytes += c.length;
      if (heldBytes > MAX_HELD_BYTES) socket.destroy();
      else held.push(c);
    };
    socket.on('data', hold);
    let statusLine = '';
    up.on('data', (c: Buffer) => {
      exchange.responseData(c);
      if (exchange.statusCode !== 0 || statusLine.length > 64) return;
      statusLine += c.subarray(0, 64).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!m) return;
      const code = Number(m[1]);
      exchange.responseHead(code, undefined, undefined);
      if (code !== 101) return; // the answer is relayed; the caller's further bytes never go upstream
      socket.off('data', hold);
      for (const b of held.splice(0)) up.write(b);
      socket.pipe(up);
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

/** What a caller may send before the cluster answers the upgrade (a WebSocket client sends nothing). */
const MAX_HELD_BYTES = 64 * 1024;

function isIpLiteral(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}
