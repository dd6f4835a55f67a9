// Request info the way apiserver's RequestInfoFactory derives it: API group,
// version, namespace, resource, name, subresource and the authorization verb.
export interface ResourceRequest {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  verb: string;
  /** Path segments beyond name/subresource (never valid here, but authorization sees the request anyway). */
  extra: string[];
}

/** Subresources of a namespace object, not resources inside the namespace. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function isWatch(q: URLSearchParams): boolean {
  const w = q.get('watch');
  return w === 'true' || w === '1';
}

/** Undefined for non-resource paths (/version, /api, /apis/apps/v1, /openapi/...). */
export function parseResourcePath(method: string, pathname: string, q: URLSearchParams): ResourceRequest | undefined {
  const seg = pathname.split('/').filter(Boolean);
  let group: string;
  let version: string;
  let parts: string[];
  if (seg[0] === 'api' && seg.length >= 3) {
    group = '';
    version = seg[1];
    parts = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 4) {
    group = seg[1];
    version = seg[2];
    parts = seg.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length > 1) {
    // Like the real server, GET /api/v1/namespaces/foo is "in the namespace foo".
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
  }
  const [resource, name, subresource, ...extra] = parts;
  const watch = isWatch(q);
  let verb: string;
  switch (method) {
    case 'GET':
    case 'HEAD':
      verb = watch ? 'watch' : name ? 'get' : 'list';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name ? 'delete' : 'deletecollection';
      break;
    default:
      verb = method.toLowerCase();
  }
  return { group, version, namespace, resource, name, subresource, verb, extra };
}
