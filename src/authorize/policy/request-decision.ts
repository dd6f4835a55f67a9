// The policy asked about an API request (a REST request or a tunnelled
// upgrade), with everything it may take: the target's labels when a rule
// needs them, the approval gate, and a `hold:` that keeps the request open,
// with nothing sent upstream, until an approver decides. Exec, attach and
// port-forward go through policyStreamAuthorizer (guard.ts) instead: they
// also carry typed-line rules and inline masking.
import type { Agent } from 'node:https';
import type { Identity } from '../../model/identity.js';
import type { PolicyRecord } from '../../model/recording.js';
import type { RequestAttributes } from '../../model/request-attributes.js';
import type { RequestTarget } from '../../model/request-target.js';
import type { Upstream } from '../../model/upstream.js';
import type { ApprovalStore } from '../approvals/store.js';
import { holdForDecision } from '../approvals/hold.js';
import type { GateOutcome } from '../approvals/gate.js';
import type { PolicyHolder } from './holder.js';
import type { PolicyDecision } from './types.js';
import { evaluatePolicyWithLabels } from './evaluate.js';
import { applyDecision, recordedDecision, recordedLookupFailure, restPolicyRequest } from './guard.js';
import { LabelLookupError, restLabelSource } from './label-sources.js';

export interface RequestDecisionDeps {
  upstream: Upstream;
  policy: PolicyHolder;
  approvals?: ApprovalStore;
  /** For reading a target's current labels when a rule asks for them. */
  agent?: Agent;
}

export interface DecidedRequest {
  identity: Identity;
  attrs: RequestAttributes;
  target: RequestTarget;
  /** A create, update or patch body: rules on labels read the labels it would leave. */
  body?: Buffer;
  contentType?: string;
  /** Aborted when the client goes away while the request is held for approval. */
  signal?: AbortSignal;
}

/** What the policy says: the decision taken (for masking), the record, and a refusal if any. */
export type RequestVerdict =
  | { allow: true; decision?: PolicyDecision; policy?: PolicyRecord }
  | { allow: false; code: number; reason: string; message: string; policy?: PolicyRecord; gone?: boolean };

export async function decideRequest(d: RequestDecisionDeps, r: DecidedRequest): Promise<RequestVerdict> {
  const req = restPolicyRequest(d.upstream.name, r.identity, r.attrs);
  const selector = r.target.params.get('labelSelector');
  if (selector !== null) req.labelSelector = selector;

  let decision: PolicyDecision;
  try {
    // The target's labels are read only if a rule with `labels` is reached.
    const labels = restLabelSource(
      { upstream: d.upstream, ...(d.agent ? { agent: d.agent } : {}) },
      { ...r.attrs, identity: r.identity, ...(r.body ? { body: r.body } : {}), ...(r.contentType !== undefined ? { contentType: r.contentType } : {}) },
    );
    decision = await evaluatePolicyWithLabels(d.policy.current, req, labels);
  } catch (err) {
    if (!(err instanceof LabelLookupError)) throw err;
    // Fail closed: a rule needed labels that could not be read.
    return {
      allow: false,
      code: err.statusCode,
      reason: err.statusCode === 403 ? 'Forbidden' : 'ServiceUnavailable',
      message: err.message,
      policy: recordedLookupFailure(err.rule, err.message),
    };
  }

  const what = describeRequest(r.attrs);
  const unreadable = (err: unknown, outcome: GateOutcome) =>
    refused(decision, outcome, 503, 'ServiceUnavailable', `kubetape could not check approvals: ${(err as Error).message}`);
  let outcome: GateOutcome;
  try {
    outcome = await applyDecision(decision, req, what, d.approvals);
  } catch (err) {
    // Approval state unreadable: refuse rather than let a guarded request through.
    return unreadable(err, {});
  }
  const holdMs = decision.rule?.holdMs;
  if (
    outcome.refusal &&
    holdMs &&
    outcome.approval &&
    d.approvals &&
    r.signal &&
    (await d.approvals.get(outcome.approval.id).catch(() => undefined))?.status === 'pending'
  ) {
    // Held open, nothing sent upstream, until an approver decides, the hold runs out or the client leaves.
    const held = await holdForDecision(d.approvals, outcome.approval.id, holdMs, r.signal);
    if (held === 'gone')
      return { ...refused(decision, outcome, 499, 'ClientClosedRequest', 'the client went away while the request was held for approval'), gone: true };
    try {
      // Approved: this takes the grant (recorded as used); denied or timed out: the refusal as without a hold.
      outcome = await applyDecision(decision, req, what, d.approvals);
    } catch (err) {
      return unreadable(err, outcome);
    }
    if (held === 'timeout' && outcome.refusal) outcome = { ...outcome, refusal: `${outcome.refusal} (held ${Math.round(holdMs / 1000)}s without a decision)` };
  }
  if (outcome.refusal) return refused(decision, outcome, 403, 'Forbidden', outcome.refusal);
  const policy = recordedDecision(decision, outcome.approval);
  return { allow: true, decision, ...(policy ? { policy } : {}) };
}

function refused(d: PolicyDecision, outcome: GateOutcome, code: number, reason: string, message: string): RequestVerdict & { allow: false } {
  const policy = recordedDecision(d, outcome.approval);
  return { allow: false, code, reason, message, ...(policy ? { policy } : {}) };
}

/** "delete namespaces/prod", "get secrets in prod": what a refusal message says was asked. */
export function describeRequest(a: RequestAttributes): string {
  if (!a.isResourceRequest) return `${a.verb} on this path`;
  const res = (a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource) + (a.subresource ? `/${a.subresource}` : '');
  return `${a.verb} ${res}${a.name ? ` "${a.name}"` : ''}${a.namespace ? ` in namespace ${a.namespace}` : ''}`;
}
