// The upgrade path for exec, attach and port-forward, the transport around
// admission: read what is asked (the kind, the query's options, which
// protocol the client speaks), have it admitted (authenticated, decided,
// held for approval if a rule says so, recorded durably, a credential
// chosen) while watching that the client stays, dial the cluster with the
// admitted credential and target (WebSocket, else SPDY), and only then
// accept the client's upgrade and bridge the two, recording every channel.
// Any other upgrade (WebSocket watches, proxy subresources) goes to
// `otherUpgrades`.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../../admin/metrics.js';
import type { ExecRequest, PortForwardRequest } from '../../model/recording.js';
import { requestAttributes } from '../../model/request-attributes.js';
import type { RequestTarget } from '../../model/request-target.js';
import type { Admit, Refusal } from '../admitted.js';
import { watchWaitingClient } from './client-watch.js';
import { clientTransport, negotiateClient, offeredChannelProtocols } from './client-negotiation.js';
import { runExec } from './exec-session.js';
import { runPortForward } from './portforward-session.js';
import { bearerTokenFromProtocols, offeredWebSocketProtocols } from './protocols.js';
import { refuseUpgrade, relayRefusal } from '../refuse-upgrade.js';
import { parseExecRequest, parsePortForwardRequest, streamKind, type Parsed } from './stream-request.js';
import { connectUpstream, type UpstreamSession } from './upstream-connect.js';
import { UpstreamRefusal } from '../upstream-dial.js';
import { WebSocketAcceptor } from './websocket-accept.js';

export type UpgradeTransport = (req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget) => void;

export interface StreamHandlerOptions {
  /** The admission step every upgrade passes before anything is dialed. */
  admit: Admit;
  metrics: Metrics;
  /** Dialing the cluster (TCP, TLS, upgrade answer) may take this long. */
  connectTimeoutMs: number;
  /** Upgrades that are not exec/attach/port-forward. */
  otherUpgrades: UpgradeTransport;
}

export interface StreamHandler {
  (req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget): Promise<void>;
  close(): void;
}

const STREAM_CREATION_TIMEOUT_MS = 30_000;

