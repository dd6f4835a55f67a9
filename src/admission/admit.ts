// Admission: the one sequence every request that may reach the cluster goes
// through, whatever carries it (a REST request, an exec/attach/port-forward
// upgrade, a tunnelled upgrade):
//
//   authenticate -> the caller's Impersonate-* -> body (REST) -> policy
//   (labels, approvals, hold) -> the durable record -> refusals -> the
//   credential kubetape presents upstream
//
// and that returns either an Admitted request, holding the one
// RequestTarget everything was decided and recorded on, or a Refusal for
// the transport to render (a Status response, or a Status answer to an
// upgrade). Transports keep only their own wire work: they never decide.
//
// Ordering rules: nothing is read from a caller kubetape cannot name (the
// body is read only after authentication); the policy is asked before the
// record is made, so the request event carries its decision; every refusal
// after authentication is recorded; nothing reaches the cluster before the
// record is durable (failMode: closed); the caller's Authorization and
// Impersonate-* never leave this step (the credential is kubetape's, or the
// identity the cluster agreed the caller may take on).
import type { Agent } from 'node:https';
import type { Authenticator } from '../authenticate/identity.js';
import { requestContext } from '../authenticate/credential-context.js';
import type { Metrics } from '../admin/metrics.js';
import type { Identity } from '../model/identity.js';
import type { RequestAttributes } from '../model/request-attributes.js';
import type { PolicyRecord } from '../model/recording.js';
import { isSecret, requestAttributes } from '../model/request-attributes.js';
import { unsendableHeader } from '../model/header-text.js';
import { impersonationRefusal, parseImpersonation } from '../authorize/impersonation.js';
import { credentialsForImpersonation, recordedImpersonation } from '../authorize/caller-impersonation.js';
import type { PolicyHolder } from '../authorize/policy/holder.js';
import type { ApprovalStore } from '../authorize/approvals/store.js';
import { decideRequest } from '../authorize/policy/request-decision.js';
import { credentialFailure } from '../credentials/credential-error.js';
import type { Upstream, UpstreamAuth } from '../model/upstream.js';
import { clientOf, recordedHeaders, stripCallerHeaders } from '../forward/headers.js';
import { allowAllStreams, authorizeStream, type StreamAuthorizer } from '../forward/streams/authorize-stream.js';
import type { InlineMasking } from '../forward/streams/inline-mask.js';
import type { TypedLineRules } from '../forward/streams/typed-line.js';
import type { Exchange, Recorder } from '../record/recorder.js';
import { RecordingBudgetError } from '../record/limits.js';
import type { Admission, AdmissionRequest, Admit, Admitted, Refusal } from '../forward/admitted.js';

export interface AdmissionDeps {
  authenticator: Authenticator;
  upstream: Upstream;
  recorder: Recorder;
  metrics: Metrics;
  /** Guardrails, when a policy is configured. */
  policy?: PolicyHolder;
  approvals?: ApprovalStore;
  /** For label lookups a rule may need. */
  agent?: Agent;
  /** Exec, attach and port-forward: the stream policy hook (default: the process-wide one, allow-all unless guardrails installed theirs). */
  authorizeStream?: StreamAuthorizer;
}

interface Verdict {
  refusal?: Refusal;
  gone?: boolean;
  policy?: PolicyRecord;
  mask?: boolean;
  typed?: TypedLineRules;
  inline?: InlineMasking;
}

