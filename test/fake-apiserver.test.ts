// The fake kube-apiserver, driven by the real kubectl (no proxy in between):
// if kubectl accepts it here, tests through kubetape see a faithful cluster.
import t, { type Test } from 'tap';
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { kubeStatus, rejectUpgrade, startFakeApiServer, type FakeApiServer, type FakeApiServerOptions, type UpgradeRequest } from './fake-apiserver/index.js';
import { kubectl, spawnKubectl, writeKubeconfig, type KubectlResult } from './helpers/kubectl.js';
import { createCertificateAuthority, issueCertificate } from '../src/listen/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'fake-apiserver-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function cluster(t: Test, opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const s = await startFakeApiServer(opts);
  t.teardown(() => s.close());
  return s;
}

const kc = (s: FakeApiServer, token = 'admin-token'): string => writeKubeconfig(dir, { server: s.url, ca: s.ca, token });

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => Record<string, unknown>;
}

/** A direct HTTPS request, for what kubectl hides (exact Status bodies, Content-Type, gzip). */
function raw(s: FakeApiServer, method: string, path: string, o: { token?: string | null; headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== null) headers.authorization = `Bearer ${o.token ?? 'admin-token'}`;
    const req = request(`${s.url}${path}`, { method, ca: s.ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let buf = Buffer.concat(chunks);
        if (res.headers['content-encoding'] === 'gzip') buf = gunzipSync(buf);
        const body = buf.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** The next line from a streaming kubectl, or a failure after `ms`. */
async function nextLine(it: AsyncIterator<string>, ms = 5000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no line within ${ms} ms`)), ms)));
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error('stream ended');
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

const ok = (t: Test, r: KubectlResult, what: string): void => {
  t.equal(r.code, 0, `${what} exits 0${r.code ? `: ${r.stderr}` : ''}`);
};

const pod = (name: string, containers: string[] = ['app'], ns = 'default') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { containers: containers.map((c) => ({ name: c, image: 'busybox:1.36' })) },
});

t.test('version, discovery and the request log', async (t) => {
  const s = await cluster(t);
  const k = kc(s);
  const v = await kubectl(['version', '-o', 'json'], { kubeconfig: k });
  ok(t, v, 'kubectl version');
  const server = (JSON.parse(v.stdout) as { serverVersion: Record<string, string> }).serverVersion;
  t.equal(server.minor, '32');
  t.equal(server.gitVersion, 'v1.32.0');
  t.equal(server.platform, 'linux/amd64');
  const asked = s.received.find((q) => q.path.startsWith('/version') && q.headers['kubectl-command'] === 'kubectl version');
  t.ok(asked, 'kubectl itself asked /version');
  t.equal(asked?.headers.authorization, 'Bearer admin-token', 'headers are recorded lowercased');
  t.match(String(asked?.headers['kubectl-session']), /^[0-9a-f-]{36}$/);
  t.equal(asked?.user, 'admin');
  t.same(asked?.groups, ['system:masters', 'system:authenticated']);
  t.equal(asked?.status, 200);

  for (const p of ['/healthz', '/readyz', '/livez']) {
    const r = await raw(s, 'GET', p);
    t.equal(`${r.status} ${r.body}`, '200 ok', p);
  }

  const before = s.received.length;
  const ar = await kubectl(['api-resources'], { kubeconfig: k });
  ok(t, ar, 'api-resources (aggregated)');
  t.match(ar.stdout, /^pods\s+po\s+v1\s+true\s+Pod$/m);
  t.match(ar.stdout, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
  t.match(ar.stdout, /^namespaces\s+ns\s+v1\s+false\s+Namespace$/m);
  const paths = s.received.slice(before).map((q) => q.path.split('?')[0]);
  t.ok(paths.includes('/api') && paths.includes('/apis'), 'asked /api and /apis');
  t.notOk(paths.includes('/api/v1'), 'the aggregated reply made /api/v1 unnecessary');
  const agg = await raw(s, 'GET', '/api', { headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
  t.equal(agg.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  const items = agg.json().items as Array<{ versions: Array<{ resources: Array<{ resource: string; subresources?: Array<{ subresource: string }> }> }> }>;
  const pods = items[0].versions[0].resources.find((r) => r.resource === 'pods');
  t.same(pods?.subresources?.map((x) => x.subresource).sort(), ['attach', 'exec', 'log', 'portforward', 'status']);
  const beta = await raw(s, 'GET', '/apis', {
    headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json' },
  });
  t.equal(beta.json().apiVersion, 'apidiscovery.k8s.io/v2beta1', 'v2beta1 for clients that only know it (kubectl <= 1.29)');

  const legacy = await cluster(t, { aggregatedDiscovery: false });
  const b2 = legacy.received.length;
  const lr = await kubectl(['api-resources'], { kubeconfig: kc(legacy) });
  ok(t, lr, 'api-resources (legacy)');
  t.match(lr.stdout, /^configmaps\s+cm\s+v1\s+true\s+ConfigMap$/m);
  t.ok(
    legacy.received.slice(b2).some((q) => q.path.startsWith('/api/v1?')),
    'legacy discovery walks /api/v1',
  );
  const list = await raw(legacy, 'GET', '/api/v1');
  const names = (list.json().resources as Array<{ name: string }>).map((r) => r.name);
  for (const n of ['pods/log', 'pods/exec', 'pods/attach', 'pods/portforward', 'pods/status', 'secrets', 'services', 'events'])
    t.ok(names.includes(n), `/api/v1 lists ${n}`);
  const plain = await raw(legacy, 'GET', '/api', {
    headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' },
  });
  t.equal(plain.json().kind, 'APIVersions', 'aggregated discovery off: legacy reply whatever the Accept');
});

t.test('get: tables, yaml, and the Table wire format', async (t) => {
  const s = await cluster(t);
  const k = kc(s);
  s.objects.put(pod('web-0'));
  s.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1', b: '2' } });
  s.objects.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec', namespace: 'default' }, stringData: { p: 'x' } });

  const pods = await kubectl(['get', 'pods'], { kubeconfig: k });
  ok(t, pods, 'get pods');
  t.match(pods.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
  t.match(pods.stdout, /^web-0\s+1\/1\s+Running\s+0\s+\d+s$/m);
  const wide = await kubectl(['get', 'pods', '-o', 'wide'], { kubeconfig: k });
  t.match(wide.stdout, /^web-0\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.\d+\.\d+\s+fake-node\s+<none>\s+<none>$/m);
  const cms = await kubectl(['get', 'configmaps', 'cfg'], { kubeconfig: k });
  t.match(cms.stdout, /^NAME\s+DATA\s+AGE\ncfg\s+2\s+\S+\n$/);
  const secrets = await kubectl(['get', 'secrets'], { kubeconfig: k });
  t.match(secrets.stdout, /^NAME\s+TYPE\s+DATA\s+AGE\nsec\s+Opaque\s+1\s+\S+\n$/);
  const nss = await kubectl(['get', 'namespaces'], { kubeconfig: k });
  t.match(nss.stdout, /^NAME\s+STATUS\s+AGE\n/);
  t.match(nss.stdout, /^default\s+Active\s/m);
  t.match(nss.stdout, /^kube-system\s+Active\s/m);

  const listReq = s.received.find((q) => q.path.startsWith('/api/v1/namespaces/default/pods?'));
  t.match(String(listReq?.headers.accept), /as=Table;v=v1;g=meta\.k8s\.io/, 'kubectl asked for a Table');
  const table = await raw(s, 'GET', '/api/v1/namespaces/default/pods', {
    headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
  });
  t.equal(table.headers['content-type'], 'application/json;as=Table;v=v1;g=meta.k8s.io');
  const tj = table.json() as {
    kind: string;
    columnDefinitions: Array<{ name: string }>;
    rows: Array<{ cells: unknown[]; object: { kind: string; metadata: { name: string } } }>;
  };
  t.equal(tj.kind, 'Table');
  t.same(
    tj.columnDefinitions.slice(0, 5).map((c) => c.name),
    ['Name', 'Ready', 'Status', 'Restarts', 'Age'],
  );
  t.equal(tj.rows[0].object.kind, 'PartialObjectMetadata');
  t.equal(tj.rows[0].object.metadata.name, 'web-0');
  const none = await raw(s, 'GET', '/api/v1/namespaces/default/pods?includeObject=None', {
    headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  });
  t.notOk('object' in (none.json().rows as object[])[0], 'includeObject=None leaves the object out');

  const yaml = await kubectl(['get', 'pod', 'web-0', '-o', 'yaml'], { kubeconfig: k });
  ok(t, yaml, 'get -o yaml');
  t.match(yaml.stdout, /uid: [0-9a-f-]{36}/);
  t.match(yaml.stdout, /resourceVersion: "\d+"/);
  t.match(yaml.stdout, /creationTimestamp: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/);
  t.match(yaml.stdout, /phase: Running/);
  const plainGet = await raw(s, 'GET', '/api/v1/namespaces/default/pods');
  const podList = plainGet.json() as { kind: string; items: Array<Record<string, unknown>> };
  t.equal(podList.kind, 'PodList');
  t.notOk('kind' in podList.items[0], 'list items carry no kind, like typed lists');
});

t.test('create, apply (client-side and server-side), patch, delete', async (t) => {
  const s = await cluster(t, { podTerminationMs: 600 });
  const k = kc(s);
  const file = join(dir, 'cm.yaml');
  const cm = (data: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n${data}`;

  const created = await kubectl(['create', 'configmap', 'typed', '--from-literal=k=v'], { kubeconfig: k });
  ok(t, created, 'create configmap (a protobuf body)');
  t.match(String(s.received.find((q) => q.method === 'POST')?.headers['content-type']), /protobuf/);
  t.same(s.objects.get('configmaps', 'default', 'typed')?.data, { k: 'v' });

  writeFileSync(file, cm('  color: blue\n'));
  let r = await kubectl(['apply', '-f', file], { kubeconfig: k });
  ok(t, r, 'apply (create)');
  t.match(r.stdout, /configmap\/app created/);
  writeFileSync(file, cm('  color: green\n  size: L\n'));
  r = await kubectl(['apply', '-f', file], { kubeconfig: k });
  ok(t, r, 'apply (update)');
  t.match(r.stdout, /configmap\/app configured/);
  t.same(s.objects.get('configmaps', 'default', 'app')?.data, { color: 'green', size: 'L' });
  const post = s.received.find((q) => q.method === 'POST' && q.path.includes('fieldManager=kubectl-client-side-apply'));
  t.ok(post, 'client-side apply created with POST');
  const smp = s.received.find((q) => q.method === 'PATCH' && q.path.includes('/configmaps/app'));
  t.equal(smp?.headers['content-type'], 'application/strategic-merge-patch+json', 'then patched with a strategic merge patch');

  writeFileSync(file, cm('  color: red\n').replace('name: app', 'name: ssa'));
  r = await kubectl(['apply', '--server-side', '-f', file], { kubeconfig: k });
  ok(t, r, 'apply --server-side (create)');
  t.match(r.stdout, /configmap\/ssa serverside-applied/);
  const ssa = s.objects.get('configmaps', 'default', 'ssa');
  t.same(ssa?.data, { color: 'red' });
  t.match(ssa?.metadata.managedFields, [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:data': { 'f:color': {} } } }]);
  r = await kubectl(['apply', '--server-side', '--field-manager=other', '-f', file.replace('cm.yaml', 'cm.yaml')], { kubeconfig: k });
  ok(t, r, 'a second manager applying the same value shares ownership');
  writeFileSync(file, cm('  color: blue\n').replace('name: app', 'name: ssa'));
  r = await kubectl(['apply', '--server-side', '--field-manager=third', '-f', file], { kubeconfig: k });
  t.equal(r.code, 1, 'a differing value conflicts');
  t.match(r.stderr, /Apply failed with 2 conflicts: conflicts with "kubectl":\n- \.data\.color\nconflicts with "other":\n- \.data\.color/);
  r = await kubectl(['apply', '--server-side', '--field-manager=third', '--force-conflicts', '-f', file], { kubeconfig: k });
  ok(t, r, '--force-conflicts');
  t.same(s.objects.get('configmaps', 'default', 'ssa')?.data, { color: 'blue' });

  s.objects.put(pod('two', ['a', 'b']));
  r = await kubectl(['patch', 'pod', 'two', '-p', '{"spec":{"containers":[{"name":"b","image":"busybox:1.37"}]}}'], { kubeconfig: k });
  ok(t, r, 'strategic merge patch');
  const spec = s.objects.get('pods', 'default', 'two')?.spec as { containers: Array<{ name: string; image: string }> };
  t.same(
    spec.containers.map((c) => `${c.name}=${c.image}`),
    ['a=busybox:1.36', 'b=busybox:1.37'],
    'containers merged by name',
  );
  r = await kubectl(['patch', 'configmap', 'app', '--type=merge', '-p', '{"data":{"size":null,"extra":"1"}}'], { kubeconfig: k });
  ok(t, r, 'merge patch');
  t.same(s.objects.get('configmaps', 'default', 'app')?.data, { color: 'green', extra: '1' });
  r = await kubectl(
    ['patch', 'configmap', 'app', '--type=json', '-p', '[{"op":"replace","path":"/data/color","value":"teal"},{"op":"remove","path":"/data/extra"}]'],
    { kubeconfig: k },
  );
  ok(t, r, 'json patch');
  t.same(s.objects.get('configmaps', 'default', 'app')?.data, { color: 'teal' });

  const rvBefore = s.objects.resourceVersion;
  r = await kubectl(['create', 'configmap', 'dry', '--from-literal=a=1', '--dry-run=server', '-o', 'name'], { kubeconfig: k });
  ok(t, r, 'create --dry-run=server');
  t.equal(s.objects.get('configmaps', 'default', 'dry'), undefined, 'dry run stored nothing');
  t.equal(s.objects.resourceVersion, rvBefore, 'and used no resourceVersion');

  let before = s.received.length;
  r = await kubectl(['delete', 'configmap', 'app'], { kubeconfig: k });
  ok(t, r, 'delete configmap');
  t.match(r.stdout, /configmap "app" deleted/);
  const del = s.received.slice(before).find((q) => q.method === 'DELETE');
  t.same(JSON.parse(del?.body ?? '{}'), { propagationPolicy: 'Background' });
  t.ok(
    s.received.slice(before).some((q) => q.method === 'GET' && q.path.startsWith('/api/v1/namespaces/default/configmaps/app') && q.status === 404),
    'kubectl waited for the 404',
  );

  s.objects.put(pod('slow'));
  before = s.received.length;
  const t0 = Date.now();
  r = await kubectl(['delete', 'pod', 'slow'], { kubeconfig: k });
  ok(t, r, 'delete pod waits out the termination');
  t.ok(Date.now() - t0 >= 500, 'kubectl waited until the pod was gone');
  t.equal(s.objects.get('pods', 'default', 'slow'), undefined);
  t.ok(
    s.received.slice(before).some((q) => q.path.includes('watch=true') && q.path.includes('fieldSelector=metadata.name%3Dslow')),
    'the lingering pod was watched until DELETED',
  );

  r = await kubectl(['create', 'namespace', 'scratch'], { kubeconfig: k });
  ok(t, r, 'create namespace');
  s.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inside', namespace: 'scratch' } });
  r = await kubectl(['delete', 'namespace', 'scratch'], { kubeconfig: k });
  ok(t, r, 'delete namespace');
  t.equal(s.objects.get('configmaps', 'scratch', 'inside'), undefined, 'the namespace took its contents');
  r = await kubectl(['delete', 'namespace', 'default'], { kubeconfig: k });
  t.match(r.stderr, /Error from server \(Forbidden\): namespaces "default" is forbidden: this namespace may not be deleted/);
});

t.test('get -w streams changes as they happen', async (t) => {
  const s = await cluster(t);
  const k = kc(s);
  s.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1', namespace: 'default' }, data: { a: '1' } });
  const w = spawnKubectl(['get', 'configmaps', '-w'], { kubeconfig: k });
  const lines = w.lines[Symbol.asyncIterator]();
  t.match(await nextLine(lines), /^NAME\s+DATA\s+AGE$/);
  t.match(await nextLine(lines), /^w1\s+1\s/);
  const watching = async (): Promise<void> => {
    for (let i = 0; i < 100 && !s.received.some((q) => q.path.includes('watch=true')); i++) await new Promise((r) => setTimeout(r, 50));
  };
  await watching();
  s.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w2', namespace: 'default' }, data: { a: '1' } });
  t.match(await nextLine(lines), /^w2\s+1\s/, 'ADDED arrives');
  s.objects.update('configmaps', 'default', 'w2', (o) => (o.data = { a: '1', b: '2' }));
  t.match(await nextLine(lines), /^w2\s+2\s/, 'MODIFIED arrives');
  s.objects.delete('configmaps', 'default', 'w1');
  t.match(await nextLine(lines), /^w1\s+1\s/, 'DELETED arrives');
  w.child.kill('SIGTERM');
  await w.done;
  const watchReq = s.received.find((q) => q.path.includes('watch=true'));
  t.match(watchReq?.path, /resourceVersion=\d+/, 'watch resumed from the list resourceVersion');

  // The wire format, and a resourceVersion older than the retained history.
  const gone = await raw(s, 'GET', '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1');
  const event = JSON.parse(gone.body.split('\n')[0]) as { type: string; object: { code: number; reason: string } };
  t.same([event.type, event.object.code, event.object.reason], ['ERROR', 410, 'Expired']);
  const timed = await raw(s, 'GET', '/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1', {
    headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  });
  const events = timed.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; object: { kind: string; columnDefinitions: unknown } });
  t.same(
    events.map((e) => `${e.type} ${e.object.kind}`),
    ['ADDED Table'],
    'Table events, ended by timeoutSeconds',
  );
  t.ok(Array.isArray(events[0].object.columnDefinitions), 'the first Table event carries the columns');
});

t.test('logs and logs -f', async (t) => {
  const s = await cluster(t);
  const k = kc(s);
  s.objects.put(pod('lg'));
  s.objects.put(pod('two', ['a', 'b']));
  s.logs.set('default', 'lg', 'app', ['one', 'two', 'three']);
  let r = await kubectl(['logs', 'lg'], { kubeconfig: k });
  ok(t, r, 'logs');
  t.equal(r.stdout, 'one\ntwo\nthree\n');
  r = await kubectl(['logs', 'lg', '--tail=1', '--timestamps'], { kubeconfig: k });
  t.match(r.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z three\n$/);
  r = await kubectl(['logs', 'nope'], { kubeconfig: k });
  t.equal(r.code, 1);
  t.match(r.stderr, /pods "nope" not found/);
  r = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods/two/log'], { kubeconfig: k });
  t.match(r.stderr, /Error from server \(BadRequest\): a container name must be specified for pod two, choose one of: \[a b\]/);

  const f = spawnKubectl(['logs', '-f', 'lg'], { kubeconfig: k });
  const lines = f.lines[Symbol.asyncIterator]();
  t.same([await nextLine(lines), await nextLine(lines), await nextLine(lines)], ['one', 'two', 'three']);
  for (let i = 0; i < 100 && s.logs.followers('default', 'lg', 'app') === 0; i++) await new Promise((res) => setTimeout(res, 50));
  t.equal(s.logs.followers('default', 'lg', 'app'), 1, 'one follower');
  s.logs.append('default', 'lg', 'app', 'four');
  t.equal(await nextLine(lines, 3000), 'four', 'an appended line arrives at once');
  s.logs.append('default', 'lg', 'app', 'five');
  t.equal(await nextLine(lines, 3000), 'five');
  s.logs.end('default', 'lg', 'app');
  const done = await f.done;
  t.equal(done.code, 0, 'logs -f exits when the stream ends');
  const req = s.received.find((q) => q.path.includes('/log?') && q.path.includes('follow=true'));
  t.match(req?.path, /container=app/);
});

t.test('error shapes: 404, 409, 422, 400, 405, 401', async (t) => {
  const s = await cluster(t);
  const k = kc(s);
  let r = await kubectl(['get', 'pod', 'nope'], { kubeconfig: k });
  t.equal(r.code, 1);
  t.equal(r.stderr, 'Error from server (NotFound): pods "nope" not found\n');
  const nf = await raw(s, 'GET', '/api/v1/namespaces/default/pods/nope');
  t.equal(
    nf.body,
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}',
    'the Status exactly as the real server writes it',
  );

  const file = join(dir, 'dup.yaml');
  writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  a: "1"\n');
  ok(t, await kubectl(['create', '-f', file], { kubeconfig: k }), 'first create');
  r = await kubectl(['create', '-f', file], { kubeconfig: k });
  t.match(r.stderr, /Error from server \(AlreadyExists\): error when creating ".*dup\.yaml": configmaps "dup" already exists/);

  const stale = JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'dup', namespace: 'default', resourceVersion: '1' },
    data: { a: '2' },
  });
  r = await kubectl(['replace', '-f', '-'], { kubeconfig: k, input: stale });
  t.match(
    r.stderr,
    /Error from server \(Conflict\): .*Operation cannot be fulfilled on configmaps "dup": the object has been modified; please apply your changes to the latest version and try again/,
  );

  writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n');
  r = await kubectl(['create', '-f', file], { kubeconfig: k });
  t.match(r.stderr, /The ConfigMap "Not_Valid" is invalid: metadata\.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain/);
  const noName = await raw(s, 'POST', '/api/v1/namespaces/default/configmaps', {
    body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(noName.status, 422);
  t.equal(noName.json().message, 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required');

  const bad = await raw(s, 'POST', '/api/v1/namespaces/default/configmaps', { body: '{"apiVersion":', headers: { 'content-type': 'application/json' } });
  t.same([bad.status, bad.json().reason], [400, 'BadRequest']);
  const strict = await raw(s, 'POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Strict', {
    body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"dta":{}}',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(strict.json().message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dta"');
  const put = await raw(s, 'PUT', '/api/v1/namespaces/default/configmaps', { body: '{}', headers: { 'content-type': 'application/json' } });
  t.same([put.status, put.json().reason], [405, 'MethodNotAllowed']);
  const nsMissing = await raw(s, 'POST', '/api/v1/namespaces/nowhere/configmaps', {
    body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(nsMissing.json().message, 'namespaces "nowhere" not found');

  r = await kubectl(['get', 'pods'], { kubeconfig: kc(s, 'wrong-token') });
  t.equal(r.code, 1);
  t.match(r.stderr, /You must be logged in to the server/);
  const last = s.received[s.received.length - 1];
  t.same([last.status, last.user], [401, undefined], 'recorded as a 401 with no user');
  const anon = await raw(s, 'GET', '/api/v1/namespaces/default/pods', { token: null });
  t.equal(anon.body, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}');
});

t.test('RBAC, impersonation and client certificates', async (t) => {
  const clients = await createCertificateAuthority('clients');
  const carol = await issueCertificate(clients, 'carol', [], { client: true, organizations: ['devs'] });
  const s = await cluster(t, {
    users: [
      { token: 'admin-token', user: 'admin', groups: ['system:masters'] },
      { token: 'bob-token', user: 'bob' },
      { token: 'imp-token', user: 'imp' },
    ],
    rbac: [
      { users: ['bob'], verbs: ['get', 'list', 'watch'], resources: ['pods'], namespaces: ['default'] },
      { users: ['imp'], verbs: ['impersonate'], resources: ['users'], resourceNames: ['bob'] },
      { groups: ['devs'], verbs: ['list'], resources: ['configmaps'] },
    ],
    clientCa: clients.cert,
  });
  s.objects.put(pod('p'));
  const bob = kc(s, 'bob-token');
  const imp = kc(s, 'imp-token');
  let r = await kubectl(['get', 'pods'], { kubeconfig: bob });
  ok(t, r, 'bob lists pods in default');
  r = await kubectl(['get', 'pods', '-n', 'kube-system'], { kubeconfig: bob });
  t.equal(
    r.stderr,
    'Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "kube-system"\n',
  );
  r = await kubectl(['delete', 'pod', 'p'], { kubeconfig: bob });
  t.match(r.stderr, /pods "p" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "default"/);
  r = await kubectl(['get', 'namespaces'], { kubeconfig: bob });
  t.match(r.stderr, /namespaces is forbidden: User "bob" cannot list resource "namespaces" in API group "" at the cluster scope/);
  r = await kubectl(['auth', 'can-i', 'delete', 'pods'], { kubeconfig: bob });
  t.same([r.code, r.stdout], [1, 'no\n'], 'auth can-i answers for the user');

  const before = s.received.length;
  r = await kubectl(['get', 'pods', '--as', 'bob'], { kubeconfig: imp });
  ok(t, r, 'imp acts as bob');
  const acted = s.received.slice(before).find((q) => q.path.startsWith('/api/v1/namespaces/default/pods'));
  t.equal(acted?.headers['impersonate-user'], 'bob', 'the Impersonate-User header is recorded');
  t.same([acted?.authenticatedUser, acted?.user, acted?.groups], ['imp', 'bob', ['system:authenticated']], 'and the effective user');
  r = await kubectl(['get', 'configmaps', '--as', 'bob'], { kubeconfig: imp });
  t.match(r.stderr, /User "bob" cannot list resource "configmaps"/, 'authorized as the impersonated user');
  r = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods', '--as', 'alice'], { kubeconfig: imp });
  t.equal(
    r.stderr,
    'Error from server (Forbidden): users "alice" is forbidden: User "imp" cannot impersonate resource "users" in API group "" at the cluster scope\n',
  );
  r = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods', '--as', 'bob', '--as-group', 'admins'], { kubeconfig: imp });
  t.match(r.stderr, /groups "admins" is forbidden: User "imp" cannot impersonate resource "groups" in API group "" at the cluster scope/);
  r = await kubectl(['auth', 'whoami', '--as', 'bob', '--as-group', 'admins'], { kubeconfig: kc(s) });
  t.match(r.stdout, /Username\s+bob\nGroups\s+\[admins system:authenticated\]/, 'a master may impersonate anyone');

  const certKc = writeKubeconfig(dir, { server: s.url, ca: s.ca, clientCert: carol.cert, clientKey: carol.key });
  r = await kubectl(['get', 'configmaps'], { kubeconfig: certKc });
  ok(t, r, 'a client certificate authenticates');
  const byCert = s.received[s.received.length - 1];
  t.same([byCert.user, byCert.groups], ['carol', ['devs', 'system:authenticated']], 'CN is the user, O the groups');
});

t.test('paged lists and big lists', async (t) => {
  const s = await cluster(t);
  const k = kc(s);
  s.objects.seedConfigMaps('bulk', 12, 100);
  const before = s.received.length;
  const r = await kubectl(['get', 'configmaps', '-n', 'bulk', '--chunk-size=5', '-o', 'name'], { kubeconfig: k });
  ok(t, r, 'chunked list');
  t.equal(r.stdout.trim().split('\n').length, 12);
  const pages = s.received.slice(before).filter((q) => q.path.startsWith('/api/v1/namespaces/bulk/configmaps'));
  t.equal(pages.length, 3, 'three pages of five');
  t.ok(
    pages.slice(1).every((q) => q.path.includes('continue=')),
    'followed the continue tokens',
  );
  const first = (await raw(s, 'GET', '/api/v1/namespaces/bulk/configmaps?limit=5')).json() as { metadata: { continue?: string; remainingItemCount?: number } };
  t.equal(first.metadata.remainingItemCount, 7);
  t.ok(first.metadata.continue);
  const filtered = (await raw(s, 'GET', '/api/v1/namespaces/bulk/configmaps?fieldSelector=metadata.name%3Dbulk-00003')).json() as { items: unknown[] };
  t.equal(filtered.items.length, 1, 'fieldSelector metadata.name');

  s.objects.seedConfigMaps('big', 100, 4096);
  const big = await raw(s, 'GET', '/api/v1/namespaces/big/configmaps', { headers: { 'accept-encoding': 'gzip' } });
  t.equal(big.headers['content-encoding'], 'gzip', 'large responses are gzipped like the real server');
  t.equal((big.json().items as unknown[]).length, 100);
});

t.test('several kubectl versions through the dispatcher', async (t) => {
  for (const minor of ['27', '29', '33']) {
    const s = await cluster(t, { minor });
    s.objects.put(pod('v'));
    const r = await kubectl(['get', 'pods'], { kubeconfig: kc(s) });
    ok(t, r, `get pods against minor ${minor}`);
    t.match(r.stdout, /^v\s+1\/1\s+Running\s+0\s/m);
    const ua = s.received.find((q) => q.path.startsWith('/api/v1/namespaces/default/pods'))?.headers['user-agent'];
    t.match(String(ua), new RegExp(`^kubectl/v1\\.${minor}\\.`), `kubectl 1.${minor} was the client`);
    // kubectl <= 1.28 needs /openapi/v2 (protobuf) to apply at all.
    const applied = await kubectl(['apply', '-f', '-'], {
      kubeconfig: kc(s),
      input: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ap\ndata:\n  a: "1"\n',
    });
    ok(t, applied, `apply against minor ${minor}`);
  }
});

t.test('exec/attach/portforward go to the upgrade hook', async (t) => {
  const s = await cluster(t, { streams: false });
  const k = kc(s);
  s.objects.put(pod('sh', ['main', 'side']));
  let r = await kubectl(['exec', 'sh', '-c', 'main', '--', 'true'], { kubeconfig: k });
  t.equal(r.code, 1, 'no handler: refused');
  t.match(r.stderr, /exec is not implemented by this test API server/);
  const plain = await raw(s, 'POST', '/api/v1/namespaces/default/pods/sh/exec?command=true&container=main');
  t.same([plain.status, plain.json().message], [400, 'Upgrade request required'], 'a plain request is a 400');

  const calls: UpgradeRequest[] = [];
  s.upgradeHandler = (u) => {
    calls.push(u);
    u.record.status = 403;
    rejectUpgrade(u.socket, kubeStatus(403, 'Forbidden', 'the hook said no'));
    return true;
  };
  r = await kubectl(['exec', 'sh', '-c', 'side', '--', 'echo', 'hi'], { kubeconfig: k });
  t.equal(r.code, 1);
  t.match(r.stderr, /the hook said no/);
  t.ok(calls.length >= 1, 'the hook ran');
  t.same([calls[0].subresource, calls[0].container, calls[0].user, calls[0].query.getAll('command')], ['exec', 'side', 'admin', ['echo', 'hi']]);
  r = await kubectl(['exec', 'sh', '--', 'true'], { kubeconfig: k });
  t.match(r.stderr, /Defaulted container "main"/, 'kubectl picks the first container itself');
  const ambiguous = await raw(s, 'GET', '/api/v1/namespaces/default/pods/sh/exec?command=true', {
    headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
  });
  t.same([ambiguous.status, ambiguous.json().message], [400, 'a container name must be specified for pod sh, choose one of: [main side]']);
});

/** A long-lived GET whose response lines are collected as they arrive. */
function openStream(
  s: FakeApiServer,
  path: string,
): { lines: string[]; ended: Promise<void>; waitFor: (n: number, ms?: number) => Promise<void>; abort: () => void } {
  const lines: string[] = [];
  let partial = '';
  let resolveEnded: () => void = () => undefined;
  const ended = new Promise<void>((r) => (resolveEnded = r));
  const req = request(`${s.url}${path}`, { ca: s.ca, headers: { authorization: 'Bearer admin-token' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      const parts = (partial + c).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
    });
    res.on('end', resolveEnded);
    res.on('error', resolveEnded);
    res.on('close', resolveEnded);
  });
  req.on('error', resolveEnded);
  req.end();
  const waitFor = async (n: number, ms = 3000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (lines.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} lines, got ${lines.length}: ${lines.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { lines, ended, waitFor, abort: () => req.destroy() };
}

t.test('deletecollection, selector transitions, impersonated extras, pod states', async (t) => {
  const s = await cluster(t, {
    users: [
      { token: 'admin-token', user: 'admin', groups: ['system:masters'] },
      { token: 'bob-token', user: 'bob' },
    ],
  });
  for (const [name, app] of [
    ['c1', 'x'],
    ['c2', 'x'],
    ['c3', 'y'],
  ]) {
    s.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels: { app } } });
  }
  const w = openStream(s, '/api/v1/namespaces/default/configmaps?watch=true&labelSelector=app%3Dx');
  await w.waitFor(2);
  t.same(
    w.lines.map((l) => (JSON.parse(l) as { type: string; object: { metadata: { name: string } } }).object.metadata.name),
    ['c1', 'c2'],
    'initial ADDED for matches only',
  );
  s.objects.update('configmaps', 'default', 'c1', (o) => (o.metadata.labels = { app: 'y' }));
  s.objects.update('configmaps', 'default', 'c3', (o) => (o.metadata.labels = { app: 'x' }));
  await w.waitFor(4);
  const ev = w.lines.slice(2).map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
  t.same(
    ev.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['DELETED c1', 'ADDED c3'],
    'leaving and entering the selector',
  );
  w.abort();

  const dc = await raw(s, 'DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=app%3Dx');
  t.same(
    [dc.json().kind, (dc.json().items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name)],
    ['ConfigMapList', ['c2', 'c3']],
    'deletecollection answers the deleted items',
  );
  t.same(
    s.objects.list('configmaps', 'default').map((o) => o.metadata.name),
    ['c1'],
  );

  const who = await raw(s, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    body: '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
    headers: { 'content-type': 'application/json', 'impersonate-user': 'dana', 'impersonate-uid': 'u-1', 'impersonate-extra-scopes': 'read' },
  });
  t.same((who.json().status as { userInfo: unknown }).userInfo, {
    username: 'dana',
    uid: 'u-1',
    groups: ['system:authenticated'],
    extra: { scopes: ['read'] },
  });
  const noUser = await raw(s, 'GET', '/api', { headers: { 'impersonate-group': 'g' } });
  t.same([noUser.status, noUser.json().message], [500, 'Internal error occurred: requested [group g] without impersonating a user']);
  const extraDenied = await raw(s, 'GET', '/api', { token: 'bob-token', headers: { 'impersonate-user': 'bob', 'impersonate-extra-scopes': 'all' } });
  t.equal(extraDenied.json().message, 'users "bob" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope');

  // A pod the test puts with its own status keeps it: kubectl shows it, logs refuse it like a kubelet.
  s.objects.put({
    ...pod('pending'),
    status: {
      phase: 'Pending',
      containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'busybox:1.36', state: { waiting: { reason: 'ContainerCreating' } } }],
    },
  });
  const k = kc(s);
  let r = await kubectl(['get', 'pod', 'pending'], { kubeconfig: k });
  t.match(r.stdout, /^pending\s+0\/1\s+ContainerCreating\s+0\s/m);
  r = await kubectl(['logs', 'pending'], { kubeconfig: k });
  t.match(r.stderr, /container "app" in pod "pending" is waiting to start: ContainerCreating/);
});

t.test('close() ends open watches and log follows without hanging', async (t) => {
  const s = await startFakeApiServer();
  s.objects.put(pod('f'));
  const watch = openStream(s, '/api/v1/namespaces/default/pods?watch=true');
  const follow = openStream(s, '/api/v1/namespaces/default/pods/f/log?follow=true');
  await watch.waitFor(1);
  for (let i = 0; i < 100 && s.logs.followers('default', 'f', 'app') === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(s.logs.followers('default', 'f', 'app'), 1);
  const t0 = Date.now();
  await s.close();
  await Promise.all([watch.ended, follow.ended]);
  t.ok(Date.now() - t0 < 2000, `closed in ${Date.now() - t0} ms`);
});
