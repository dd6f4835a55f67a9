// What a caller asks to act as with Impersonate-* headers, the `impersonate`
// permissions the API server would check for it, and the headers that make
// kubetape's own credential act as the caller. Pure functions only: parsing
// the caller's headers and deciding are in authorize/ (impersonation.ts,
// subject-access-review.ts); credentials/impersonating-credentials.ts
// makes the checks and sends the headers.

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
  const h: Record<string, string | string[]> = { 'Impersonate-User': r.user };
  if (r.groups.length > 0) h['Impersonate-Group'] = r.groups;
  if (r.uid) h['Impersonate-Uid'] = r.uid;
  for (const [key, values] of Object.entries(r.extra)) h[`Impersonate-Extra-${encodeURIComponent(key)}`] = values;
  return h;
}
