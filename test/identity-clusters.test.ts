// Two clusters behind one kubetape, people logged in with OIDC:
// - "prod" is EKS-style: each person's groups pick an IAM role, kubetape
//   assumes it with their own ID token (STS = moto_server), mints an EKS
//   token, and the test API server authenticates that token like
//   aws-iam-authenticator and maps the role through mapRoles to RBAC groups.
// - "staging" is reached with kubetape's own credential and impersonation.
// kubectl through kubetape proves scoping end to end, and the recordings
// and the clusters' request logs name the same person.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { httpsCall } from './helpers/https-call.js';
import { findSession, sessionEvents } from './helpers/recordings.js';
import type { RunningKubetape } from '../src/listen/start.js';
import { startClustersKubetape } from './helpers/clusters-kubetape.js';
import { parseClustersConfig } from '../src/clusters/config.js';
import { roleSessionName } from '../src/credentials/session-name.js';
import type { SessionStartEvent } from '../src/model/recording.js';

const DEV_ROLE = 'arn:aws:iam::123456789012:role/k8s-dev';
const SRE_ROLE = 'arn:aws:iam::123456789012:role/k8s-sre';

let dir: string;
let moto: Moto;
let idp: TestIssuer;
let eks: FakeApiServer;
let staging: FakeApiServer;
let kt: RunningKubetape;

const people = {
  alice: { sub: 'sub-alice', email: 'alice@example.com', groups: ['dev'] },
  bob: { sub: 'sub-bob', email: 'bob@example.com', groups: ['sre'] },
  carol: { sub: 'sub-carol', email: 'carol@example.com', groups: ['marketing'] },
};
type Person = keyof typeof people;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-identity-'));
  moto = await startMoto();
  idp = await startTestIssuer();
  eks = await startFakeApiServer({
    users: [],
    eksAuth: {
      clusterId: 'prod-eks',
      stsEndpoint: moto.url,
      mapRoles: [
        { rolearn: DEV_ROLE, username: 'kubetape:{{SessionName}}', groups: ['eks-dev'] },
        { rolearn: SRE_ROLE, username: 'kubetape:{{SessionName}}', groups: ['eks-sre'] },
      ],
    },
    rbac: [
      { groups: ['eks-dev'], verbs: ['get', 'list', 'watch', 'create', 'delete'], resources: ['pods', 'pods/log'], namespaces: ['dev'] },
      { groups: ['eks-dev'], verbs: ['get', 'list', 'watch'], resources: ['pods'], namespaces: ['prod'] },
      { groups: ['eks-sre'], verbs: ['*'], resources: ['pods', 'pods/log'] },
    ],
  });
  staging = await startFakeApiServer({
    users: [{ token: 'kubetape-sa-token', user: 'system:serviceaccount:kubetape:proxy', groups: [] }],
    rbac: [
      // kubetape's own identity may impersonate and nothing else.
      { users: ['system:serviceaccount:kubetape:proxy'], verbs: ['impersonate'], resources: ['users', 'groups'] },
      // ... and ask whether a caller may impersonate (kubectl --as).
      { users: ['system:serviceaccount:kubetape:proxy'], verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'] },
      { groups: ['dev'], verbs: ['get', 'list'], resources: ['pods'], namespaces: ['default'] },
    ],
  });
  for (const ns of ['dev', 'prod']) {
    eks.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    eks.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `web-${ns}`, namespace: ns }, spec: { containers: [{ name: 'web', image: 'nginx' }] } });
  }
  staging.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'stage-0', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
  });

  const eksCa = join(dir, 'eks-ca.pem');
  writeFileSync(eksCa, eks.ca);
  const stagingKubeconfig = writeKubeconfig(dir, { server: staging.url, ca: staging.ca, token: 'kubetape-sa-token', name: 'staging-admin' });
  const clusters = parseClustersConfig(
    [
      {
        name: 'prod',
        eks: { name: 'prod-eks', region: 'us-east-1' },
        server: eks.url,
        ca: eksCa,
        roles: [
          { group: 'dev', roleArn: DEV_ROLE },
          { group: 'sre', roleArn: SRE_ROLE, priority: 10 },
        ],
      },
      { name: 'staging', kubeconfig: stagingKubeconfig },
    ],
    { region: 'us-east-1', stsEndpoint: moto.url, timeoutSeconds: 5 },
    (p) => p,
  );
  kt = await startClustersKubetape(dir, idp, clusters);
});

