// The attributes kubetape derives must match what kube-apiserver derives
// (k8s.io/apiserver/pkg/endpoints/request RequestInfoFactory).
import t from 'tap';
import { requestAttributes, isStreamingRequest } from '../src/model/request-attributes.js';
import { parseRequestTarget, type RequestTarget } from '../src/model/request-target.js';
/** A target as the listener parses it (the tests' inputs are all canonical). */
function target(uri: string): RequestTarget {
  const r = parseRequestTarget(uri);
  if (!r.ok) throw new Error(`${uri}: ${r.reason}`);
  return r.target;
}

const cases: Array<[string, string, Partial<ReturnType<typeof requestAttributes>>]> = [
  ['GET', '/api/v1/namespaces/default/pods?limit=500', { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'default', name: '' }],
  ['GET', '/api/v1/namespaces/default/pods/web-0', { verb: 'get', resource: 'pods', name: 'web-0', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods/web-0/log?follow=true', { verb: 'get', resource: 'pods', name: 'web-0', subresource: 'log' }],
  ['GET', '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=5', { verb: 'watch', resource: 'configmaps' }],
  ['GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dx&watch=1', { verb: 'watch' }],
  ['GET', '/api/v1/watch/namespaces/default/pods', { verb: 'watch', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/kube-system', { verb: 'get', resource: 'namespaces', name: 'kube-system', namespace: 'kube-system' }],
  ['PUT', '/api/v1/namespaces/team-a/finalize', { verb: 'update', resource: 'namespaces', name: 'team-a', subresource: 'finalize' }],
  ['GET', '/api/v1/namespaces', { verb: 'list', resource: 'namespaces', namespace: '' }],
  [
    'GET',
    '/apis/apps/v1/namespaces/prod/deployments/api/scale',
    { verb: 'get', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'api', subresource: 'scale', namespace: 'prod' },
  ],
  ['POST', '/api/v1/namespaces/default/pods/web-0/exec?command=sh', { verb: 'create', subresource: 'exec' }],
  ['PATCH', '/api/v1/namespaces/default/configmaps/c?fieldManager=kubectl', { verb: 'patch', name: 'c' }],
  ['DELETE', '/api/v1/namespaces/default/configmaps/c', { verb: 'delete' }],
  ['DELETE', '/api/v1/namespaces/default/configmaps', { verb: 'deletecollection' }],
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { verb: 'list', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespace: '' }],
];

for (const [method, uri, want] of cases) {
  t.test(`${method} ${uri}`, async (t) => {
    const a = requestAttributes(method, target(uri));
    t.equal(a.isResourceRequest, true);
    t.match(a, want);
  });
}

t.test('non-resource paths keep the HTTP verb', async (t) => {
  for (const p of ['/version?timeout=32s', '/api', '/api/v1', '/apis', '/apis/apps', '/openapi/v3', '/healthz', '/readyz']) {
    const a = requestAttributes('GET', target(p));
    t.equal(a.isResourceRequest, false, p);
    t.equal(a.verb, 'get', p);
    t.equal(a.resource, '', p);
  }
});

t.test('streaming: watches and followed logs only', async (t) => {
  const s = (m: string, u: string) => isStreamingRequest(requestAttributes(m, target(u)), target(u));
  t.equal(s('GET', '/api/v1/namespaces/d/pods?watch=true'), true);
  t.equal(s('GET', '/api/v1/namespaces/d/pods/p/log?follow=true&container=c'), true);
  t.equal(s('GET', '/api/v1/namespaces/d/pods/p/log?container=c'), false);
  t.equal(s('GET', '/api/v1/namespaces/d/pods?watch=false'), false);
  t.equal(s('GET', '/api/v1/namespaces/d/pods'), false);
});
