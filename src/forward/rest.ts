// Forwarding of ordinary (non-upgrade) API requests through
// http-proxy-middleware: the transport around admission. admit() decides,
// records and picks the credential; this module sends the admitted request
// upstream (its path serialised from the admitted RequestTarget, never
// re-read from the raw URL) and taps the response as it streams back.
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Agent } from 'node:https';
import { createProxyMiddleware, type Plugin } from 'http-proxy-middleware';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { sendError } from '../model/status.js';
import { isStreamingRequest, requestAttributes } from '../model/request-attributes.js';
import type { RequestTarget } from '../model/request-target.js';
import { readBody, hasBody } from './read-body.js';
import { upstreamTarget, type Upstream, type UpstreamAuth } from '../model/upstream.js';
import type { Exchange } from '../record/recorder.js';
import type { Identity } from '../model/identity.js';
import type { Metrics } from '../admin/metrics.js';
import type { Admit } from './admitted.js';
import { relayMasked } from './masked-response.js';
import { maskableAccept } from './maskable-accept.js';

export interface RestForwarderOptions {
  upstream: Upstream;
  metrics: Metrics;
  agent: Agent;
  /** The admission step: every request passes it before anything is sent. */
  admit: Admit;
  /** How long to wait for the upstream's response headers on non-streaming requests. */
  responseTimeoutMs: number;
  maxRequestBodyBytes: number;
}

/** What one request carries from the handler to the proxy's events. */
interface InFlight {
  exchange: Exchange;
  identity: Identity;
  auth: UpstreamAuth;
  /** The admitted target: what is sent upstream, byte for byte (after the server's path prefix). */
  target: RequestTarget;
  body: Buffer | undefined;
  verb: string;
  resourceRequest: boolean;
  streaming: boolean;
  started: number;
  timedOut: boolean;
  timer?: NodeJS.Timeout;
  /** Secret values must be masked in this response (it goes through the self-handled proxy). */
  mask?: { watch: boolean; onUnmaskable: 'refuse' | 'marker' };
}

