// The resources this fake serves, described once: discovery, OpenAPI, routing,
// RBAC and the store all read from this table.
import { createHash } from 'node:crypto';

export interface SubresourceDef {
  name: string;
  /** Kind of the body the subresource speaks (PodExecOptions for exec). */
  kind: string;
  group?: string;
  version?: string;
  verbs: string[];
}

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, as in the URL. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames: string[];
  categories: string[];
  subresources: SubresourceDef[];
  /** False for create-only review resources that are answered, never kept. */
  stored: boolean;
  /** DELETE answers with the object (pods, namespaces, services) rather than a Status. */
  returnDeletedObject: boolean;
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS = (kind: string): SubresourceDef => ({ name: 'status', kind, verbs: ['get', 'patch', 'update'] });

function def(d: Partial<ResourceDef> & Pick<ResourceDef, 'resource' | 'singular' | 'kind'>): ResourceDef {
  return {
    group: '',
    version: 'v1',
    namespaced: true,
    verbs: CRUD,
    shortNames: [],
    categories: [],
    subresources: [],
    stored: true,
    returnDeletedObject: false,
    ...d,
  };
}

export const RESOURCES: readonly ResourceDef[] = [
  def({ resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', shortNames: ['cm'] }),
  def({ resource: 'events', singular: 'event', kind: 'Event', shortNames: ['ev'] }),
  def({
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['ns'],
    subresources: [{ name: 'finalize', kind: 'Namespace', verbs: ['update'] }, STATUS('Namespace')],
    returnDeletedObject: true,
  }),
  def({
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    shortNames: ['po'],
    categories: ['all'],
    subresources: [
      { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      STATUS('Pod'),
    ],
    returnDeletedObject: true,
  }),
  def({ resource: 'secrets', singular: 'secret', kind: 'Secret' }),
  def({ resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', shortNames: ['sa'] }),
  def({
    resource: 'services',
    singular: 'service',
    kind: 'Service',
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['svc'],
    categories: ['all'],
    subresources: [STATUS('Service')],
    returnDeletedObject: true,
  }),
  def({
    group: 'apps',
    resource: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: [{ name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] }, STATUS('Deployment')],
  }),
  def({
    group: 'authentication.k8s.io',
    resource: 'selfsubjectreviews',
    singular: 'selfsubjectreview',
    kind: 'SelfSubjectReview',
    namespaced: false,
    verbs: ['create'],
    stored: false,
  }),
  def({
    group: 'authorization.k8s.io',
    resource: 'selfsubjectaccessreviews',
    singular: 'selfsubjectaccessreview',
    kind: 'SelfSubjectAccessReview',
    namespaced: false,
    verbs: ['create'],
    stored: false,
  }),
  def({
    group: 'authorization.k8s.io',
    resource: 'subjectaccessreviews',
    singular: 'subjectaccessreview',
    kind: 'SubjectAccessReview',
    namespaced: false,
    verbs: ['create'],
    stored: false,
  }),
];

export function groupVersion(d: { group: string; version: string }): string {
  return d.group ? `${d.group}/${d.version}` : d.version;
}

/** The groups under /apis, in the order discovery lists them (core is separate). */
export function apiGroups(): Array<{ name: string; version: string }> {
  const seen = new Map<string, string>();
  for (const r of RESOURCES) if (r.group && !seen.has(r.group)) seen.set(r.group, r.version);
  // Real servers always serve apps/v1; list it even if the table changes.
  if (!seen.has('apps')) seen.set('apps', 'v1');
  return [...seen].map(([name, version]) => ({ name, version })).sort((a, b) => a.name.localeCompare(b.name));
}

export function resourcesIn(group: string, version: string): ResourceDef[] {
  return RESOURCES.filter((r) => r.group === group && r.version === version);
}

/** Resolves 'pods', 'pod', 'po', 'Pod', 'deployments.apps', 'deploy' the way kubectl would. */
export function findResource(name: string): ResourceDef | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf('.');
  const base = dot < 0 ? lower : lower.slice(0, dot);
  const group = dot < 0 ? undefined : lower.slice(dot + 1);
  return RESOURCES.find(
    (r) =>
      (group === undefined || r.group === group) &&
      (r.resource === base || r.singular === base || r.kind.toLowerCase() === base || r.shortNames.includes(base)),
  );
}

export function resourceForPath(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function resourceForKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
}

/** Same recipe as the real server: first 8 bytes of sha256("group/version/kind"), base64. */
export function storageVersionHash(d: ResourceDef): string {
  return createHash('sha256').update(`${d.group}/${d.version}/${d.kind}`).digest().subarray(0, 8).toString('base64');
}
