// The policy on the data path: what a REST request or a stream request is
// as the policy sees it, and what kubectl is told when a rule refuses it.
import type { Identity, PolicyRecord, RequestAttributes } from '../../record/model.js';
import type { StreamAuthorizer } from '../../forward/streams/authorize-stream.js';
import { evaluatePolicy } from './evaluate.js';
import type { PolicyHolder } from './holder.js';
import type { PolicyDecision, PolicyRequest } from './types.js';
import type { ApprovalStore } from '../approvals/store.js';
import { approvalGate, type GateOutcome } from '../approvals/gate.js';

export function restPolicyRequest(cluster: string, identity: Identity, a: RequestAttributes): PolicyRequest {
  return { cluster, user: identity.user, groups: identity.groups, verb: a.verb, apiGroup: a.apiGroup, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name };
}

/** What the recording keeps about a decision (and the approval it was refused under or the grant it used). */
export function recordedDecision(d: PolicyDecision, approval?: GateOutcome['approval']): PolicyRecord | undefined {
  return d.rule ? { action: d.action, rule: d.rule.name, index: d.rule.index, ...(approval ? { approval } : {}) } : undefined;
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
export function policyStreamAuthorizer(holder: PolicyHolder, cluster: string, approvals?: ApprovalStore): StreamAuthorizer {
  return async (info) => {
    const x = info.exec;
    const req: PolicyRequest = {
      cluster,
      user: info.identity.user,
      groups: info.identity.groups,
      // The API server authorizes these subresources as "create" on pods/<kind>.
      verb: 'create',
      apiGroup: '',
      resource: 'pods',
      subresource: info.kind,
      namespace: info.namespace,
      name: info.pod,
      ...(x ? { exec: { command: x.command, ...(x.container !== undefined ? { container: x.container } : {}), tty: x.tty, stdin: x.stdin } } : {}),
    };
    const d = evaluatePolicy(holder.current, req);
    const { refusal } = await applyDecision(d, req, `${info.kind} into ${info.namespace}/${info.pod}`, approvals);
    if (refusal) return { allow: false, message: refusal };
    // Line rules only make sense on a terminal (the match requires tty: true).
    return d.rule?.typed && x?.tty ? { allow: true, typed: { rule: d.rule.name, lines: d.rule.typed } } : { allow: true };
  };
}