export function createAdmission(d: AdmissionDeps): Admit {
  const streamPolicy = d.authorizeStream ?? allowAllStreams;
  const refuse = (verb: string, refusal: Refusal, exchange?: Exchange): Admission => {
    exchange?.finish(refusal.message, refusal.code);
    d.metrics.requests.inc({ verb, code: String(refusal.code) });
    return { ok: false, refusal };
  };

  return async (r) => {
    // 1. Who is asking. A caller kubetape cannot name is counted, not recorded.
    const authn = r.identity ? { ok: true as const, identity: r.identity } : await d.authenticator.authenticate(r.authorization);
    if (!authn.ok) {
      d.metrics.authFailures.inc();
      const code = authn.status ?? 401;
      const refusal =
        code === 401
          ? { code, message: `Unauthorized: ${authn.reason}`, reason: 'Unauthorized' }
          : { code, message: `kubetape cannot check credentials right now: ${authn.reason}`, reason: 'ServiceUnavailable' };
      return refuse(r.method.toLowerCase(), refusal);
    }
    const identity = authn.identity;
    const attrs = requestAttributes(r.method, r.target);

    // 2. The caller's own credential and impersonation never go further: recorded as evidence, then removed.
    const headers = { ...recordedHeaders(r.req.headers), ...r.extraHeaders };
    // Which tool call this belongs to (W3C trace context) and the client's own name: validated, recorded with the request.
    const context = requestContext(r.req.headers, r.authorization);
    const impersonation = parseImpersonation(r.req.headersDistinct);
    const impersonationRecord = recordedImpersonation(d.upstream.credentials, identity, impersonation);
    const stripped = stripCallerHeaders(r.req.headers);
    if (stripped.length > 1 || (stripped.length === 1 && stripped[0] !== 'authorization')) headers['x-kubetape-stripped'] = stripped.join(', ');

    // 3. The body, bounded, before the policy: rules on labels look at what a create, update or patch carries.
    let body: Buffer | undefined;
    if (r.readBody) {
      try {
        body = await r.readBody();
      } catch (err) {
        const tooLarge = (err as Error).name === 'BodyTooLargeError';
        return refuse(attrs.verb, {
          code: tooLarge ? 413 : 400,
          message: tooLarge ? `kubetape: ${(err as Error).message}` : `kubetape could not read the request body: ${(err as Error).message}`,
          reason: tooLarge ? 'RequestEntityTooLarge' : 'BadRequest',
        });
      }
    }

    // 4. Refusals that need no policy: impersonation no cluster can check, the transport's own.
    let verdict: Verdict;
    if (impersonation && !d.upstream.credentials.callerImpersonation)
      verdict = { refusal: { code: 403, message: impersonationRefusal(impersonation.names), reason: 'Forbidden' } };
    else if (r.early) verdict = { refusal: r.early };
    else verdict = await decide(r, identity, attrs, body);

    // 5. The durable record, with the decision. Nothing goes upstream unless this succeeds (failMode: closed).
    let exchange: Exchange;
    try {
      exchange = await d.recorder.begin({
        identity,
        method: r.method,
        uri: r.target.uri,
        attrs,
        headers,
        ...(body ? { body } : {}),
        streaming: r.streaming,
        ...clientOf(r.req),
        ...(r.exec ? { exec: r.exec } : {}),
        ...(r.portForward ? { portForward: r.portForward } : {}),
        ...(impersonationRecord ? { impersonation: impersonationRecord } : {}),
        ...(verdict.policy ? { policy: verdict.policy } : {}),
        ...context,
      });
    } catch (err) {
      d.metrics.failClosedRefusals.inc();
      // A spent recording budget (the disk's reserve, the caller's day) is 507; a record that could not be written, 503.
      if (err instanceof RecordingBudgetError) return refuse(attrs.verb, { code: err.statusCode, message: err.message, reason: err.reason });
      return refuse(attrs.verb, {
        code: 503,
        message: `kubetape refused the request because it could not be recorded: ${(err as Error).message}`,
        reason: 'ServiceUnavailable',
      });
    }
    if (verdict.gone) {
      refuse(attrs.verb, { code: 499, message: verdict.refusal?.message ?? 'the client went away' }, exchange);
      return { ok: false, refusal: verdict.refusal ?? { code: 499, message: 'the client went away' }, gone: true };
    }
    if (verdict.refusal) return refuse(attrs.verb, verdict.refusal, exchange);

    // 6. The credential kubetape presents: its own (or the caller's IAM role), or the identity the cluster agreed to.
    let auth: UpstreamAuth;
    if (impersonation) {
      const outcome = await credentialsForImpersonation(d.upstream.credentials, identity, impersonation);
      if (!outcome.ok) {
        if (outcome.code >= 500) d.metrics.upstreamErrors.inc({ kind: 'credential' });
        return refuse(attrs.verb, { code: outcome.code, message: outcome.message, reason: outcome.reason }, exchange);
      }
      auth = outcome.auth;
    } else {
      try {
        auth = await d.upstream.credentials.get(identity);
      } catch (err) {
        d.metrics.upstreamErrors.inc({ kind: 'credential' });
        const f = credentialFailure(err);
        return refuse(attrs.verb, { code: f.code, message: f.message, ...(f.reason ? { reason: f.reason } : {}) }, exchange);
      }
    }

    // Node throws on a header value it cannot send, and would throw in the middle of forwarding; say it here instead.
    const unsendable = unsendableHeader(auth);
    if (unsendable) {
      d.metrics.upstreamErrors.inc({ kind: 'credential' });
      const message = `kubetape could not send the credential for the upstream cluster: its ${unsendable} header holds characters HTTP cannot carry`;
      return refuse(attrs.verb, { code: 502, message }, exchange);
    }

    const admitted: Admitted = { target: r.target, identity, attrs, exchange, upstream: d.upstream, auth };
    if (body) admitted.body = body;
    if (verdict.mask) admitted.mask = { watch: r.streaming, onUnmaskable: d.policy!.current.onUnmaskable };
    if (verdict.typed) admitted.typed = verdict.typed;
    if (verdict.inline) admitted.inline = verdict.inline;
    return { ok: true, admitted };
  };

  /** The policy's verdict for this kind of request; a policy that cannot decide refuses (fail closed). */
  async function decide(r: AdmissionRequest, identity: Identity, attrs: RequestAttributes, body: Buffer | undefined): Promise<Verdict> {
    try {
      if (r.kind === 'exec' || r.kind === 'attach' || r.kind === 'portforward') {
        const s = await authorizeStream(streamPolicy, {
          identity,
          kind: r.kind,
          namespace: attrs.namespace,
          pod: attrs.name,
          uri: r.target.uri,
          ...(r.exec ? { exec: r.exec } : {}),
          ...(r.portForward ? { portForward: r.portForward } : {}),
          ...(r.signal ? { signal: r.signal } : {}),
        });
        if (!s.allow)
          return {
            refusal: { code: 403, message: s.message, reason: 'Forbidden' },
            ...(s.gone ? { gone: true } : {}),
            ...(s.policy ? { policy: s.policy } : {}),
          };
        return { ...(s.policy ? { policy: s.policy } : {}), ...(s.typed ? { typed: s.typed } : {}), ...(s.inline ? { inline: s.inline } : {}) };
      }
      if (!d.policy) return {};
      const contentType = r.req.headers['content-type'];
      const v = await decideRequest(
        { upstream: d.upstream, policy: d.policy, ...(d.approvals ? { approvals: d.approvals } : {}), ...(d.agent ? { agent: d.agent } : {}) },
        {
          identity,
          attrs,
          target: r.target,
          ...(body ? { body } : {}),
          ...(contentType !== undefined ? { contentType } : {}),
          ...(r.signal ? { signal: r.signal } : {}),
        },
      );
      if (!v.allow)
        return {
          refusal: { code: v.code, message: v.message, reason: v.reason },
          ...(v.gone ? { gone: true } : {}),
          ...(v.policy ? { policy: v.policy } : {}),
        };
      const mask = v.decision?.action === 'mask' && isSecret(attrs);
      if (mask && r.kind === 'tunnel') {
        // A tunnel carries bytes kubetape cannot rewrite: a Secret that must be masked is refused instead.
        const rule = v.decision?.rule?.name ?? 'mask';
        return {
          refusal: {
            code: 403,
            reason: 'Forbidden',
            message: `kubetape: Secret values are masked for you (kubetape policy rule "${rule}"), and kubetape cannot mask a tunnelled stream; send the request without the Connection: Upgrade and Upgrade headers (kubectl's own watch is a plain GET)`,
          },
          ...(v.policy ? { policy: v.policy } : {}),
        };
      }
      return { ...(v.policy ? { policy: v.policy } : {}), ...(mask ? { mask } : {}) };
    } catch (err) {
      return { refusal: { code: 500, message: `kubetape could not apply its policy: ${(err as Error).message}`, reason: 'InternalError' } };
    }
  }
}
