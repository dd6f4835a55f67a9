// Authorization (flattened RBAC rules plus the bootstrap roles every cluster
// has) and impersonation, both producing the real 403 messages.
import { fromHeaderText } from '../model/header-text.js';
import { ApiError, forbidden, status } from './errors.js';
import type { RbacRule } from './types.js';

export interface Identity {
  user: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export type Attributes =
  | {
      resourceRequest: true;
      verb: string;
      apiGroup: string;
      resource: string;
      subresource?: string;
      namespace?: string;
      name?: string;
    }
  | { resourceRequest: false; verb: string; path: string };

export const AUTHENTICATED = 'system:authenticated';
export const UNAUTHENTICATED = 'system:unauthenticated';
export const ANONYMOUS = 'system:anonymous';

/** The bootstrap ClusterRoles bound by default: system:discovery, system:basic-user, system:public-info-viewer. */
const BOOTSTRAP: RbacRule[] = [
  {
    groups: [AUTHENTICATED],
    verbs: ['get'],
    resources: [],
    nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/readyz', '/version', '/version/', '/openapi', '/openapi/*'],
  },
  { groups: [AUTHENTICATED], verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
  { groups: [AUTHENTICATED], verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
  { groups: [AUTHENTICATED, UNAUTHENTICATED], verbs: ['get'], resources: [], nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'] },
];

function has(list: readonly string[] | undefined, v: string): boolean {
  return !!list && (list.includes('*') || list.includes(v));
}

function resourceMatches(rule: RbacRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources) {
    if (r === '*' || r === combined) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function pathMatches(rule: RbacRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

function subjectMatches(rule: RbacRule, id: Identity): boolean {
  if (!rule.users && !rule.groups) return id.groups.includes(AUTHENTICATED);
  return (rule.users ?? []).includes(id.user) || (rule.groups ?? []).some((g) => id.groups.includes(g));
}

function ruleAllows(rule: RbacRule, id: Identity, a: Attributes): boolean {
  if (!subjectMatches(rule, id) || !has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return !rule.namespaces && pathMatches(rule, a.path);
  if (rule.nonResourceURLs && rule.resources.length === 0) return false;
  if (rule.namespaces && (!a.namespace || !rule.namespaces.includes(a.namespace))) return false;
  if (rule.apiGroups && !has(rule.apiGroups, a.apiGroup)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) return !!a.name && rule.resourceNames.includes(a.name);
  return true;
}

export class Authorizer {
  private readonly rules: RbacRule[];
  constructor(extra: RbacRule[] = []) {
    this.rules = [...BOOTSTRAP, ...extra];
  }

  allowed(id: Identity, a: Attributes): boolean {
    if (id.groups.includes('system:masters')) return true;
    return this.rules.some((r) => ruleAllows(r, id, a));
  }

  /** Throws the 403 the real server sends when `a` is not allowed. */
  check(id: Identity, a: Attributes): void {
    if (!this.allowed(id, a)) throw forbiddenFor(id, a);
  }
}

/** responsewriters.Forbidden: `pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "ns"`. */
export function forbiddenFor(id: Identity, a: Attributes): ApiError {
  if (!a.resourceRequest) return forbidden(undefined, '', `User "${id.user}" cannot ${a.verb} path "${a.path}"`);
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${id.user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`;
  return forbidden({ group: a.apiGroup, resource: a.resource }, a.name ?? '', why);
}

const SA_PREFIX = 'system:serviceaccount:';

/** The header names, as Node lowercases them. */
const IMP_USER = 'impersonate-user';
const IMP_GROUP = 'impersonate-group';
const IMP_UID = 'impersonate-uid';
const IMP_EXTRA = 'impersonate-extra-';

type HeaderValues = Record<string, string[] | undefined>;

/**
 * Applies Impersonate-* headers: each requested user, service account, group,
 * uid and extra must be allowed the `impersonate` verb for `requestor`, else 403.
 * Returns undefined when the request impersonates nothing.
 */
export function impersonate(headers: HeaderValues, requestor: Identity, authz: Authorizer): Identity | undefined {
  // Go reads a header value's bytes as a UTF-8 string; node hands them over one char per byte.
  const utf8 = (values: string[] | undefined): string[] => (values ?? []).map((v) => fromHeaderText(v) ?? v);
  const userValues = utf8(headers[IMP_USER]);
  const groupValues = utf8(headers[IMP_GROUP]);
  const uidValues = utf8(headers[IMP_UID]);
  const extras: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(headers)) {
    if (!name.startsWith(IMP_EXTRA)) continue;
    const key = decodeURIComponent(name.slice(IMP_EXTRA.length)).toLowerCase();
    for (const v of utf8(values)) extras.push([key, v]);
  }
  const requestedUser = userValues[0] ?? '';
  if (!requestedUser && (groupValues.length || uidValues.length || extras.length)) {
    const what = [...groupValues.map((g) => `group ${g}`), ...uidValues.map((u) => `uid ${u}`), ...extras.map(([k, v]) => `extra ${k}=${v}`)].join(', ');
    throw new ApiError(status(500, 'InternalError', `Internal error occurred: requested [${what}] without impersonating a user`));
  }
  if (!requestedUser) return undefined;

  const user = requestedUser;
  let groups: string[] = [];
  const check = (a: Attributes): void => {
    if (!authz.allowed(requestor, a)) throw forbiddenFor(requestor, a);
  };
  if (requestedUser.startsWith(SA_PREFIX)) {
    const [ns, name] = requestedUser.slice(SA_PREFIX.length).split(':');
    check({ resourceRequest: true, verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', namespace: ns, name });
    if (!groupValues.length) groups = ['system:serviceaccounts', `system:serviceaccounts:${ns}`];
  } else {
    check({ resourceRequest: true, verb: 'impersonate', apiGroup: '', resource: 'users', name: requestedUser });
  }
  for (const g of groupValues) {
    check({ resourceRequest: true, verb: 'impersonate', apiGroup: '', resource: 'groups', name: g });
    groups.push(g);
  }
  let uid: string | undefined;
  for (const u of uidValues) {
    check({ resourceRequest: true, verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'uids', name: u });
    uid = u;
  }
  const extra: Record<string, string[]> = {};
  for (const [k, v] of extras) {
    check({ resourceRequest: true, verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: k, name: v });
    (extra[k] ??= []).push(v);
  }
  if (user !== ANONYMOUS && !groups.includes(AUTHENTICATED) && !groups.includes(UNAUTHENTICATED)) groups.push(AUTHENTICATED);
  const id: Identity = { user, groups };
  if (uid) id.uid = uid;
  if (Object.keys(extra).length) id.extra = extra;
  return id;
}
