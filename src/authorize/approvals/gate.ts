// Where a require-approval decision meets approval state: a usable grant
// lets the request through (and is recorded as used); otherwise the request
// is refused with its approval id and how to ask for it.
import type { PolicyDecision, PolicyRequest } from '../policy/types.js';
import { approvalId } from './model.js';
import type { ApprovalStore } from './store.js';

export const DEFAULT_MAX_GRANT_MS = 3_600_000;

export interface GateOutcome {
  /** Set when the request must be refused (403). */
  refusal?: string;
  /** The approval this request was refused under, or the grant it used. */
  approval?: { id: string; grant?: string };
}

export async function approvalGate(
  store: ApprovalStore,
  d: PolicyDecision & { action: 'require-approval' },
  req: PolicyRequest,
  what: string,
): Promise<GateOutcome> {
  const rule = d.rule!;
  const id = approvalId(req);
  const grant = await store.useGrant(id);
  if (grant) return { approval: { id, grant } };
  const s = await store.request({
    id,
    user: req.user,
    cluster: req.cluster,
    what,
    rule: rule.name,
    approvers: rule.approvers ?? [],
    maxGrantMs: rule.maxGrantMs ?? DEFAULT_MAX_GRANT_MS,
  });
  const why = rule.message ? `${rule.message}; ` : '';
  const head = `${why}${what} requires approval (kubetape policy rule "${rule.name}"), approval id ${id}`;
  if (s.status === 'denied') {
    return {
      approval: { id },
      refusal: `${head}: denied by ${s.decidedBy ?? 'an approver'}${s.denyReason ? ` (${s.denyReason})` : ''}; to ask again: kubetape approvals request ${id} --reason "..."`,
    };
  }
  return {
    approval: { id },
    refusal: `${head}: ask for it with: kubetape approvals request ${id} --reason "...", then retry this command once it is approved`,
  };
}