t.teardown(async () => {
  await kt?.close();
  await eks?.close();
  await staging?.close();
  await idp?.close();
  await moto?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function kubeconfigFor(who: Person, cluster: string): Promise<string> {
  const p = people[who];
  const token = await idp.mint({ sub: p.sub, email: p.email, groups: p.groups });
  return writeKubeconfig(dir, { server: `${kt.url}/clusters/${cluster}`, ca: kt.ca, token, name: `${who}-${cluster}` });
}
const as = async (who: Person, cluster: string, args: string[]) => kubectl(args, { kubeconfig: await kubeconfigFor(who, cluster) });
const eksUser = (who: Person) => `kubetape:${roleSessionName(people[who].email).replaceAll('@', '-')}`;

t.test('dev person on the EKS cluster: lists pods in dev, may read prod, is forbidden to delete in prod', async (t) => {
  const before = eks.received.length;
  const list = await as('alice', 'prod', ['get', 'pods', '-n', 'dev', '-o', 'name']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /pod\/web-dev/);
  const del = await as('alice', 'prod', ['delete', 'pod', 'web-prod', '-n', 'prod', '--wait=false']);
  t.equal(del.code, 1);
  t.match(
    del.stderr,
    new RegExp(
      `Error from server \\(Forbidden\\): pods "web-prod" is forbidden: User "${eksUser('alice')}" cannot delete resource "pods" in API group "" in the namespace "prod"`,
    ),
  );
  t.ok(
    eks.objects.list('pods', 'prod').some((p) => p.metadata.name === 'web-prod'),
    'the pod is still there',
  );

  const arrived = eks.received.slice(before);
  t.ok(arrived.length > 0);
  for (const q of arrived) {
    t.match(q.headers['authorization'], /^Bearer k8s-aws-v1\.[A-Za-z0-9_-]+$/, `${q.method} ${q.path}: an EKS token`);
    t.equal(q.user, eksUser('alice'), `${q.method} ${q.path}: the cluster saw alice's own role session`);
    t.notOk(
      Object.keys(q.headers).some((h) => h.startsWith('impersonate-')),
      'no impersonation on EKS',
    );
  }
});

t.test('sre person on the EKS cluster may delete in prod', async (t) => {
  eks.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'doomed', namespace: 'prod' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  const del = await as('bob', 'prod', ['delete', 'pod', 'doomed', '-n', 'prod', '--wait=false']);
  t.equal(del.code, 0, del.stderr);
  t.match(del.stdout, /pod "doomed" deleted/);
  const who = await as('bob', 'prod', ['auth', 'whoami', '-o', 'json']);
  t.equal(who.code, 0, who.stderr);
  const info = JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[]; extra: Record<string, string[]> } } };
  t.equal(info.status.userInfo.username, eksUser('bob'), 'kubectl auth whoami shows the role-session username the cluster maps');
  t.same(info.status.userInfo.groups, ['eks-sre', 'system:authenticated']);
  t.same(info.status.userInfo.extra['canonicalArn'], [SRE_ROLE]);
  t.same(info.status.userInfo.extra['sessionName'], [roleSessionName('bob@example.com')]);
});

t.test('a person whose groups map to no role gets a 403 naming the cluster; nothing reaches it', async (t) => {
  const before = eks.received.length;
  const r = await as('carol', 'prod', ['get', 'pods', '-n', 'dev']);
  t.equal(r.code, 1);
  t.match(r.stderr, /no IAM role on cluster "prod" for your groups \[marketing\]/);
  t.equal(eks.received.length, before);
});

t.test('one STS call per person and role, however many requests', async (t) => {
  const calls = kt.roleSessions!.stsCalls;
  for (let i = 0; i < 3; i++) t.equal((await as('alice', 'prod', ['get', 'pods', '-n', 'dev', '-o', 'name'])).code, 0);
  t.equal(kt.roleSessions!.stsCalls, calls, 'alice reused her cached role session');
});

