// Public shapes of the built-in API server (the tests' faithful fake
// kube-apiserver, and what `kubetape dev` runs): what it is configured with
// and what it records. Kept in one place so server, rbac and tests agree.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TokenAuthenticator } from './auth.js';
import type { AttachCommandFn, PortForwardTargetFn, StreamProtocols } from './streams/index.js';

/** A bearer token the server accepts, and who it authenticates as. */
export interface ApiUser {
  token: string;
  user: string;
  groups?: string[];
}

/**
 * One RBAC grant, flattened (role + binding in one). Matching follows real RBAC:
 * '*' matches anything in verbs/apiGroups/resources, resources may name a
 * subresource ('pods/log') or any resource's subresource ('*\/scale').
 * - users/groups: the subjects; when both are absent the rule applies to every
 *   authenticated user (group system:authenticated).
 * - apiGroups: absent means any group ('' is the core group).
 * - namespaces: absent means cluster-wide (like a ClusterRoleBinding); present
 *   means only namespaced requests in those namespaces (like RoleBindings).
 * - resourceNames: absent means any name; present never matches list/watch/create
 *   of a collection (there is no name), exactly like real RBAC.
 * - nonResourceURLs: paths such as '/healthz' or '/apis/*' for non-resource requests.
 * For impersonation use resources 'users', 'groups', 'serviceaccounts' (apiGroup '')
 * or 'uids', 'userextras/<key>' (apiGroup 'authentication.k8s.io') with verb 'impersonate'.
 */
export interface RbacRule {
  users?: string[];
  groups?: string[];
  verbs: string[];
  apiGroups?: string[];
  resources: string[];
  namespaces?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Everything a Kubernetes object has in common; the rest is kind-specific. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | null;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
  [key: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldSet;
  subresource?: string;
}

/** fieldsV1 as the API server writes it: {"f:data": {".": {}, "f:key": {}}}. */
export type FieldSet = { [key: string]: FieldSet };

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  // Declared (not just indexed) so `obj as { data: {...} }` casts in tests compile.
  spec?: unknown;
  status?: unknown;
  data?: unknown;
  [key: string]: unknown;
}

/** Called for exec/attach/portforward upgrades once authn, authz and the pod checks passed. */
export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  subresource: 'exec' | 'attach' | 'portforward';
  namespace: string;
  pod: KubeObject;
  /** The container the request resolved to (exec/attach), as the real server validates it. */
  container?: string;
  query: URLSearchParams;
  /** Effective (post-impersonation) identity. */
  user: string;
  groups: string[];
  /** The request-log entry; set `.status` (e.g. 101) so tests see what happened. */
  record: ReceivedRequest;
}

/** Returns true when it took the socket; false lets the server refuse with 400. */
export type UpgradeHandler = (u: UpgradeRequest) => boolean;

export interface ApiServerOptions {
  /** /version minor, default '32' (drives which kubectl the dispatcher runs). */
  minor?: string;
  /** Who writes its error lines to stderr (default `api-server`). */
  name?: string;
  /** /version gitVersion; default `v1.<minor>.0`. */
  gitVersion?: string;
  /** Bearer tokens accepted; default [{token:'admin-token', user:'admin', groups:['system:masters']}]. */
  users?: ApiUser[];
  /** Extra rules; members of system:masters may do everything. */
  rbac?: RbacRule[];
  /** PEM; when set, client certificates signed by it authenticate (CN = user, O = groups). */
  clientCa?: string;
  /** Default true; false = legacy discovery only. */
  aggregatedDiscovery?: boolean;
  /** Default: a fresh createLoopbackTls(). */
  tls?: { cert: string; key: string; ca: string };
  /** Bearer-token checks asked before `users` (the tests' EKS tokens, checked against moto_server). */
  tokenAuthenticators?: TokenAuthenticator[];
  /** Requests without credentials act as system:anonymous (like --anonymous-auth=true). Default false: 401. */
  anonymous?: boolean;
  /** gzip JSON responses of 128 KiB or more when the client accepts gzip, like the real server. Default true. */
  compression?: boolean;
  /** Pods linger this long with a deletionTimestamp before they go (a kubelet's grace). Default 0: gone at once. */
  podTerminationMs?: number;
  /** Keep every request in `received`. Default true; the standalone runner turns it off so long benchmarks don't grow memory. */
  recordRequests?: boolean;
  /** Handler for exec/attach/portforward upgrades (can also be set later on the server); replaces the default one. */
  upgradeHandler?: UpgradeHandler;
  /**
   * The default upgrade handler: exec/attach/port-forward over WebSocket and
   * SPDY like API server + kubelet, running real local processes (see
   * streams/). Default true; false leaves upgrades to `upgradeHandler` (400 without one).
   */
  streams?: boolean;
  /** Upgrade protocols the default handler accepts; each defaults to true. A refused one is answered 400 (clients fall back). */
  streamProtocols?: Partial<StreamProtocols>;
  /** Where a forwarded pod port connects; undefined = nothing listens there. Default: a per-server TCP echo service for every port. */
  portForwardTarget?: PortForwardTargetFn;
  /** argv of a container's main process, which attach attaches to. Default: a prompt and an upper-casing line echo (sh). */
  attachCommand?: AttachCommandFn;
  /** Name prefix of the temporary directory the pods' processes run in (default `kubetape-pods-`). */
  podDirPrefix?: string;
}

export interface ReceivedRequest {
  time: number;
  method: string;
  /** Path with query, exactly as it arrived. */
  path: string;
  /** Lowercased names; a header sent several times is an array. */
  headers: Record<string, string | string[] | undefined>;
  /** Request body text (UTF-8), capped at 1 MiB. */
  body: string;
  /** The same bytes undecoded (protobuf bodies are binary), capped at 1 MiB. */
  rawBody?: Buffer;
  /** Effective user after impersonation (undefined when authentication failed). */
  user?: string;
  groups?: string[];
  /** Who authenticated, before impersonation. */
  authenticatedUser?: string;
  /** HTTP status sent (101 for an accepted upgrade); undefined while in flight. */
  status?: number;
}

/** ObjectMeta's fields in the order Go marshals them; also the fields validation accepts. */
export const META_ORDER = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];
