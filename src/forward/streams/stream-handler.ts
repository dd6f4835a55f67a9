// The upgrade path for exec, attach and port-forward, in data-path order:
// authenticate, parse what is asked, ask the stream policy (which may hold
// the request for approval; it never touches the cluster), record the
// request with the decision durably, refuse what may not go on (impersonation
// the cluster cannot check, a policy refusal), dial the cluster with kubetape's
// credential (WebSocket, else SPDY), and only then accept the client's
// upgrade and bridge the two, recording every channel. Any other upgrade
// (WebSocket watches, proxy subresources) goes to `otherUpgrades`.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Authenticator } from '../../authenticate/identity.js';
import type { Metrics } from '../../admin/metrics.js';
import { credentialFailure } from '../../credentials/credential-error.js';
import { impersonationRefusal, parseImpersonation } from '../../authorize/impersonation.js';
import { credentialsForImpersonation, recordedImpersonation } from '../../authorize/caller-impersonation.js';
import type { ExecRequest, PortForwardRequest } from '../../record/model.js';
import type { Exchange, Recorder } from '../../record/recorder.js';
import { clientOf, recordedHeaders, stripCallerHeaders } from '../headers.js';
import { requestAttributes } from '../request-info.js';
import type { Upstream, UpstreamAuth } from '../upstream.js';
import { authorizeStream, type StreamAuthorizer, type StreamDecision } from './authorize-stream.js';
import { watchWaitingClient } from './client-watch.js';
import { clientTransport, negotiateClient, offeredChannelProtocols } from './client-negotiation.js';
import { runExec } from './exec-session.js';
import { runPortForward } from './portforward-session.js';
import { bearerTokenFromProtocols, offeredWebSocketProtocols } from './protocols.js';
import { refuseUpgrade, relayRefusal } from './refuse.js';
import { parseExecRequest, parsePortForwardRequest, streamKind, type Parsed } from './stream-request.js';
import { connectUpstream, type UpstreamSession } from './upstream-connect.js';
import { UpstreamRefusal } from './upstream-dial.js';
import { WebSocketAcceptor } from './websocket-accept.js';