t.test('impersonation cluster: the upstream sees the person via Impersonate-*, whoami shows the OIDC user', async (t) => {
  const before = staging.received.length;
  const who = await as('alice', 'staging', ['auth', 'whoami', '-o', 'json']);
  t.equal(who.code, 0, who.stderr);
  const info = JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
  t.equal(info.status.userInfo.username, 'alice@example.com');
  t.same(info.status.userInfo.groups, ['dev', 'system:authenticated']);
  const list = await as('alice', 'staging', ['get', 'pods', '-o', 'name']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /pod\/stage-0/);
  const denied = await as('bob', 'staging', ['get', 'pods']);
  t.equal(denied.code, 1);
  t.match(denied.stderr, /User "bob@example.com" cannot list resource "pods"/, "bob's groups grant nothing on staging");
  for (const q of staging.received.slice(before)) {
    t.equal(q.headers['authorization'], 'Bearer kubetape-sa-token', "kubetape's own credential");
    t.equal(q.authenticatedUser, 'system:serviceaccount:kubetape:proxy');
    t.ok(q.user === 'alice@example.com' || q.user === 'bob@example.com', `acting as the person (${q.user})`);
  }
  const raw = await httpsCall(`${kt.url}/clusters/staging/api/v1/namespaces/default/pods`, {
    ca: kt.ca,
    headers: { authorization: `Bearer ${await idp.mint({ sub: 'sub-alice', email: 'alice@example.com', groups: ['dev'] })}`, 'impersonate-user': 'admin' },
  });
  t.equal(raw.status, 403, 'a caller-sent Impersonate-User the cluster does not allow is refused');
  t.match(JSON.parse(raw.body).message, /users "admin" is forbidden: User "alice@example.com" cannot impersonate resource "users"/);
});

t.test('EKS cluster: kubectl --as is refused, nothing reaches the cluster', async (t) => {
  const before = eks.received.length;
  const r = await as('bob', 'prod', ['get', 'pods', '-n', 'prod', '--as', 'someone-else']);
  t.equal(r.code, 1);
  t.match(r.stderr, /does not forward impersonation headers \[Impersonate-User\]/);
  t.equal(eks.received.length, before);
});

t.test('recordings name the person, the issuer, the cluster and the role session', async (t) => {
  const eksSession = await findSession(kt.store, (s) => s.cluster === 'prod' && s.user === 'bob@example.com' && s.command === 'kubectl delete');
  const start = (await sessionEvents(kt.store, eksSession.id))[0] as SessionStartEvent;
  t.match(start, {
    type: 'session.start',
    user: 'bob@example.com',
    authMethod: 'oidc',
    issuer: idp.issuer,
    subject: 'sub-bob',
    cluster: 'prod',
    upstream: { method: 'aws-role', roleArn: SRE_ROLE, roleSessionName: roleSessionName('bob@example.com') },
  });
  const stagingSession = await findSession(kt.store, (s) => s.cluster === 'staging' && s.user === 'alice@example.com');
  const s2 = (await sessionEvents(kt.store, stagingSession.id))[0] as SessionStartEvent;
  t.match(s2, { cluster: 'staging', upstream: { method: 'impersonation', user: 'alice@example.com', groups: ['dev', 'system:authenticated'] } });
  const ex = (await sessionEvents(kt.store, eksSession.id)).find((e) => e.type === 'request');
  t.ok(ex && ex.type === 'request' && !ex.uri.startsWith('/clusters/'), 'request URIs are the API paths the cluster saw');
});

t.test('unknown clusters and the bare root are 404 Status objects after authentication', async (t) => {
  const token = await idp.mint({ sub: 'sub-alice', email: 'alice@example.com', groups: ['dev'] });
  const unknown = await httpsCall(`${kt.url}/clusters/nope/api`, { ca: kt.ca, headers: { authorization: `Bearer ${token}` } });
  t.equal(unknown.status, 404);
  t.match(JSON.parse(unknown.body), { kind: 'Status', message: /no cluster "nope" \(clusters: \/clusters\/prod, \/clusters\/staging\)/ });
  const root = await httpsCall(`${kt.url}/api`, { ca: kt.ca, headers: { authorization: `Bearer ${token}` } });
  t.equal(root.status, 404);
  t.match(JSON.parse(root.body).message, /serves several clusters/);
  const anon = await httpsCall(`${kt.url}/clusters/nope/api`, { ca: kt.ca });
  t.equal(anon.status, 401, 'unauthenticated callers learn nothing about clusters');
});
