// Forwarding of ordinary (non-upgrade) API requests through
// http-proxy-middleware. By the time a request gets here it is
// authenticated; this module records it durably, swaps the caller's
// credential for kubetape's, and taps the response as it streams back.
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Agent } from 'node:https';
import { createProxyMiddleware, type Plugin } from 'http-proxy-middleware';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { sendError } from '../kube/status.js';
import { requestAttributes, isStreamingRequest } from './request-info.js';
import { clientOf, recordedHeaders, stripCallerHeaders } from './headers.js';
import { parseImpersonation } from '../authorize/impersonation.js';
import { credentialsForImpersonation, recordedImpersonation } from '../authorize/caller-impersonation.js';
import { readBody, hasBody, BodyTooLargeError } from './read-body.js';
import { upstreamTarget, type Upstream, type UpstreamAuth } from './upstream.js';
import type { Recorder, Exchange } from '../record/recorder.js';
import type { Identity, RequestAttributes } from '../record/model.js';
import type { Metrics } from '../admin/metrics.js';
import { credentialFailure } from '../credentials/credential-error.js';
import type { PolicyHolder } from '../authorize/policy/holder.js';
import { evaluatePolicyWithLabels } from '../authorize/policy/evaluate.js';
import { applyDecision, recordedDecision, recordedLookupFailure, restPolicyRequest } from '../authorize/policy/guard.js';
import { LabelLookupError, restLabelSource } from '../authorize/policy/label-sources.js';
import type { ApprovalStore } from '../authorize/approvals/store.js';
import { holdForDecision } from '../authorize/approvals/hold.js';
import { relayMasked } from './masked-response.js';
import { maskableAccept } from './maskable-accept.js';

export interface RestForwarderOptions {
  upstream: Upstream;
  recorder: Recorder;
  metrics: Metrics;
  agent: Agent;
  /** How long to wait for the upstream's response headers on non-streaming requests. */
  responseTimeoutMs: number;
  maxRequestBodyBytes: number;
  /** Guardrails: refusals before forwarding, Secret masking on the way back. */
  policy?: PolicyHolder;
  /** Just-in-time approval state for require-approval rules. */
  approvals?: ApprovalStore;
}

/** What one request carries from the handler to the proxy's events. */
interface InFlight {
  exchange: Exchange;
  identity: Identity;
  auth: UpstreamAuth;
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
      if (f.mask) {
        // The recorder sees what the client gets: decoded and masked.
        f.exchange.responseHead(status, header(proxyRes, 'content-type'), undefined);
        relayMasked(proxyRes, res, {
          ...f.mask,
          onData: (chunk) => f.exchange.responseData(chunk),
          onEnd: (code, error) => finish(req, res, code, error),
        });
        return;
      }
      f.exchange.responseHead(status, header(proxyRes, 'content-type'), header(proxyRes, 'content-encoding'));
      proxyRes.on('data', (chunk: Buffer) => f.exchange.responseData(chunk));
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
  function finish(req: IncomingMessage, _res: ServerResponse, status: number | undefined, error?: string): void {
    const f = inflight.get(req);
    if (!f) return;
    inflight.delete(req);
    clearTimeout(f.timer);
    const code = status ?? (f.exchange.statusCode || 499);
    f.exchange.finish(error, code);
    o.metrics.requests.inc({ verb: f.verb, code: String(code) });
    o.metrics.duration.observe({ verb: f.verb }, (Date.now() - f.started) / 1000);
  }

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
    const identity = res.locals['identity'] as Identity;
    const started = Date.now();
    const uri = req.originalUrl;
    const attrs = requestAttributes(req.method, uri);
    const streaming = isStreamingRequest(attrs, uri);
    const headersToRecord = recordedHeaders(req.headers);
    const impersonation = parseImpersonation(req.headersDistinct);
    const impersonationRecord = recordedImpersonation(o.upstream.credentials, identity, impersonation);
    const stripped = stripCallerHeaders(req.headers);
    if (stripped.length > 1 || (stripped.length === 1 && stripped[0] !== 'authorization')) {
      headersToRecord['x-kubetape-stripped'] = stripped.join(', ');
    }

    // Read before the policy: rules on labels look at what a create, update or patch carries.
    let body: Buffer | undefined;
    if (hasBody(req)) {
      try {
        body = await readBody(req, o.maxRequestBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) return sendError(res, attrs.isResourceRequest, 413, `kubetape: ${err.message}`);
        return sendError(res, attrs.isResourceRequest, 400, `kubetape could not read the request body: ${(err as Error).message}`);
      }
    }