export interface StreamHandlerOptions {
  authenticator: Authenticator;
  upstream: Upstream;
  recorder: Recorder;
  metrics: Metrics;
  /** Dialing the cluster (TCP, TLS, upgrade answer) may take this long. */
  connectTimeoutMs: number;
  /** The policy hook; default: the process-wide one (allow-all unless guardrails installed theirs). */
  authorize?: StreamAuthorizer;
  /** Upgrades that are not exec/attach/port-forward. */
  otherUpgrades: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

export interface StreamHandler {
  (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  close(): void;
}

const STREAM_CREATION_TIMEOUT_MS = 30_000;

export function createStreamHandler(o: StreamHandlerOptions): StreamHandler {
  const acceptor = new WebSocketAcceptor();
  const authorize = o.authorize ?? authorizeStream;

  const handler = async (req: IncomingMessage, socket: Duplex, upgradeHead: Buffer): Promise<void> => {
    let head = upgradeHead;
    const uri = req.url ?? '/';
    const method = req.method ?? 'GET';
    const attrs = requestAttributes(method, uri);
    const kind = streamKind(attrs);
    if (!kind) {
      o.otherUpgrades(req, socket, head);
      return;
    }
    socket.on('error', () => socket.destroy());
    const transport = clientTransport(req);

    let authorization = req.headers.authorization;
    if (!authorization && transport === 'websocket') {
      const token = bearerTokenFromProtocols(offeredWebSocketProtocols(req.headers['sec-websocket-protocol']));
      if (token) authorization = `Bearer ${token}`;
    }
    const auth = await o.authenticator.authenticate(authorization);
    if (!auth.ok) {
      o.metrics.authFailures.inc();
      refuseUpgrade(socket, 401, `Unauthorized: ${auth.reason}`, 'Unauthorized');
      return;
    }

    const headers = recordedHeaders(req.headers);
    if (req.headers.upgrade) headers['upgrade'] = String(req.headers.upgrade);
    const offeredWs = offeredChannelProtocols(req);
    if (offeredWs.length > 0) headers['sec-websocket-protocol'] = offeredWs.join(', ');
    const xspv = req.headers['x-stream-protocol-version'];
    if (xspv !== undefined) headers['x-stream-protocol-version'] = Array.isArray(xspv) ? xspv.join(', ') : xspv;
    const impersonation = parseImpersonation(req.headersDistinct);
    const impersonationRecord = recordedImpersonation(o.upstream.credentials, auth.identity, impersonation);
    stripCallerHeaders(req.headers);

    const parsed: Parsed<ExecRequest | PortForwardRequest> = kind === 'portforward' ? parsePortForwardRequest(uri) : parseExecRequest(kind, uri);
    const negotiated = transport && parsed.ok ? negotiateClient(req, kind, transport, kind === 'portforward' ? (parsed.value as PortForwardRequest) : undefined) : undefined;
    // Refused before the policy is asked: the policy never sees (or opens approvals for) a request that cannot go on anyway.
    const early = ((): { code: number; message: string; reason?: string } | undefined => {
      // Without a cluster that can check it, impersonation is refused before anything else is looked at.
      if (impersonation && !o.upstream.credentials.callerImpersonation) return { code: 403, message: impersonationRefusal(impersonation.names), reason: 'Forbidden' };
      if (!transport) return { code: 400, message: `kubetape: ${kind} needs a WebSocket or SPDY/3.1 upgrade, not ${JSON.stringify(req.headers.upgrade ?? '')}` };
      if (!parsed.ok) return { code: 400, message: parsed.message };
      if (negotiated && !negotiated.ok) return { code: negotiated.code, message: negotiated.message };
      return undefined;
    })();

    // The policy is asked before the request is recorded, so the record carries its decision (as REST
    // requests do). It never touches the cluster; a `hold:` keeps the upgrade unanswered meanwhile.
    let decision: StreamDecision | undefined;
    if (!early && parsed.ok) {
      const watch = o.authorize ? watchWaitingClient(socket, head) : undefined;
      try {
        decision = await authorize({
          identity: auth.identity,
          kind,
          namespace: attrs.namespace,
          pod: attrs.name,
          uri,
          ...(kind === 'portforward' ? { portForward: parsed.value as PortForwardRequest } : { exec: parsed.value as ExecRequest }),
          ...(watch ? { signal: watch.signal } : {}),
        });
      } catch (err) {
        // Fail closed: a policy that cannot decide refuses.
        decision = { allow: false, message: `kubetape could not decide whether to allow this ${kind}: ${(err as Error).message}` };
      }
      if (watch) head = watch.stop();
    }

    let exchange: Exchange;
    try {
      exchange = await o.recorder.begin({
        identity: auth.identity,
        method,
        uri,
        attrs,
        headers,
        streaming: true,
        ...clientOf(req),
        ...(parsed.ok && kind === 'portforward' ? { portForward: parsed.value as PortForwardRequest } : {}),
        ...(parsed.ok && kind !== 'portforward' ? { exec: parsed.value as ExecRequest } : {}),
        ...(impersonationRecord ? { impersonation: impersonationRecord } : {}),
        ...(decision?.policy ? { policy: decision.policy } : {}),
      });
    } catch (err) {
      o.metrics.failClosedRefusals.inc();
      refuseUpgrade(socket, 503, `kubetape refused the request because it could not be recorded: ${(err as Error).message}`, 'ServiceUnavailable');
      return;
    }

    const started = Date.now();
    const refuse = (code: number, message: string, reason?: string): void => {
      exchange.finish(message, code);
      o.metrics.requests.inc({ verb: attrs.verb, code: String(code) });
      refuseUpgrade(socket, code, message, reason);
    };

    if (early) return refuse(early.code, early.message, early.reason);
    if (!decision || !negotiated?.ok || !parsed.ok) return refuse(500, 'kubetape: internal error: no policy decision');
    if (!decision.allow && decision.gone) {
      exchange.finish(decision.message, 499);
      o.metrics.requests.inc({ verb: attrs.verb, code: '499' });
      socket.destroy();
      return;
    }
    if (!decision.allow) return refuse(403, decision.message, 'Forbidden');

    let creds: UpstreamAuth;
    if (impersonation) {
      // Forwarded only as the identity the cluster agreed the caller may take on.
      const outcome = await credentialsForImpersonation(o.upstream.credentials, auth.identity, impersonation);
      if (!outcome.ok) {
        if (outcome.code >= 500) o.metrics.upstreamErrors.inc({ kind: 'credential' });
        return refuse(outcome.code, outcome.message, outcome.reason);
      }
      creds = outcome.auth;
    } else {
      try {
        creds = await o.upstream.credentials.get(auth.identity);
      } catch (err) {
        o.metrics.upstreamErrors.inc({ kind: 'credential' });
        const failure = credentialFailure(err);
        return refuse(failure.code, failure.message, failure.reason);
      }
    }

    let session: UpstreamSession;
    try {
      session = await connectUpstream(kind === 'portforward' ? 'portforward' : 'exec', { upstream: o.upstream, auth: creds, uri, timeoutMs: o.connectTimeoutMs });
    } catch (err) {
      if (err instanceof UpstreamRefusal) {
        if (err.statusCode === 401) o.upstream.credentials.invalidate(auth.identity);
        if (err.body.length > 0) exchange.streamEvent('status', err.body);
        exchange.finish(err.message, err.statusCode === 101 ? 502 : err.statusCode);
        o.metrics.requests.inc({ verb: attrs.verb, code: String(err.statusCode) });
        relayRefusal(socket, err);
        return;
      }
      o.metrics.upstreamErrors.inc({ kind: 'connect' });
      return refuse(502, `kubetape could not reach the upstream cluster ${o.upstream.server.origin}: ${(err as Error).message}`);
    }
    if (socket.destroyed) {
      // The client gave up while we dialed.
      if (session.transport === 'websocket') session.ws.terminate();
      else session.connection.destroy();
      exchange.finish('the client went away before the upgrade completed', 499);
      return;
    }

    o.metrics.requests.inc({ verb: attrs.verb, code: '101' });
    const context = { req, socket, head, exchange, acceptor, streamCreationTimeoutMs: STREAM_CREATION_TIMEOUT_MS };
    const plan = negotiated.plan;
    if (plan.kind === 'exec-websocket' || plan.kind === 'exec-spdy') await runExec(context, plan, parsed.value as ExecRequest, session, decision.typed, decision.inline);
    else await runPortForward(context, plan, parsed.value as PortForwardRequest, session);
    o.metrics.duration.observe({ verb: attrs.verb }, (Date.now() - started) / 1000);
  };

  return Object.assign(
    (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      handler(req, socket, head).catch(() => {
        // Nothing above should throw; if it does, the connection must not linger.
        socket.destroy();
      }),
    { close: () => acceptor.close() },
  );
}
