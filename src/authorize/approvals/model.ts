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

/**
 * What an auditor reads: the decision plus what became of its grant.
 * "used": a one-time grant that has been used; "expired": a grant past its
 * end that was not used up (a timed grant, or a one-time grant never used).
 */
export type AuditStatus = ApprovalStatus | 'used' | 'expired';
export const AUDIT_STATUSES: readonly AuditStatus[] = ['pending', 'approved', 'denied', 'expired', 'used'];

/** A grant as folded: its terms, how often it let a request through, and when it last did. */
export type GrantState = GrantTerms & { uses: number; lastUsedAt?: string };

/** One approval id's state after replaying the log (one round: a request and what followed it). */
export interface ApprovalState {
  request: RequestEntry;
  status: ApprovalStatus;
  grant?: GrantState;
  decidedBy?: string;
  /** When the decision (approve or deny) was made. */
  decidedAt?: string;
  denyReason?: string;
}

/**
 * The whole replayed log: the current round of every approval id, and the
 * rounds a later request replaced (kept for the audit history).
 */
export interface ApprovalFold {
  current: Map<string, ApprovalState>;
  closed: ApprovalState[];
}

export const emptyFold = (): ApprovalFold => ({ current: new Map(), closed: [] });

export function auditStatus(s: ApprovalState, now = Date.now()): AuditStatus {
  if (s.status !== 'approved' || !s.grant) return s.status;
  if (s.grant.once && s.grant.uses > 0) return 'used';
  return Date.parse(s.grant.expiresAt) > now ? 'approved' : 'expired';
}

/** Every round in the log, newest request first. */
export function approvalHistory(f: ApprovalFold): ApprovalState[] {
  return [...f.closed, ...f.current.values()].sort((a, b) => b.request.at.localeCompare(a.request.at));
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

/** Folds one entry into the state map; a round a new request replaces goes to `closed` when given. */
export function applyEntry(states: Map<string, ApprovalState>, e: ApprovalEntry, closed?: ApprovalState[]): void {
  const s = states.get(e.id);
  if (e.type === 'request') {
    // A new request after a decision (a used-up or expired grant, a denial) opens a new round.
    if (!s || s.status !== 'pending') {
      if (s) closed?.push(s);
      states.set(e.id, { request: e, status: 'pending' });
    } else s.request = { ...e, reason: e.reason ?? s.request.reason };
    return;
  }
  if (!s) return;
  if (e.type === 'decision') {
    s.decidedBy = e.actor;
    s.decidedAt = e.at;
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
  if (s.grant && s.grant.grant === e.grant) {
    s.grant.uses++;
    if (!s.grant.lastUsedAt || e.at > s.grant.lastUsedAt) s.grant.lastUsedAt = e.at;
  }
}

/** Folds one entry into the whole log's fold (current rounds and replaced ones). */
export function foldEntry(f: ApprovalFold, e: ApprovalEntry): void {
  applyEntry(f.current, e, f.closed);
}
