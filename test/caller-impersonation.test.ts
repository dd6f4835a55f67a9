// kubectl --as / --as-group through kubetape to an impersonation-mode
// cluster: kubetape asks the cluster (SubjectAccessReview, with its own
// credential) whether the person may impersonate, and forwards as the
// requested identity only when every permission is granted.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { httpsCall } from './helpers/https-call.js';
import { findSession, sessionEvents } from './helpers/recordings.js';
import { startKubetape, type RunningKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { parseClustersConfig } from '../src/clusters/config.js';
import type { RequestEvent } from '../src/model/recording.js';

const PROXY = 'system:serviceaccount:kubetape:proxy';
const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

let dir: string;
let upstream: FakeApiServer;
let kt: RunningKubetape;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-caller-imp-'));
  upstream = await startFakeApiServer({
    users: [{ token: 'kubetape-sa-token', user: PROXY, groups: [] }],
    rbac: [
      { users: [PROXY], verbs: ['impersonate'], resources: ['users', 'groups', 'uids', 'userextras/*'], apiGroups: ['', 'authentication.k8s.io'] },
      { users: [PROXY], verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'] },
      // The on-call group may act as the read-only user and its group; nobody else may impersonate.
      { groups: ['oncall'], verbs: ['impersonate'], resources: ['users'], resourceNames: ['viewer'] },
      { groups: ['oncall'], verbs: ['impersonate'], resources: ['groups'], resourceNames: ['viewers'] },
      { users: ['viewer'], verbs: ['get', 'list'], resources: ['pods'], namespaces: ['default'] },
    ],
  });
  upstream.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
  });

  writeFileSync(join(dir, 'tokens.csv'), ['tok-olga,olga,,"oncall"', 'tok-dan,dan,,"dev"'].join('\n') + '\n');
  const own = writeKubeconfig(dir, { server: upstream.url, ca: upstream.ca, token: 'kubetape-sa-token', name: 'own' });
  const { clusters } = parseClustersConfig([{ name: 'staging', kubeconfig: own }], undefined, (p) => p);
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(dir, 'data'),
      authentication: { tokenFile: join(dir, 'tokens.csv'), oidc: [] },
      clusters,
    },
  );
  kt = await startKubetape(config, { log: () => undefined });
});

