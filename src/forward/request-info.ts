// Derive the request attributes the API server itself computes (its
// RequestInfo): the recording is searched, and guardrails decide, in the
// same terms as RBAC and the Kubernetes audit log.
import type { RequestAttributes } from '../record/model.js';

/** Segments after /namespaces/{ns}/ that belong to the namespace itself. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Go's strconv.ParseBool truths, which the API server uses for ?watch=. */
const TRUTHY = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

export function requestAttributes(method: string, uri: string): RequestAttributes {
  const q = uri.indexOf('?');
  const path = q >= 0 ? uri.slice(0, q) : uri;
  // Most requests carry no query string: no URLSearchParams for them (this runs on every request).
  const params = q >= 0 ? new URLSearchParams(uri.slice(q + 1)) : undefined;
  const nonResource: RequestAttributes = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
  };

  let parts = path.split('/').filter((p) => p.length > 0).map(safeDecode);
  if (parts.length < 2) return nonResource;
  const a: RequestAttributes = { ...nonResource, isResourceRequest: true, verb: '' };
  if (parts[0] === 'api') {
    a.apiVersion = parts[1]!;
    parts = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length < 3) return nonResource; // /apis/<group>: discovery
    a.apiGroup = parts[1]!;
    a.apiVersion = parts[2]!;
    parts = parts.slice(3);
  } else {
    return nonResource;
  }
  if (parts.length === 0) return nonResource; // /api/v1: discovery

  // The deprecated /watch/ prefix still exists in the API server.
  let watchPath = false;
  if (parts[0] === 'watch') {
    watchPath = true;
    parts = parts.slice(1);
  }

  if (parts[0] === 'namespaces' && parts.length > 1) {
    a.namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  a.resource = parts[0] ?? '';
  a.name = parts[1] ?? '';
  a.subresource = parts[2] ?? '';

  switch (method.toUpperCase()) {
    case 'POST':
      a.verb = 'create';
      break;
    case 'GET':
    case 'HEAD':
      a.verb = a.name ? 'get' : 'list';
      break;
    case 'PUT':
      a.verb = 'update';
      break;
    case 'PATCH':
      a.verb = 'patch';
      break;
    case 'DELETE':
      a.verb = a.name ? 'delete' : 'deletecollection';
      break;
    default:
      a.verb = method.toLowerCase();
  }
  const watchParam = params?.get('watch') ?? null;
  if ((a.verb === 'list' || a.verb === 'get') && (watchPath || (watchParam !== null && TRUTHY.has(watchParam)))) {
    a.verb = 'watch';
  }
  return a;
}

/** Streaming responses: watches and followed logs flow through as they come and are recorded in chunks. */
export function isStreamingRequest(a: RequestAttributes, uri: string): boolean {
  if (a.verb === 'watch') return true;
  if (a.subresource === 'log') {
    const q = uri.indexOf('?');
    const follow = q >= 0 ? new URLSearchParams(uri.slice(q + 1)).get('follow') : null;
    return follow !== null && TRUTHY.has(follow);
  }
  return false;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
