// What a caller asks to act as with Impersonate-* headers, and the
// `impersonate` permissions the API server would check for it. Parsing and
// the checks themselves are in authorize/impersonation.ts.

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
