// What an impersonation cluster is told about the caller, by the real
// kubectl through kubetape to the test API server (kubectl auth whoami asks
// who it saw):
// - with `agentExtras: true`, an agent acting for a person is the person
//   (their RBAC) with the agent's name as a user extra, so the cluster itself
//   (its audit log, SelfSubjectReview, webhooks) knows an agent acted; without
//   the `impersonate` permission on those extras the cluster refuses, as a
//   real one would; hostile agent names arrive percent-encoded;
// - names outside latin1 go out as their UTF-8 bytes, as the API server reads
//   them (node throws on such a string: before, one such username crashed
//   kubetape), and a caller's --as name is checked with the cluster under the
//   spelling that is then sent;
// - names with control characters are refused at login.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { findSession, sessionEvents } from './helpers/recordings.js';
import { httpsCall } from './helpers/https-call.js';
import type { RunningKubetape } from '../src/listen/start.js';
import { startClustersKubetape } from './helpers/clusters-kubetape.js';
import { parseClustersConfig } from '../src/clusters/config.js';
import { ConfigError } from '../src/model/config-error.js';
import type { SessionStartEvent } from '../src/model/recording.js';

const KUBETAPE_SA = 'system:serviceaccount:kubetape:proxy';
let dir: string;
let idp: TestIssuer;
let withExtras: FakeApiServer;
let withoutPermission: FakeApiServer;
let kt: RunningKubetape;

function cluster(rbacExtras: boolean): Promise<FakeApiServer> {
  return startFakeApiServer({
    users: [{ token: 'kubetape-sa-token', user: KUBETAPE_SA, groups: [] }],
    rbac: [
      { users: [KUBETAPE_SA], verbs: ['impersonate'], resources: ['users', 'groups'] },
      ...(rbacExtras
        ? [
            {
              users: [KUBETAPE_SA],
              verbs: ['impersonate'],
              apiGroups: ['authentication.k8s.io'],
              resources: ['userextras/kubetape.io/agent', 'userextras/kubetape.io/acting-for'],
            },
          ]
        : []),
      { users: [KUBETAPE_SA], verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'] },
      { groups: ['dev'], verbs: ['get', 'list'], resources: ['pods'], namespaces: ['default'] },
      { users: ['ユーザー@example.com'], verbs: ['impersonate'], resources: ['users'], resourceNames: ['ゲスト'] },
    ],
  });
}

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-agent-extras-'));
  idp = await startTestIssuer();
  [withExtras, withoutPermission] = await Promise.all([cluster(true), cluster(false)]);
  const kc = (c: FakeApiServer, name: string) => writeKubeconfig(dir, { server: c.url, ca: c.ca, token: 'kubetape-sa-token', name });
  const clusters = parseClustersConfig(
    [
      { name: 'staging', kubeconfig: kc(withExtras, 'staging-admin'), agentExtras: true },
      { name: 'strict', kubeconfig: kc(withoutPermission, 'strict-admin'), agentExtras: true },
      { name: 'plain', kubeconfig: kc(withoutPermission, 'plain-admin') },
    ],
    undefined,
    (p) => p,
  );
  kt = await startClustersKubetape(dir, idp, clusters);
});

t.teardown(async () => {
  await kt?.close();
  await withExtras?.close();
  await withoutPermission?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

const dana = { sub: 'sub-dana', email: 'dana@example.com', groups: ['dev'] };

async function whoami(cluster: string, claims: Record<string, unknown>, name: string) {
  const token = await idp.mint(claims);
  const kubeconfig = writeKubeconfig(dir, { server: `${kt.url}/clusters/${cluster}`, ca: kt.ca, token, name });
  return kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig });
}

interface Review {
  status: { userInfo: { username: string; groups: string[]; extra?: Record<string, string[]> } };
}

t.test('an agent acting for a person: the cluster sees the person, and the agent as a user extra', async (t) => {
  const r = await whoami('staging', { ...dana, act: { sub: 'mcp-k8s' } }, 'agent-staging');
  t.equal(r.code, 0, r.stderr);
  const info = (JSON.parse(r.stdout) as Review).status.userInfo;
  t.equal(info.username, 'dana@example.com', "the person's RBAC");
  t.same(info.extra, { 'kubetape.io/agent': ['mcp-k8s'] }, 'the agent, in the cluster’s own record');
  const sent = withExtras.received.filter((x) => x.path.includes('selfsubjectreviews')).at(-1);
  t.equal(sent?.headers['impersonate-extra-kubetape.io%2fagent'], 'mcp-k8s', 'sent as Impersonate-Extra-kubetape.io%2Fagent');
  t.equal(sent?.headers['authorization'], 'Bearer kubetape-sa-token', "kubetape's own credential, never the caller's token");

  const s = await findSession(kt.store, (x) => x.user === 'dana@example.com' && x.cluster === 'staging');
  const start = (await sessionEvents(kt.store, s.id)).find((e) => e.type === 'session.start') as SessionStartEvent;
  t.same(start.upstream?.extra, { 'kubetape.io/agent': ['mcp-k8s'] }, 'the recording says what the cluster was told');
});

