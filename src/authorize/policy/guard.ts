// The policy on the data path: what a REST request or a stream request is
// as the policy sees it, and what kubectl is told when a rule refuses it.
import type { Identity } from '../../model/identity.js';
import type { PolicyRecord } from '../../model/recording.js';
import type { RequestAttributes } from '../../model/request-attributes.js';
import type { StreamAuthorizer } from '../../forward/streams/authorize-stream.js';
import { evaluatePolicy, evaluatePolicyWithLabels } from './evaluate.js';
import { LabelLookupError, podLabelSource, type LabelLookupDeps } from './label-sources.js';
import type { PolicyHolder } from './holder.js';
import type { LabelFacts, PolicyDecision, PolicyRequest, PolicyRule } from './types.js';
import type { ApprovalStore } from '../approvals/store.js';
import { approvalGate, type GateOutcome } from '../approvals/gate.js';
import { streamDecision } from './stream-decision.js';

export function restPolicyRequest(cluster: string, identity: Identity, a: RequestAttributes): PolicyRequest {
  return {
    cluster,
    user: identity.user,
    groups: identity.groups,
    ...actor(identity),
    verb: a.verb,
    apiGroup: a.apiGroup,
    resource: a.resource,
    subresource: a.subresource,
    namespace: a.namespace,
    name: a.name,
  };
}

/** The caller as an actor: an agent (by name) and whom it acts for; nothing for a person. */
export function actor(identity: Identity): Pick<PolicyRequest, 'agent' | 'actingFor'> {
  if (identity.kind !== 'machine') return {};
  return { agent: identity.agent ?? identity.user, ...(identity.actingFor ? { actingFor: identity.actingFor } : {}) };
}

/** What the recording keeps about a decision (and the approval it was refused under or the grant it used). */
export function recordedDecision(d: PolicyDecision, approval?: GateOutcome['approval']): PolicyRecord | undefined {
  const labels = d.labels && recordedLabels(d.labels);
  return d.rule ? { action: d.action, rule: d.rule.name, index: d.rule.index, ...(approval ? { approval } : {}), ...(labels ? { labels } : {}) } : undefined;
}

/** The labels a decision used, as recorded (nothing when no side applied, e.g. a non-resource path). */
function recordedLabels(f: LabelFacts): PolicyRecord['labels'] {
  const out: NonNullable<PolicyRecord['labels']> = {};
  if (f.current !== undefined) out.current = f.current;
  if (f.next !== undefined) out.new = f.next;
  if (f.collection) out.selector = f.collection.text;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A request refused because the labels a rule needed could not be read: recorded under that rule. */
export function recordedLookupFailure(rule: PolicyRule, message: string): PolicyRecord {
  return { action: rule.action, rule: rule.name, index: rule.index, labels: { error: message } };
}

/**
 * A decision applied: the refusal message (undefined when the request may go
 * on) and, for require-approval with an approval store, the approval involved.
 */
export async function applyDecision(d: PolicyDecision, req: PolicyRequest, what: string, approvals: ApprovalStore | undefined): Promise<GateOutcome> {
  if (d.action === 'require-approval' && d.rule && approvals) return approvalGate(approvals, d as PolicyDecision & { action: 'require-approval' }, req, what);
  const refusal = refusalMessage(d, what);
  return refusal ? { refusal } : {};
}

/** The refusal message for a deny or require-approval decision; undefined when the request may proceed. */
export function refusalMessage(d: PolicyDecision, what: string): string | undefined {
  if (!d.rule) return undefined;
  if (d.action === 'deny') return `${d.rule.message} (kubetape policy rule "${d.rule.name}")`;
  if (d.action === 'require-approval') {
    const why = d.rule.message ? `${d.rule.message}; ` : '';
    // Approvals are not built yet: the rule holds as a deny so nothing slips through.
    return `${why}${what} requires approval (kubetape policy rule "${d.rule.name}"), and just-in-time approval is not available in this kubetape yet: ask an administrator`;
  }
  return undefined;
}

/** Exec, attach and port-forward asked of the policy before anything is dialed. */
export function policyStreamAuthorizer(holder: PolicyHolder, cluster: string, approvals?: ApprovalStore, labels?: LabelLookupDeps): StreamAuthorizer {
  return async (info) => {
    const x = info.exec;
    const req: PolicyRequest = {
      cluster,
      user: info.identity.user,
      groups: info.identity.groups,
      ...actor(info.identity),
      // The API server authorizes these subresources as "create" on pods/<kind>.
      verb: 'create',
      apiGroup: '',
      resource: 'pods',
      subresource: info.kind,
      namespace: info.namespace,
      name: info.pod,
      ...(x ? { exec: { command: x.command, ...(x.container !== undefined ? { container: x.container } : {}), tty: x.tty, stdin: x.stdin } } : {}),
    };
    let d: PolicyDecision;
    try {
      // The pod's labels are read only when a rule with `labels` is reached; without a lookup, unknown labels match blocking rules.
      d = labels
        ? await evaluatePolicyWithLabels(holder.current, req, podLabelSource(labels, info.identity, info.namespace, info.pod))
        : evaluatePolicy(holder.current, req);
    } catch (err) {
      if (err instanceof LabelLookupError) return { allow: false, message: err.message, policy: recordedLookupFailure(err.rule, err.message) };
      throw err;
    }
    // Refusal (after any hold), the record for the request event, line rules, inline masking.
    return streamDecision(holder.current, d, req, info, approvals);
  };
}
