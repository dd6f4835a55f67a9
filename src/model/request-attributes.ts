// Derive the request attributes the API server itself computes (its
// RequestInfo, k8s.io/apiserver/pkg/endpoints/request): the recording is
// searched, and guardrails decide, in the same terms as RBAC and the
// Kubernetes audit log. They are derived from the one parsed RequestTarget,
// whose segments are already decoded and validated.
import { queryBool, type RequestTarget } from './request-target.js';

/**
 * The attributes the API server itself derives from a request path (its
 * RequestInfo), so recordings can be searched the way RBAC and audit think.
 */
export interface RequestAttributes {
  /** True for /api/... and /apis/... resource paths; false for /version, /openapi, /healthz. */
  isResourceRequest: boolean;
  /** get, list, watch, create, update, patch, delete, deletecollection; or the HTTP verb in lower case for non-resource paths. */
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** Segments after /namespaces/{ns}/ that belong to the namespace itself. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function requestAttributes(method: string, target: RequestTarget): RequestAttributes {
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

  let parts = target.segments as string[];
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

  // /{watch,proxy}/...: the verb is in the path, whatever the method (the API server's "special verbs").
  let special: 'watch' | 'proxy' | undefined;
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return nonResource;
    special = parts[0];
    parts = parts.slice(1);
  }

  if (parts[0] === 'namespaces' && parts.length > 1) {
    a.namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
  }
  a.resource = parts[0] ?? '';
  a.name = parts[1] ?? '';
  // The proxy verb takes no subresource: what follows the name is the proxied path.
  a.subresource = special === 'proxy' ? '' : (parts[2] ?? '');

  if (special) a.verb = special;
  else {
    switch (method.toUpperCase()) {
      case 'POST':
        a.verb = 'create';
        break;
      case 'GET':
      case 'HEAD':
        a.verb = 'get';
        break;
      case 'PUT':
        a.verb = 'update';
        break;
      case 'PATCH':
        a.verb = 'patch';
        break;
      case 'DELETE':
        a.verb = 'delete';
        break;
      default:
        a.verb = method.toLowerCase();
    }
  }
  // Exactly the API server's order: only a get without a name becomes list or watch (a named
  // get with ?watch=true is authorized, and served, as a get), and only then may a field
  // selector name the object; a delete without a name is a deletecollection.
  if (!a.name && a.verb === 'get') {
    a.verb = queryBool(target, 'watch') ? 'watch' : 'list';
    const name = exactNameSelector(target.params.get('fieldSelector'));
    if (name !== undefined) a.name = name;
  }
  if (!a.name && a.verb === 'delete') a.verb = 'deletecollection';
  return a;
}

/**
 * The name a field selector pins (`metadata.name=web` or `==`), as
 * fields.Selector.RequiresExactMatch reads it; only a value that is a valid
 * path segment name counts, as in the API server. Escaped values (with `\`)
 * can never be such names.
 */
export function exactNameSelector(selector: string | null): string | undefined {
  // The parser refuses selectors with a backslash or more than one metadata.name term.
  if (!selector) return undefined;
  for (const term of selector.split(',')) {
    const m = /^metadata\.name(?:==|=)(.*)$/.exec(term);
    if (m && m[1] && m[1] !== '.' && m[1] !== '..' && !/[/%]/.test(m[1])) return m[1];
  }
  return undefined;
}

/** Streaming responses: watches and followed logs flow through as they come and are recorded in chunks. */
export function isStreamingRequest(a: RequestAttributes, target: RequestTarget): boolean {
  if (a.verb === 'watch') return true;
  return a.subresource === 'log' && queryBool(target, 'follow');
}

/**
 * Core-group Secrets, with or without a subresource: the one test of
 * "this is about a Secret" for masking responses, refusing what cannot be
 * masked, and never storing bodies.
 */
export function isSecret(a: RequestAttributes): boolean {
  return a.isResourceRequest && a.apiGroup === '' && a.resource === 'secrets';
}