t.test('a person is sent no extras; nor is anyone on a cluster without agentExtras', async (t) => {
  const person = await whoami('staging', dana, 'dana-staging');
  t.equal(person.code, 0, person.stderr);
  t.equal((JSON.parse(person.stdout) as Review).status.userInfo.extra, undefined);
  const plain = await whoami('plain', { ...dana, act: { sub: 'mcp-k8s' } }, 'agent-plain');
  t.equal(plain.code, 0, plain.stderr);
  t.equal((JSON.parse(plain.stdout) as Review).status.userInfo.extra, undefined, 'off unless configured');
});

t.test('kubetape may not impersonate the extras: the cluster refuses, and says what is missing', async (t) => {
  const token = await idp.mint({ ...dana, act: { sub: 'mcp-k8s' } });
  const kubeconfig = writeKubeconfig(dir, { server: `${kt.url}/clusters/strict`, ca: kt.ca, token, name: 'agent-strict' });
  // kubectl's discovery hides a 403's message ("Forbidden: unknown"); the API answer itself names the permission.
  const r = await kubectl(['get', 'pods', '-n', 'default'], { kubeconfig });
  t.equal(r.code, 1);
  t.match(r.stderr, /Error from server \(Forbidden\)/);
  const raw = await httpsCall(`${kt.url}/clusters/strict/api/v1/namespaces/default/pods`, { ca: kt.ca, headers: { Authorization: `Bearer ${token}` } });
  t.equal(raw.status, 403);
  t.match(JSON.parse(raw.body), {
    kind: 'Status',
    reason: 'Forbidden',
    message: /cannot impersonate resource "userextras\/kubetape\.io\/agent" in API group "authentication\.k8s\.io"/,
  });
});

t.test('a hostile agent name arrives percent-encoded, one value (control characters are refused at login, below)', async (t) => {
  const hostile = 'evil agent, Impersonate-Group: system:masters%é';
  const r = await whoami('staging', { ...dana, act: { sub: hostile } }, 'agent-hostile');
  t.equal(r.code, 0, r.stderr);
  const info = (JSON.parse(r.stdout) as Review).status.userInfo;
  t.same(info.extra, { 'kubetape.io/agent': ['evil%20agent%2C%20Impersonate-Group:%20system:masters%25%C3%A9'] });
  t.notOk(info.groups.includes('system:masters'), 'no group smuggled in');
  const sent = withExtras.received.filter((x) => x.path.includes('selfsubjectreviews')).at(-1);
  t.same(sent?.headers['impersonate-group'], ['dev', 'system:authenticated'], 'the groups kubetape sent, and only those');
});

t.test('agentExtras on an EKS cluster is a configuration error', async (t) => {
  t.throws(
    () =>
      parseClustersConfig(
        [{ name: 'prod', eks: { name: 'p', region: 'us-east-1' }, roles: [{ group: 'dev', roleArn: 'arn:aws:iam::123456789012:role/r' }], agentExtras: true }],
        { region: 'us-east-1' },
        (p) => p,
      ),
    new ConfigError("clusters[0].agentExtras applies to clusters reached with impersonation: an EKS cluster sees the caller's own IAM role session"),
  );
});

t.test('a username outside latin1 reaches the cluster as the same name (its UTF-8 bytes), not a crash', async (t) => {
  const r = await whoami('staging', { sub: 's-yuki', email: 'ユーザー@example.com', groups: ['dev'] }, 'yuki');
  t.equal(r.code, 0, r.stderr);
  t.equal((JSON.parse(r.stdout) as Review).status.userInfo.username, 'ユーザー@example.com');
  // Asked to act as such a name (kubectl --as): the name checked with the cluster is the one sent.
  const token = await idp.mint({ sub: 's-yuki', email: 'ユーザー@example.com', groups: ['dev'] });
  const kubeconfig = writeKubeconfig(dir, { server: `${kt.url}/clusters/staging`, ca: kt.ca, token, name: 'yuki-as' });
  const as = await kubectl(['auth', 'whoami', '-o', 'json', '--as', 'ゲスト'], { kubeconfig });
  t.equal(as.code, 0, as.stderr);
  t.equal((JSON.parse(as.stdout) as Review).status.userInfo.username, 'ゲスト', 'allowed by a rule that names ゲスト, and acted on as ゲスト');
  const denied = await kubectl(['auth', 'whoami', '--as', 'ゲスト2'], { kubeconfig });
  t.equal(denied.code, 1, 'a name the rule does not give is refused');
});

t.test('names with control characters are refused at login, and nothing is sent upstream', async (t) => {
  const before = withExtras.received.length;
  for (const claims of [
    { sub: 's2', email: 'x@example.com', groups: ['dev', 'ops\r\nImpersonate-Group: system:masters'] },
    { sub: 's3', email: 'y\u0000@example.com', groups: ['dev'] },
    { ...dana, act: { sub: 'agent\u0007' } },
  ]) {
    const token = await idp.mint(claims);
    const raw = await httpsCall(`${kt.url}/clusters/staging/api/v1/namespaces/default/pods`, { ca: kt.ca, headers: { Authorization: `Bearer ${token}` } });
    t.equal(raw.status, 401, JSON.stringify(claims));
    t.match(JSON.parse(raw.body), { kind: 'Status', code: 401 });
  }
  t.equal(withExtras.received.length, before, 'the cluster saw none of them');
});