export function createRestForwarder(o: RestForwarderOptions): RequestHandler {
  const inflight = new WeakMap<IncomingMessage, InFlight>();

  const tap: Plugin = (proxy) => {
    proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage, res: ServerResponse) => {
      const f = inflight.get(req);
      if (!f) return;
      // The path sent is the admitted target, serialised by us: not http-proxy's url.parse of req.url.
      proxyReq.path = serverPrefix + f.target.uri;
      if (f.auth.authorization) proxyReq.setHeader('Authorization', f.auth.authorization);
      else proxyReq.removeHeader('Authorization');
      for (const [name, value] of Object.entries(f.auth.headers ?? {})) proxyReq.setHeader(name, value);
      if (f.mask) {
        const accept = maskableAccept(header(req, 'accept'));
        if (accept) proxyReq.setHeader('Accept', accept);
      }
      // The body was read (and recorded) up front; the proxy pipes an ended request, so write it here.
      if (f.body && f.body.length > 0) proxyReq.write(f.body);
      if (!f.streaming) {
        // Waiting for headers only: once the response starts, a slow body is the client's business.
        f.timer = setTimeout(() => {
          f.timedOut = true;
          proxyReq.destroy(new Error('upstream response timeout'));
        }, o.responseTimeoutMs);
        proxyReq.once('response', () => clearTimeout(f.timer));
      }
      // A client that goes away must not leave a watch open upstream.
      res.once('close', () => {
        if (!res.writableFinished) proxyReq.destroy();
      });
    });

    proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => {
      const f = inflight.get(req);
      if (!f) return;
      const status = proxyRes.statusCode ?? 0;
      if (status === 401) o.upstream.credentials.invalidate(f.identity);
      // A watch or follow whose record cannot be written (failMode closed) ends at once: the
      // chunk that failed, and anything after it, never reaches the client (its 'data' listener
      // runs before the pipe's; a write after destroy goes nowhere). The recording says why.
      const stop = (): void => {
        proxyRes.destroy();
        res.destroy();
        finish(req, res, status, `kubetape stopped the response: ${f.exchange.stopError?.message ?? 'its recording failed'}`);
      };
      if (f.streaming) f.exchange.onStopped(stop);
      if (f.mask) {
        // The recorder sees what the client gets: decoded and masked.
        f.exchange.responseHead(status, header(proxyRes, 'content-type'), undefined);
        relayMasked(proxyRes, res, {
          ...f.mask,
          onData: (chunk) => void (f.exchange.responseData(chunk) || stop()),
          onEnd: (code, error) => finish(req, res, code, error),
        });
        return;
      }
      f.exchange.responseHead(status, header(proxyRes, 'content-type'), header(proxyRes, 'content-encoding'));
      if (f.streaming) {
        // http-proxy copies the status and headers right after this event, then pipes the body; node
        // would send the head only with the first body bytes, and a quiet watch or follow has none for
        // minutes. Clients (client-go's reflector, client-node's Watch, informers and Log) wait for the
        // head before they call a watch started, and kube-apiserver sends it at once: so do we.
        process.nextTick(() => {
          if (!res.headersSent && !res.destroyed) res.flushHeaders();
        });
      }
      proxyRes.on('data', (chunk: Buffer) => void (f.exchange.responseData(chunk) || stop()));
      const done = (error?: string) => finish(req, res, status, error);
      proxyRes.once('end', () => done());
      proxyRes.once('error', (err) => done(`upstream stream failed: ${err.message}`));
    });

    proxy.on('error', (err: NodeJS.ErrnoException, req: IncomingMessage, resOrSocket: ServerResponse | Socket) => {
      const f = inflight.get(req);
      const res = resOrSocket as ServerResponse;
      if (!f || typeof res.setHeader !== 'function') return;
      clearTimeout(f.timer);
      const target = o.upstream.server.origin;
      let code = 502;
      let message: string;
      if (f.timedOut) {
        code = 504;
        message = `kubetape: the upstream cluster ${target} did not answer within ${Math.round(o.responseTimeoutMs / 1000)}s`;
        o.metrics.upstreamErrors.inc({ kind: 'timeout' });
      } else if (res.headersSent) {
        message = `upstream connection broke mid-response: ${err.code ?? err.message}`;
        o.metrics.upstreamErrors.inc({ kind: 'broken' });
      } else {
        message = `kubetape could not reach the upstream cluster ${target}: ${describeNetError(err)}`;
        o.metrics.upstreamErrors.inc({ kind: 'connect' });
      }
      if (res.headersSent) res.destroy();
      else sendError(res, f.resourceRequest, code, message);
      finish(req, res, code, message);
    });
  };

  /** `status` undefined: keep the upstream's status if one arrived (a client leaving a watch), else 499. */
  function finish(req: IncomingMessage, _res: ServerResponse, status: number | undefined, error?: string, endedBy?: 'client'): void {
    const f = inflight.get(req);
    if (!f) return;
    inflight.delete(req);
    clearTimeout(f.timer);
    const code = status ?? (f.exchange.statusCode || 499);
    f.exchange.finish(error, code, endedBy);
    o.metrics.requests.inc({ verb: f.verb, code: String(code) });
    o.metrics.duration.observe({ verb: f.verb }, (Date.now() - f.started) / 1000);
  }

  const serverPrefix = o.upstream.server.pathname.replace(/\/+$/, '');
  const proxyOptions = {
    changeOrigin: true,
    secure: !o.upstream.insecureSkipTlsVerify,
    agent: o.agent,
    // Every request's target carries the credential of the moment (client certs rotate).
    router: (req: IncomingMessage) => {
      const f = inflight.get(req);
      return upstreamTarget(o.upstream, f?.auth ?? {}) as unknown as string;
    },
    target: o.upstream.server.toString(),
    ejectPlugins: true, // no default logger or error page: errors become Status objects below
    plugins: [tap],
  };
  const proxy = createProxyMiddleware<IncomingMessage, ServerResponse>(proxyOptions);
  // Only responses that must be masked are handled by kubetape; the rest keep the piped path.
  const maskingProxy = createProxyMiddleware<IncomingMessage, ServerResponse>({ ...proxyOptions, selfHandleResponse: true });

  return async (req: Request, res: Response, next: NextFunction) => {
    const started = Date.now();
    const target = res.locals['target'] as RequestTarget;
    // Read the same way admit() reads them, for what the transport needs before admission answers.
    const attrs = requestAttributes(req.method, target);
    const streaming = isStreamingRequest(attrs, target);
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    const admission = await o.admit({
      req,
      method: req.method,
      target,
      kind: 'rest',
      authorization: req.headers.authorization,
      identity: res.locals['identity'] as Identity,
      streaming,
      signal: gone.signal,
      ...(hasBody(req) ? { readBody: () => readBody(req, o.maxRequestBodyBytes) } : {}),
    });
    res.off('close', onClose);
    if (!admission.ok) {
      if (admission.gone) return;
      const r = admission.refusal;
      return sendError(res, attrs.isResourceRequest, r.code, r.message, r.reason);
    }
    const a = admission.admitted;
    o.metrics.bytes.inc({ direction: 'in' }, a.body?.length ?? 0);
    inflight.set(req, {
      exchange: a.exchange,
      identity: a.identity,
      auth: a.auth,
      target: a.target,
      body: a.body,
      verb: a.attrs.verb,
      resourceRequest: a.attrs.isResourceRequest,
      streaming,
      started,
      timedOut: false,
      ...(a.mask ? { mask: a.mask } : {}),
    });
    res.on('close', () => {
      // Covers a client that leaves before any upstream response arrived.
      if (inflight.has(req) && !res.writableFinished) finish(req, res, undefined, 'client closed the connection', 'client');
    });
    return (a.mask ? maskingProxy : proxy)(req, res, next);
  };
}

function header(m: IncomingMessage, name: string): string | undefined {
  const v = m.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function describeNetError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
      return `TLS verification failed (${err.code}); check the cluster's certificate-authority`;
    default:
      return err.code ? `${err.code} ${err.message}` : err.message;
  }
}
