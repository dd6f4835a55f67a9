// What the guardrails say about an upgrade kubetape would tunnel as bytes
// (a WebSocket watch, a proxy subresource). The tunnel cannot look inside
// what it carries, so everything is decided before anything is dialed: only
// GET may be upgraded (anything else would run upstream as a plain request,
// the Upgrade ignored), the same rules as a REST request apply, and a Secret
// that `mask` would rewrite is refused rather than streamed in clear.
import type { Agent } from 'node:https';
import type { Identity, PolicyRecord, RequestAttributes } from '../record/model.js';
import type { PolicyHolder } from '../authorize/policy/holder.js';
import type { ApprovalStore } from '../authorize/approvals/store.js';
import type { PolicyDecision } from '../authorize/policy/types.js';
import { evaluatePolicyWithLabels } from '../authorize/policy/evaluate.js';
import { applyDecision, recordedDecision, recordedLookupFailure, restPolicyRequest } from '../authorize/policy/guard.js';
import { LabelLookupError, restLabelSource } from '../authorize/policy/label-sources.js';
import type { Upstream } from './upstream.js';

export interface TunnelPolicyOptions {
  upstream: Upstream;
  policy: PolicyHolder;
  approvals?: ApprovalStore;
  /** For reading a target's labels when a rule asks for them (as REST does). */
  agent?: Agent;
}

/** What the tunnel does with one upgrade, and what its request event records. */
export type TunnelVerdict =
  | { allow: true; policy?: PolicyRecord }
  | { allow: false; code: number; reason: string; message: string; policy?: PolicyRecord };

/** The refusal for an upgrade with a method other than GET; undefined for GET. */
export function tunnelMethodRefusal(method: string): string | undefined {
  if (method === 'GET') return undefined;
  return `kubetape: only GET requests may be upgraded; send ${method} without the Connection: Upgrade and Upgrade headers`;
}

/** The policy asked about a GET upgrade, exactly as for the same REST request (approvals included, no hold). */
export async function tunnelPolicyVerdict(o: TunnelPolicyOptions, identity: Identity, attrs: RequestAttributes, uri: string): Promise<TunnelVerdict> {
  const req = restPolicyRequest(o.upstream.name, identity, attrs);
  const q = uri.indexOf('?');
  const selector = q >= 0 ? new URLSearchParams(uri.slice(q + 1)).get('labelSelector') : null;
  if (selector !== null) req.labelSelector = selector;

  let decision: PolicyDecision;
  try {
    const labels = restLabelSource({ upstream: o.upstream, ...(o.agent ? { agent: o.agent } : {}) }, { ...attrs, identity });
    decision = await evaluatePolicyWithLabels(o.policy.current, req, labels);
  } catch (err) {
    if (!(err instanceof LabelLookupError)) throw err;
    return { allow: false, code: err.statusCode, reason: err.statusCode === 403 ? 'Forbidden' : 'ServiceUnavailable', message: err.message, policy: recordedLookupFailure(err.rule, err.message) };
  }

  let outcome;
  try {
    outcome = await applyDecision(decision, req, describeUpgrade(attrs), o.approvals);
  } catch (err) {
    // Approval state unreadable: refuse rather than let a guarded request through.
    return { allow: false, code: 503, reason: 'ServiceUnavailable', message: `kubetape could not check approvals: ${(err as Error).message}`, ...withPolicy(recordedDecision(decision)) };
  }
  const policy = recordedDecision(decision, outcome.approval);
  if (outcome.refusal) return { allow: false, code: 403, reason: 'Forbidden', message: outcome.refusal, ...withPolicy(policy) };
  if (decision.action === 'mask' && isSecretRequest(attrs)) {
    return {
      allow: false,
      code: 403,
      reason: 'Forbidden',
      message: `kubetape: Secret values are masked for you (kubetape policy rule "${decision.rule?.name ?? 'mask'}"), and kubetape cannot mask a tunnelled stream; send the request without the Connection: Upgrade and Upgrade headers (kubectl's own watch is a plain GET)`,
      ...withPolicy(policy),
    };
  }
  return { allow: true, ...withPolicy(policy) };
}

function withPolicy(p: PolicyRecord | undefined): { policy?: PolicyRecord } {
  return p ? { policy: p } : {};
}

/** Core-group Secrets: the bodies `mask` rewrites on the REST path. */
function isSecretRequest(a: RequestAttributes): boolean {
  return a.isResourceRequest && a.apiGroup === '' && a.resource === 'secrets';
}

/** "watch secrets in namespace default": what a refusal or an approval says was asked. */
function describeUpgrade(a: RequestAttributes): string {
  if (!a.isResourceRequest) return `${a.verb} on this path`;
  const res = (a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource) + (a.subresource ? `/${a.subresource}` : '');
  return `${a.verb} ${res}${a.name ? ` "${a.name}"` : ''}${a.namespace ? ` in namespace ${a.namespace}` : ''}`;
}
