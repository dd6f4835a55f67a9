// Path routing for many clusters: kubeconfig `server:` URLs may carry a
// path, so https://kubetape.example.com/clusters/prod is a cluster of its
// own to kubectl, and every request arrives as /clusters/prod/api/...
// kubetape strips the prefix before anything else looks at the path, so
// request attributes, recordings and the upstream see the API path.
import type { IncomingMessage } from 'node:http';

export const CLUSTER_PREFIX = '/clusters/';

export interface ClusterPath {
  cluster: string;
  /** The rest of the URL, starting with '/' (query kept). */
  rest: string;
}

export function splitClusterPath(url: string): ClusterPath | undefined {
  if (!url.startsWith(CLUSTER_PREFIX)) return undefined;
  const after = url.slice(CLUSTER_PREFIX.length);
  const end = after.search(/[/?]/);
  const cluster = end === -1 ? after : after.slice(0, end);
  if (!cluster) return undefined;
  const tail = end === -1 ? '' : after.slice(end);
  return { cluster, rest: tail.startsWith('/') ? tail : `/${tail}` };
}

/** Point the request at its API path (express reads originalUrl too). */
export function rewriteUrl(req: IncomingMessage & { originalUrl?: string }, rest: string): void {
  req.url = rest;
  if (req.originalUrl !== undefined) req.originalUrl = rest;
}

/** `names` is left out for callers not yet authenticated (upgrades are routed before authentication). */
export function unknownClusterMessage(url: string, names?: string[]): string {
  const p = splitClusterPath(url);
  const known = names ? ` (clusters: ${names.map((n) => `${CLUSTER_PREFIX}${n}`).join(', ')})` : '';
  return p ? `kubetape has no cluster "${p.cluster}"${known}` : `kubetape serves several clusters: set the kubeconfig server to https://<kubetape>${CLUSTER_PREFIX}NAME${known}`;
}
