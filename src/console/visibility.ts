// Who may see which recordings through the sessions API: a person their own
// sessions; members of `console.viewers` groups every session (or every
// session of the clusters their grant names); approvers the sessions in
// which a rule they approve for decided something. Decided per session from
// its summary, on every endpoint; a session someone may not see does not
// exist for them (404, never 403).
import type { ConsoleConfig } from '../config/console.js';
import type { Policy } from '../authorize/policy/types.js';
import type { SessionSummary } from '../model/recording.js';
import type { SessionFilter } from '../store/store.js';

export interface Reader {
  user: string;
  groups: string[];
}

export interface Visibility {
  user: string;
  /** A viewer of every cluster's sessions. */
  allClusters: boolean;
  /** Clusters whose sessions this reader sees (per-cluster viewer grants). */
  clusters: ReadonlySet<string>;
  /** Rules (by name) whose approvers include one of the reader's groups. */
  approverRules: ReadonlySet<string>;
}

export function visibilityOf(who: Reader, console: ConsoleConfig | undefined, policy: Policy | undefined): Visibility {
  let allClusters = false;
  const clusters = new Set<string>();
  for (const g of console?.viewers ?? []) {
    if (!who.groups.includes(g.group)) continue;
    if (!g.clusters) allClusters = true;
    else for (const c of g.clusters) clusters.add(c);
  }
  const approverRules = new Set<string>();
  for (const r of policy?.rules ?? []) if (r.approvers?.some((g) => who.groups.includes(g))) approverRules.add(r.name);
  return { user: who.user, allClusters, clusters, approverRules };
}

/** Whether whoami says viewer: sees sessions beyond their own because of a viewer grant. */
export const isViewer = (v: Visibility): boolean => v.allClusters || v.clusters.size > 0;
export const isApprover = (v: Visibility): boolean => v.approverRules.size > 0;

export function maySee(v: Visibility, s: Pick<SessionSummary, 'user' | 'cluster' | 'guardrails'>): boolean {
  if (s.user === v.user || v.allClusters || v.clusters.has(s.cluster)) return true;
  return v.approverRules.size > 0 && (s.guardrails?.rules.some((r) => v.approverRules.has(r)) ?? false);
}

/**
 * How to ask the store for a page this reader may see: a viewer of all
 * clusters asks with the limit; a reader who sees only their own sessions
 * asks for their user (none at all when they filter on someone else);
 * anyone else reads the matching sessions and the page is cut after
 * `maySee` (`exact: false`).
 */
export function scopedFilter(v: Visibility, f: SessionFilter): { filter: SessionFilter; exact: boolean } | undefined {
  if (v.allClusters) return { filter: f, exact: true };
  if (v.clusters.size === 0 && v.approverRules.size === 0) {
    if (f.user !== undefined && f.user !== v.user) return undefined;
    return { filter: { ...f, user: v.user }, exact: true };
  }
  const { limit: _limit, ...rest } = f;
  return { filter: rest, exact: false };
}
