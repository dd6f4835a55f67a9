// Path routing for many clusters: kubeconfig `server:` URLs may carry a
// path, so https://kubetape.example.com/clusters/prod is a cluster of its
// own to kubectl, and every request arrives as /clusters/prod/api/...
// kubetape strips the prefix before anything else looks at the path, so
// request attributes, recordings and the upstream see the API path.
import { dropSegments, type RequestTarget } from '../model/request-target.js';

export const CLUSTER_PREFIX = '/clusters/';

export interface ClusterPath {
  cluster: string;
  /** The API target under the prefix (query kept), taken from the parsed target, never re-parsed. */
  rest: RequestTarget;
}

/** /clusters/NAME/rest...: the cluster and the rest of the (already parsed) target. */
export function clusterOfTarget(t: RequestTarget): ClusterPath | undefined {
  if (t.segments[0] !== 'clusters' || !t.segments[1]) return undefined;
  return { cluster: t.segments[1], rest: dropSegments(t, 2) };
}

/** `names` is left out for callers not yet authenticated (upgrades are routed before authentication). */
export function unknownClusterMessage(t: RequestTarget, names?: string[]): string {
  const p = clusterOfTarget(t);
  const known = names ? ` (clusters: ${names.map((n) => `${CLUSTER_PREFIX}${n}`).join(', ')})` : '';
  return p
    ? `kubetape has no cluster "${p.cluster}"${known}`
    : `kubetape serves several clusters: set the kubeconfig server to https://<kubetape>${CLUSTER_PREFIX}NAME${known}`;
}