    const policyRequest = o.policy ? restPolicyRequest(o.upstream.name, identity, attrs) : undefined;
    const query = uri.indexOf('?');
    const listSelector = policyRequest && query >= 0 ? new URLSearchParams(uri.slice(query + 1)).get('labelSelector') : null;
    if (policyRequest && listSelector !== null) policyRequest.labelSelector = listSelector;
    let decision;
    let lookupFailure: LabelLookupError | undefined;
    try {
      // The target's labels are read only if a rule with `labels` is reached.
      const labels = restLabelSource({ upstream: o.upstream, agent: o.agent }, { ...attrs, identity, ...(body ? { body } : {}), ...optional('contentType', header(req, 'content-type')) });
      decision = o.policy && policyRequest ? await evaluatePolicyWithLabels(o.policy.current, policyRequest, labels) : undefined;
    } catch (err) {
      if (!(err instanceof LabelLookupError)) throw err;
      lookupFailure = err;
    }
    let outcome;
    try {
      outcome = decision && policyRequest ? await applyDecision(decision, policyRequest, describeRequest(attrs), o.approvals) : undefined;
    } catch (err) {
      // Approval state unreadable: refuse rather than let a guarded request through.
      return sendError(res, attrs.isResourceRequest, 503, `kubetape could not check approvals: ${(err as Error).message}`, 'ServiceUnavailable');
    }
    const holdMs = decision?.rule?.holdMs;
    if (outcome?.refusal && holdMs && outcome.approval && o.approvals && decision && policyRequest && (await o.approvals.get(outcome.approval.id).catch(() => undefined))?.status === 'pending') {
      // Held open, nothing sent upstream, until an approver decides, the hold runs out or the client leaves.
      const gone = new AbortController();
      const onClose = () => gone.abort();
      res.once('close', onClose);
      const held = await holdForDecision(o.approvals, outcome.approval.id, holdMs, gone.signal);
      res.off('close', onClose);
      if (held === 'gone') return;
      try {
        // Approved: this takes the grant (recorded as used); denied or timed out: the refusal as today.
        outcome = await applyDecision(decision, policyRequest, describeRequest(attrs), o.approvals);
      } catch (err) {
        return sendError(res, attrs.isResourceRequest, 503, `kubetape could not check approvals: ${(err as Error).message}`, 'ServiceUnavailable');
      }
      if (held === 'timeout' && outcome.refusal) outcome = { ...outcome, refusal: `${outcome.refusal} (held ${Math.round(holdMs / 1000)}s without a decision)` };
    }
    const policyRecord = lookupFailure ? recordedLookupFailure(lookupFailure.rule, lookupFailure.message) : decision && recordedDecision(decision, outcome?.approval);

    let exchange: Exchange;
    try {
      exchange = await o.recorder.begin({
        identity,
        method: req.method,
        uri,
        attrs,
        headers: headersToRecord,
        ...(body ? { body } : {}),
        streaming,
        ...clientOf(req),
        ...(impersonationRecord ? { impersonation: impersonationRecord } : {}),
        ...(policyRecord ? { policy: policyRecord } : {}),
      });
    } catch (err) {
      o.metrics.failClosedRefusals.inc();
      o.metrics.requests.inc({ verb: attrs.verb, code: '503' });
      return sendError(res, attrs.isResourceRequest, 503, `kubetape refused the request because it could not be recorded: ${(err as Error).message}`, 'ServiceUnavailable');
    }

    if (lookupFailure) {
      // Fail closed: a rule needed labels that could not be read, so nothing is sent.
      const code = lookupFailure.statusCode;
      exchange.finish(lookupFailure.message, code);
      o.metrics.requests.inc({ verb: attrs.verb, code: String(code) });
      return sendError(res, attrs.isResourceRequest, code, lookupFailure.message, code === 403 ? 'Forbidden' : 'ServiceUnavailable');
    }
    const refusal = outcome?.refusal;
    if (refusal) {
      exchange.finish(refusal, 403);
      o.metrics.requests.inc({ verb: attrs.verb, code: '403' });
      return sendError(res, attrs.isResourceRequest, 403, refusal, 'Forbidden');
    }
    const mask = decision?.action === 'mask' && isSecretRequest(attrs) ? { watch: streaming, onUnmaskable: o.policy!.current.onUnmaskable } : undefined;

    let auth: UpstreamAuth;
    if (impersonation) {
      // Forwarded only as the identity the cluster agreed the caller may take on.
      const outcome = await credentialsForImpersonation(o.upstream.credentials, identity, impersonation);
      if (!outcome.ok) {
        exchange.finish(outcome.message, outcome.code);
        if (outcome.code >= 500) o.metrics.upstreamErrors.inc({ kind: 'credential' });
        o.metrics.requests.inc({ verb: attrs.verb, code: String(outcome.code) });
        return sendError(res, attrs.isResourceRequest, outcome.code, outcome.message, outcome.reason);
      }
      auth = outcome.auth;
    } else {
      try {
        auth = await o.upstream.credentials.get(identity);
      } catch (err) {
        const { code, message, reason } = credentialFailure(err);
        exchange.finish(message, code);
        o.metrics.upstreamErrors.inc({ kind: 'credential' });
        o.metrics.requests.inc({ verb: attrs.verb, code: String(code) });
        return sendError(res, attrs.isResourceRequest, code, message, reason);
      }
    }

    o.metrics.bytes.inc({ direction: 'in' }, body?.length ?? 0);
    inflight.set(req, { exchange, identity, auth, body, verb: attrs.verb, resourceRequest: attrs.isResourceRequest, streaming, started, timedOut: false, ...(mask ? { mask } : {}) });
    res.on('close', () => {
      // Covers a client that leaves before any upstream response arrived.
      if (inflight.has(req) && !res.writableFinished) finish(req, res, undefined, 'client closed the connection');
    });
    return (mask ? maskingProxy : proxy)(req, res, next);
  };
}

/** Core-group Secrets: the only bodies `mask` rewrites (pattern masking of the recording covers the rest). */
function isSecretRequest(a: RequestAttributes): boolean {
  return a.isResourceRequest && a.apiGroup === '' && a.resource === 'secrets' && a.subresource === '';
}

/** "delete namespaces/prod", "get secrets in prod": what a refusal message says was asked. */
function describeRequest(a: RequestAttributes): string {
  if (!a.isResourceRequest) return `${a.verb} on this path`;
  const res = (a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource) + (a.subresource ? `/${a.subresource}` : '');
  return `${a.verb} ${res}${a.name ? ` "${a.name}"` : ''}${a.namespace ? ` in namespace ${a.namespace}` : ''}`;
}

function header(m: IncomingMessage, name: string): string | undefined {
  const v = m.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function optional<K extends string>(key: K, v: string | undefined): { [P in K]?: string } {
  return v === undefined ? {} : ({ [key]: v } as { [P in K]: string });
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