export function createStreamHandler(o: StreamHandlerOptions): StreamHandler {
  const acceptor = new WebSocketAcceptor();

  const handler = async (req: IncomingMessage, socket: Duplex, upgradeHead: Buffer, target: RequestTarget): Promise<void> => {
    const method = req.method ?? 'GET';
    const kind = streamKind(requestAttributes(method, target));
    if (!kind) {
      o.otherUpgrades(req, socket, upgradeHead, target);
      return;
    }
    socket.on('error', () => socket.destroy());
    const transport = clientTransport(req);

    let authorization = req.headers.authorization;
    if (!authorization && transport === 'websocket') {
      const token = bearerTokenFromProtocols(offeredWebSocketProtocols(req.headers['sec-websocket-protocol']));
      if (token) authorization = `Bearer ${token}`;
    }
    const extraHeaders: Record<string, string> = {};
    if (req.headers.upgrade) extraHeaders['upgrade'] = String(req.headers.upgrade);
    const offeredWs = offeredChannelProtocols(req);
    if (offeredWs.length > 0) extraHeaders['sec-websocket-protocol'] = offeredWs.join(', ');
    const xspv = req.headers['x-stream-protocol-version'];
    if (xspv !== undefined) extraHeaders['x-stream-protocol-version'] = Array.isArray(xspv) ? xspv.join(', ') : xspv;

    const parsed: Parsed<ExecRequest | PortForwardRequest> = kind === 'portforward' ? parsePortForwardRequest(target) : parseExecRequest(kind, target);
    const negotiated =
      transport && parsed.ok ? negotiateClient(req, kind, transport, kind === 'portforward' ? (parsed.value as PortForwardRequest) : undefined) : undefined;
    // Refused before the policy is asked (and recorded as such): it never opens approvals for a request that cannot go on anyway.
    const early = ((): Refusal | undefined => {
      if (!transport)
        return {
          code: 400,
          message: `kubetape: ${kind} needs a WebSocket or SPDY/3.1 upgrade, not ${JSON.stringify(req.headers.upgrade ?? '')}`,
          reason: 'BadRequest',
        };
      if (!parsed.ok) return { code: 400, message: parsed.message, reason: 'BadRequest' };
      if (negotiated && !negotiated.ok) return { code: negotiated.code, message: negotiated.message };
      return undefined;
    })();

    // While admission waits (a `hold:` for approval), anything the client sends is kept for later.
    const watch = watchWaitingClient(socket, upgradeHead);
    const admission = await o.admit({
      req,
      method,
      target,
      kind,
      authorization,
      extraHeaders,
      streaming: true,
      ...(parsed.ok && kind === 'portforward' ? { portForward: parsed.value as PortForwardRequest } : {}),
      ...(parsed.ok && kind !== 'portforward' ? { exec: parsed.value as ExecRequest } : {}),
      ...(early ? { early } : {}),
      signal: watch.signal,
    });
    const head = watch.stop();
    if (!admission.ok) {
      if (admission.gone) socket.destroy();
      else refuseUpgrade(socket, admission.refusal.code, admission.refusal.message, admission.refusal.reason);
      return;
    }
    const a = admission.admitted;
    const { exchange, attrs } = a;
    if (!negotiated?.ok || !parsed.ok) {
      exchange.finish('kubetape: internal error: admitted without a negotiated protocol', 500);
      return refuseUpgrade(socket, 500, 'kubetape: internal error: admitted without a negotiated protocol');
    }
    const started = Date.now();
    const refuse = (code: number, message: string, reason?: string): void => {
      exchange.finish(message, code);
      o.metrics.requests.inc({ verb: attrs.verb, code: String(code) });
      refuseUpgrade(socket, code, message, reason);
    };

    let session: UpstreamSession;
    try {
      session = await connectUpstream(kind === 'portforward' ? 'portforward' : 'exec', {
        upstream: a.upstream,
        auth: a.auth,
        target: a.target,
        timeoutMs: o.connectTimeoutMs,
      });
    } catch (err) {
      if (err instanceof UpstreamRefusal) {
        if (err.statusCode === 401) a.upstream.credentials.invalidate(a.identity);
        if (err.body.length > 0) exchange.streamEvent('status', err.body);
        exchange.finish(err.message, err.statusCode === 101 ? 502 : err.statusCode);
        o.metrics.requests.inc({ verb: attrs.verb, code: String(err.statusCode) });
        relayRefusal(socket, err);
        return;
      }
      o.metrics.upstreamErrors.inc({ kind: 'connect' });
      return refuse(502, `kubetape could not reach the upstream cluster ${a.upstream.server.origin}: ${(err as Error).message}`);
    }
    if (socket.destroyed) {
      // The client gave up while we dialed.
      if (session.transport === 'websocket') session.ws.terminate();
      else session.connection.destroy();
      exchange.finish('the client went away before the upgrade completed', 499, 'client');
      return;
    }

    o.metrics.requests.inc({ verb: attrs.verb, code: '101' });
    const context = { req, socket, head, exchange, acceptor, streamCreationTimeoutMs: STREAM_CREATION_TIMEOUT_MS };
    const plan = negotiated.plan;
    if (plan.kind === 'exec-websocket' || plan.kind === 'exec-spdy') await runExec(context, plan, parsed.value as ExecRequest, session, a.typed, a.inline);
    else await runPortForward(context, plan, parsed.value as PortForwardRequest, session);
    o.metrics.duration.observe({ verb: attrs.verb }, (Date.now() - started) / 1000);
  };

  return Object.assign(
    (req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget) =>
      handler(req, socket, head, target).catch(() => {
        // Nothing above should throw; if it does, the connection must not linger.
        socket.destroy();
      }),
    { close: () => acceptor.close() },
  );
}