t.teardown(async () => {
  await kt?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (token: string, args: string[]) =>
  kubectl(args, {
    kubeconfig: writeKubeconfig(dir, { server: `${kt.url}/clusters/staging`, ca: kt.ca, token, name: `k-${token}-${Math.random().toString(36).slice(2)}` }),
  });

type SarBody = { spec: { user: string; groups: string[]; resourceAttributes: Record<string, string> } };
const sars = (from: number): SarBody[] =>
  upstream.received
    .slice(from)
    .filter((q) => q.method === 'POST' && q.path === SAR_PATH)
    .map((q) => JSON.parse(q.body) as SarBody);

t.test('allowed: kubectl --as --as-group runs as the requested identity, checked with SubjectAccessReviews', async (t) => {
  const before = upstream.received.length;
  const r = await run('tok-olga', ['get', 'pods', '-o', 'name', '--as', 'viewer', '--as-group', 'viewers']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /pod\/web-0/);

  const reviews = sars(before);
  t.ok(reviews.length >= 2, 'one review per impersonated user and group');
  t.same(reviews[0].spec.user, 'olga');
  t.same(reviews[0].spec.groups, ['oncall', 'system:authenticated'], 'the subject is the caller as kubetape impersonates them');
  t.same(reviews[0].spec.resourceAttributes, { verb: 'impersonate', group: '', resource: 'users', name: 'viewer' });
  t.same(reviews[1].spec.resourceAttributes, { verb: 'impersonate', group: '', resource: 'groups', name: 'viewers' });
  t.equal(reviews.length, 2, 'later requests of the same command reuse the cached decisions');

  const forwarded = upstream.received.slice(before).filter((q) => q.path !== SAR_PATH);
  t.ok(forwarded.length > 0);
  for (const q of forwarded) {
    t.equal(q.authenticatedUser, PROXY, "kubetape's own credential");
    t.equal(q.user, 'viewer', `${q.method} ${q.path} acts as the requested user`);
    t.same(q.groups, ['viewers', 'system:authenticated'], 'with only the requested group');
    t.same(q.headers['impersonate-user'], 'viewer');
  }

  const session = await findSession(kt.store, (s) => s.cluster === 'staging' && s.user === 'olga' && s.command === 'kubectl get');
  const req = (await sessionEvents(kt.store, session.id)).find(
    (e): e is RequestEvent => e.type === 'request' && e.uri.startsWith('/api/v1/namespaces/default/pods'),
  );
  t.ok(req, 'the pods request was recorded');
  t.same(req!.impersonation, { caller: { user: 'olga', groups: ['oncall', 'system:authenticated'] }, as: { user: 'viewer', groups: ['viewers'] } });
});

t.test('denied: 403 naming the permission, nothing forwarded, the attempt recorded', async (t) => {
  const before = upstream.received.length;
  const r = await run('tok-dan', ['get', 'pods', '--as', 'viewer']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /Error from server \(Forbidden\): users "viewer" is forbidden: User "dan" cannot impersonate resource "users" in API group "" at the cluster scope/,
  );
  const arrived = upstream.received.slice(before);
  t.ok(arrived.length > 0);
  t.ok(
    arrived.every((q) => q.path === SAR_PATH),
    'only SubjectAccessReviews reached the cluster',
  );

  // olga may be viewer but not join system:masters: the group check fails after the user check passed.
  const before2 = upstream.received.length;
  const masters = await run('tok-olga', ['get', 'pods', '--as', 'viewer', '--as-group', 'system:masters']);
  t.equal(masters.code, 1);
  t.match(masters.stderr, /groups "system:masters" is forbidden: User "olga" cannot impersonate resource "groups" in API group ""/);
  t.ok(upstream.received.slice(before2).every((q) => q.path === SAR_PATH));

  const session = await findSession(kt.store, (s) => s.cluster === 'staging' && s.user === 'dan');
  const events = await sessionEvents(kt.store, session.id);
  const req = events.find((e): e is RequestEvent => e.type === 'request' && e.impersonation !== undefined);
  t.match(req?.impersonation, { caller: { user: 'dan' }, as: { user: 'viewer', groups: [] } });
  t.ok(
    events.some((e) => e.type === 'response' && e.status === 403),
    'the refusal is recorded',
  );
});

t.test('raw headers: uid and extras are reviewed too; groups without a user are a 400', async (t) => {
  const before = upstream.received.length;
  const r = await httpsCall(`${kt.url}/clusters/staging/api/v1/namespaces/default/pods`, {
    ca: kt.ca,
    headers: { authorization: 'Bearer tok-olga', 'impersonate-user': 'viewer', 'impersonate-extra-scopes': 'view' },
  });
  t.equal(r.status, 403);
  t.match(JSON.parse(r.body), {
    kind: 'Status',
    reason: 'Forbidden',
    message: /userextras "view" is forbidden: User "olga" cannot impersonate resource "userextras\/scopes" in API group "authentication.k8s.io"/,
  });
  const last = sars(before).at(-1)!;
  t.same(last.spec.resourceAttributes, { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'view' });

  const noUser = await httpsCall(`${kt.url}/clusters/staging/api/v1/namespaces/default/pods`, {
    ca: kt.ca,
    headers: { authorization: 'Bearer tok-olga', 'impersonate-group': 'viewers' },
  });
  t.equal(noUser.status, 400);
  t.match(JSON.parse(noUser.body).message, /requested \[group viewers\] without impersonating a user/);
});

t.test('the cluster cannot answer the review: 503, nothing forwarded', async (t) => {
  // A kubetape whose own identity may not create SubjectAccessReviews.
  const weak = await startFakeApiServer({
    users: [{ token: 'weak-token', user: 'weak', groups: [] }],
    rbac: [
      { users: ['weak'], verbs: ['impersonate'], resources: ['users', 'groups'] },
      { groups: ['oncall'], verbs: ['impersonate'], resources: ['users'] },
    ],
  });
  t.teardown(() => weak.close());
  const own = writeKubeconfig(dir, { server: weak.url, ca: weak.ca, token: 'weak-token', name: 'weak' });
  const { clusters } = parseClustersConfig([{ name: 'weak', kubeconfig: own }], undefined, (p) => p);
  const k2 = await startKubetape(
    resolveConfig(
      {},
      {
        listen: '127.0.0.1:0',
        adminListen: '127.0.0.1:0',
        dataDir: join(dir, 'data2'),
        authentication: { tokenFile: join(dir, 'tokens.csv'), oidc: [] },
        clusters,
      },
    ),
    { log: () => undefined },
  );
  t.teardown(() => k2.close());
  const r = await kubectl(['get', 'pods', '--as', 'viewer'], {
    kubeconfig: writeKubeconfig(dir, { server: `${k2.url}/clusters/weak`, ca: k2.ca, token: 'tok-olga', name: 'weak-olga' }),
  });
  t.equal(r.code, 1);
  t.match(r.stderr, /Error from server \(ServiceUnavailable\)/);
  const raw = await httpsCall(`${k2.url}/clusters/weak/api/v1/namespaces/default/pods`, {
    ca: k2.ca,
    headers: { authorization: 'Bearer tok-olga', 'impersonate-user': 'viewer' },
  });
  t.equal(raw.status, 503);
  t.match(JSON.parse(raw.body), {
    reason: 'ServiceUnavailable',
    message: /could not check the impersonation with the cluster, so nothing was forwarded: the cluster answered the SubjectAccessReview with HTTP 403/,
  });
  t.ok(
    weak.received.every((q) => q.path === SAR_PATH),
    'only the failed review reached the cluster',
  );
});

t.test('tunnelled upgrades are admitted like REST: impersonation is SAR-checked, not refused outright', async (t) => {
  // Before admission was one step, the tunnel refused every Impersonate-* even on impersonation clusters.
  const UPGRADE = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };
  const path = '/clusters/staging/api/v1/namespaces/default/pods';
  const call = (token: string) =>
    httpsCall(`${kt.url}${path}`, { ca: kt.ca, headers: { ...UPGRADE, Authorization: `Bearer ${token}`, 'Impersonate-User': 'viewer' } });
  const reached = (from: number) =>
    upstream.received.slice(from).filter((q) => q.path === '/api/v1/namespaces/default/pods' && q.headers['upgrade'] === 'websocket');

  let before = upstream.received.length;
  const allowed = await call('tok-olga');
  // The test cluster does not upgrade watches: its own answer comes back through the tunnel.
  t.equal(allowed.status, 400, allowed.body);
  t.match(allowed.body, /upgrade to websocket is not supported/, "the cluster's answer, passed on");
  const got = reached(before);
  t.equal(got.length, 1, 'the allowed upgrade reached the cluster');
  t.equal(got[0].authenticatedUser, PROXY, "with kubetape's own credential");
  t.equal(got[0].user, 'viewer', 'acting as the user the cluster agreed to');

  before = upstream.received.length;
  const denied = await call('tok-dan');
  t.equal(denied.status, 403);
  t.match(JSON.parse(denied.body), { kind: 'Status', reason: 'Forbidden', message: /User "dan" cannot impersonate resource "users"/ });
  t.equal(reached(before).length, 0, 'the denied upgrade never reached the cluster');
});
