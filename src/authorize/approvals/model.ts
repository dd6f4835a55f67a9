// Approval state as it is kept: an append-only NDJSON log of requests,
// decisions and grant uses. The current state is whatever replaying the log gives.
import { createHash } from 'node:crypto';
import type { PolicyRequest } from '../policy/types.js';

/** Someone asked (a refused request, or `kubetape approvals request`). */
export interface RequestEntry {
  type: 'request';
  id: string;
  at: string;
  user: string;
  cluster: string;
  /** "delete pods "web-0" in namespace prod": what was asked, for people. */
  what: string;
  rule: string;
  approvers: string[];
  maxGrantMs: number;
  reason?: string;
}

export interface GrantTerms {
  /** Grant id: a use names it in the recording. */
  grant: string;
  once: boolean;
  /** ISO time after which the grant no longer applies. */
  expiresAt: string;
}

export interface DecisionEntry {
  type: 'decision';
  id: string;
  at: string;
  actor: string;
  decision: 'approve' | 'deny';
  grant?: GrantTerms;
  reason?: string;
}

export interface UseEntry {
  type: 'use';
  id: string;
  grant: string;
  at: string;
}

export type ApprovalEntry = RequestEntry | DecisionEntry | UseEntry;

export type ApprovalStatus = 'pending' | 'approved' | 'denied';

/** One approval id's state after replaying the log. */
export interface ApprovalState {
  request: RequestEntry;
  status: ApprovalStatus;
  grant?: GrantTerms & { uses: number };
  decidedBy?: string;
  denyReason?: string;
}

/**
 * The id of an operation by a person on a cluster: the same kubectl command
 * retried maps to the same id, so a retry finds the grant its approval made.
 */
export function approvalId(r: PolicyRequest): string {
  const op = [r.user, r.cluster, r.verb, r.apiGroup, r.resource, r.subresource, r.namespace, r.name];
  if (r.exec) op.push(r.exec.command.join('\u0000'), r.exec.container ?? '', String(r.exec.tty), String(r.exec.stdin));
  return 'ap-' + createHash('sha256').update(op.join('\u0001')).digest('hex').slice(0, 12);
}

/** Whether a grant still lets its operation through at `now`. */
export function grantUsable(g: ApprovalState['grant'], now: number): boolean {
  return !!g && Date.parse(g.expiresAt) > now && !(g.once && g.uses > 0);
}

/** Folds one entry into the state map. */
export function applyEntry(states: Map<string, ApprovalState>, e: ApprovalEntry): void {
  const s = states.get(e.id);
  if (e.type === 'request') {
    // A new request after a decision (a used-up or expired grant, a denial) opens a new round.
    if (!s || s.status !== 'pending') states.set(e.id, { request: e, status: 'pending' });
    else s.request = { ...e, reason: e.reason ?? s.request.reason };
    return;
  }
  if (!s) return;
  if (e.type === 'decision') {
    s.decidedBy = e.actor;
    if (e.decision === 'approve' && e.grant) {
      s.status = 'approved';
      s.grant = { ...e.grant, uses: 0 };
    } else {
      s.status = 'denied';
      delete s.grant;
      if (e.reason !== undefined) s.denyReason = e.reason;
    }
    return;
  }
  if (s.grant && s.grant.grant === e.grant) s.grant.uses++;
}
