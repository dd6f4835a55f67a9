// What a caller asks to act as with Impersonate-* headers, the `impersonate`
// permissions the API server would check for it, and the headers that make
// kubetape's own credential act as the caller. Pure functions only: parsing
// the caller's headers and deciding are in authorize/ (impersonation.ts,
// subject-access-review.ts); credentials/impersonating-credentials.ts
// makes the checks and sends the headers.

import { toHeaderText } from './header-text.js';

/** Who the caller asked to act as. */
export interface ImpersonationRequest {
  user: string;
  groups: string[];
  uid?: string;
  /** Keys decoded and lower-cased, as the API server reads them. */
  extra: Record<string, string[]>;
}

/** One `impersonate` permission, as a SubjectAccessReview's resourceAttributes. */
export interface ImpersonationCheck {
  group: '' | 'authentication.k8s.io';
  resource: 'users' | 'groups' | 'serviceaccounts' | 'uids' | 'userextras';
  /** userextras: the extra's key. */
  subresource?: string;
  /** serviceaccounts: the account's namespace. */
  namespace?: string;
  name: string;
}

/** Who a SubjectAccessReview asks about. */
export interface ReviewSubject {
  user: string;
  groups: string[];
}

const SA_PREFIX = 'system:serviceaccount:';

/** The checks in the order the API server's impersonation filter makes them. */
export function impersonationChecks(r: ImpersonationRequest): ImpersonationCheck[] {
  const checks: ImpersonationCheck[] = [];
  if (r.user.startsWith(SA_PREFIX)) {
    const [namespace = '', name = ''] = r.user.slice(SA_PREFIX.length).split(':');
    checks.push({ group: '', resource: 'serviceaccounts', namespace, name });
  } else {
    checks.push({ group: '', resource: 'users', name: r.user });
  }
  for (const g of r.groups) checks.push({ group: '', resource: 'groups', name: g });
  if (r.uid) checks.push({ group: 'authentication.k8s.io', resource: 'uids', name: r.uid });
  for (const [key, values] of Object.entries(r.extra)) {
    for (const v of values) checks.push({ group: 'authentication.k8s.io', resource: 'userextras', subresource: key, name: v });
  }
  return checks;
}

/** The Impersonate-* headers that make kubetape's own credential act as `r`. */
export function impersonationRequestHeaders(r: ImpersonationRequest): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = { 'Impersonate-User': toHeaderText(r.user) };
  if (r.groups.length > 0) h['Impersonate-Group'] = r.groups.map(toHeaderText);
  if (r.uid) h['Impersonate-Uid'] = toHeaderText(r.uid);
  for (const [key, values] of Object.entries(r.extra)) h[`Impersonate-Extra-${encodeURIComponent(key)}`] = values.map(toHeaderText);
  return h;
}

/** The user extras kubetape adds for an agent (clusters[].agentExtras), as the cluster's audit log shows them in user.extra. */
export const AGENT_EXTRA = 'kubetape.io/agent';
export const ACTING_FOR_EXTRA = 'kubetape.io/acting-for';
const MAX_EXTRA_VALUE_CHARS = 256;
const UTF8 = new TextEncoder();

/**
 * An extra's value as a header value every HTTP stack passes unchanged: printable ASCII as it is,
 * anything else (controls, spaces, non-ASCII), `%` and `,` (which a proxy may split a header on)
 * percent-encoded as UTF-8. The values come from token claims: hostile until shown otherwise.
 */
export function extraHeaderValue(v: string): string {
  return v
    .slice(0, MAX_EXTRA_VALUE_CHARS)
    .replace(/[^\x21-\x24\x26-\x2b\x2d-\x7e]/gu, (c) => [...UTF8.encode(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/**
 * Who besides the user a caller is, as user extras: an agent's name, and whom it acts for when that
 * is not the user (an agent whose token names the person in a plain claim). An agent with an `act`
 * claim is impersonated as the person; the extra keeps the agent in the cluster's record.
 */
export function agentExtras(identity: { user: string; kind?: string; agent?: string; actingFor?: string }): Record<string, string[]> {
  const extra: Record<string, string[]> = {};
  if (identity.kind !== 'machine') return extra;
  if (identity.agent) extra[AGENT_EXTRA] = [extraHeaderValue(identity.agent)];
  if (identity.actingFor && identity.actingFor !== identity.user) extra[ACTING_FOR_EXTRA] = [extraHeaderValue(identity.actingFor)];
  return extra;
}
