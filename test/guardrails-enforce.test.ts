// The example policy loaded into kubetape, enforced against the real
// kubectl: refusals with kubectl's own error output, Secret values masked
// for everyone outside `sre` (yaml, json, Table, watch) and in what is stored.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, spawnKubectl, writeKubeconfig } from './helpers/kubectl.js';
import { sessionEvents } from './helpers/recordings.js';
import { MASKED_BASE64 } from '../src/mask/mask-secrets.js';
import type { RequestEvent, ResponseEvent } from '../src/model/recording.js';

const SECRET_VALUE = 'hunter2-very-secret';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let h: Harness;
let dev: string;
let sre: string;
const dir = mkdtempSync(join(tmpdir(), 'guardrails-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\n');
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: resolve('examples/policy.yaml') } });
  dev = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dev-token', name: 'dev' });
  sre = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre-token', name: 'sre' });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'scratch' } });
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'prod' },
    spec: { containers: [{ name: 'main', image: 'nginx' }] },
  });
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'default' },
    type: 'Opaque',
    data: { password: b64(SECRET_VALUE), user: b64('app') },
  });
});
t.teardown(() => h.close());

const asDev = (args: string[]) => kubectl(args, { kubeconfig: dev });
const asSre = (args: string[]) => kubectl(args, { kubeconfig: sre });

/** Every stored event, across sessions, as text: what must never hold a secret in clear. */
async function storedText(): Promise<string> {
  let all = '';
  for (const s of await h.kt.store.listSessions()) all += JSON.stringify(await sessionEvents(h.kt.store, s.id));
  return all;
}

async function recordedRequests(): Promise<Array<{ request: RequestEvent; response?: ResponseEvent }>> {
  const out: Array<{ request: RequestEvent; response?: ResponseEvent }> = [];
  for (const s of await h.kt.store.listSessions()) {
    const evs = await sessionEvents(h.kt.store, s.id);
    for (const e of evs)
      if (e.type === 'request') out.push({ request: e, response: evs.find((r): r is ResponseEvent => r.type === 'response' && r.seq === e.seq) });
  }
  return out;
}

t.test('deleting a namespace is refused with the rule message, before the cluster sees it', async (t) => {
  const before = h.api.received.filter((r) => r.method === 'DELETE').length;
  const r = await asSre(['delete', 'namespace', 'scratch']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    'Error from server (Forbidden): deleting namespaces through kubetape is not allowed; use the GitOps repository (kubetape policy rule "no-namespace-deletion")',
  );
  t.equal(h.api.received.filter((r) => r.method === 'DELETE').length, before, 'no DELETE reached the cluster');
  const still = await asSre(['get', 'namespace', 'scratch', '-o', 'name']);
  t.equal(still.stdout.trim(), 'namespace/scratch', 'the namespace is still there');
  const rec = (await recordedRequests()).find((x) => x.request.method === 'DELETE' && x.request.attrs.resource === 'namespaces');
  t.same(rec?.request.policy, { action: 'deny', rule: 'no-namespace-deletion', index: 1 }, 'the decision and rule are recorded with the request');
  t.equal(rec?.response?.status, 403);
});

t.test('deleting a CRD is refused', async (t) => {
  // The fake cluster serves no CRDs; --raw sends the DELETE a real cluster would get.
  const r = await asSre(['delete', '--raw', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /Error from server \(Forbidden\): deleting CustomResourceDefinitions removes every object of that type; not allowed through kubetape \(kubetape policy rule "no-crd-deletion"\)/,
  );
});

t.test('nodes/proxy (the kubelet API) is refused, for sre too', async (t) => {
  const before = h.api.received.filter((r) => r.path.includes('/proxy/')).length;
  const r = await asSre(['get', '--raw', '/api/v1/nodes/node-1/proxy/stats/summary']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /nodes\/proxy reaches the kubelet API directly \(exec into any pod on the node\); not allowed through kubetape \(kubetape policy rule "no-node-proxy"\)/,
  );
  t.equal(h.api.received.filter((r) => r.path.includes('/proxy/')).length, before, 'nothing reached the cluster');
});

t.test('delete in prod needs approval: refused with an approval id and how to ask for it', async (t) => {
  const r = await asSre(['delete', 'pod', 'web-0', '-n', 'prod']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /Error from server \(Forbidden\): delete in prod; delete pods "web-0" in namespace prod requires approval \(kubetape policy rule "prod-delete-needs-approval"\), approval id ap-[0-9a-f]+: ask for it with: kubetape approvals request ap-[0-9a-f]+/,
  );
  const still = await asSre(['get', 'pod', 'web-0', '-n', 'prod', '-o', 'name']);
  t.equal(still.stdout.trim(), 'pod/web-0', 'the pod is still there');
});

t.test('exec into prod is refused before the upstream dial', async (t) => {
  const streamsBefore = h.api.streams.length;
  const r = await asSre(['exec', 'web-0', '-n', 'prod', '--', 'ls']);
  t.not(r.code, 0);
  t.match(r.stderr, /exec into prod; exec into prod\/web-0 requires approval \(kubetape policy rule "prod-exec-needs-approval"\)/);
  t.equal(h.api.streams.length, streamsBefore, 'no exec session started in the cluster');
});

t.test('Secret values are masked for dev in yaml, json and Table; sre sees them', async (t) => {
  const yaml = await asDev(['get', 'secret', 'db', '-o', 'yaml']);
  t.equal(yaml.code, 0, yaml.stderr);
  t.match(yaml.stdout, `password: ${MASKED_BASE64}`);
  t.match(yaml.stdout, `user: ${MASKED_BASE64}`);
  t.notMatch(yaml.stdout, b64(SECRET_VALUE));

  const json = await asDev(['get', 'secrets', '-o', 'json']);
  t.equal(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as { items: Array<{ metadata: { name: string }; data: Record<string, string> }> };
  const db = list.items.find((i) => i.metadata.name === 'db');
  t.same(db?.data, { password: MASKED_BASE64, user: MASKED_BASE64 }, 'keys kept, values masked');

  const table = await asDev(['get', 'secrets']);
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /^NAME\s+TYPE\s+DATA\s+AGE/m);
  t.match(table.stdout, /db\s+Opaque\s+2/);

  const described = await asDev(['describe', 'secret', 'db']);
  t.equal(described.code, 0, `typed clients still decode the masked object: ${described.stderr}`);

  const clear = await asSre(['get', 'secret', 'db', '-o', 'yaml']);
  t.equal(clear.code, 0, clear.stderr);
  t.match(clear.stdout, `password: ${b64(SECRET_VALUE)}`, 'the exempt group sees the value');

  const stored = await storedText();
  t.notMatch(stored, b64(SECRET_VALUE), 'the recording never holds the value, not even for sre');
});

t.test('a watch on secrets stays streaming and masks every event', async (t) => {
  const w = spawnKubectl(['get', 'secrets', '--watch', '-o', 'json'], { kubeconfig: dev, timeoutMs: 20_000 });
  const seen: string[] = [];
  const it = w.lines[Symbol.asyncIterator]();
  const until = async (pred: (all: string) => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!pred(seen.join('\n'))) {
      if (Date.now() > deadline) throw new Error(`timed out; saw ${seen.join('\n')}`);
      const n = await it.next();
      if (n.done) break;
      seen.push(n.value);
    }
  };
  await until((s) => s.includes('"name": "db"'));
  h.api.objects.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'live', namespace: 'default' }, data: { token: b64('live-value-xyz') } });
  await until((s) => s.includes('"name": "live"'));
  w.child.kill('SIGTERM');
  await w.done.catch(() => undefined);
  const out = seen.join('\n');
  t.notMatch(out, b64('live-value-xyz'), 'the event added while watching is masked');
  t.notMatch(out, b64(SECRET_VALUE));
  t.match(out, `"token": "${MASKED_BASE64}"`);
  t.notMatch(await storedText(), b64('live-value-xyz'));
});

t.test('a gzipped secret list (over 128 KiB) is decoded, masked and re-sent whole', async (t) => {
  for (let i = 0; i < 40; i++) {
    h.api.objects.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `big-${i}`, namespace: 'bulk' },
      data: { blob: b64(`big-secret-${i}-` + 'x'.repeat(4000)) },
    });
  }
  const before = h.api.received.length;
  const r = await asDev(['get', 'secrets', '-n', 'bulk', '-o', 'json']);
  t.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { items: Array<{ data: Record<string, string> }> };
  t.equal(list.items.length, 40);
  t.ok(
    list.items.every((i) => i.data['blob'] === MASKED_BASE64),
    'every value masked',
  );
  t.ok(
    h.api.received.slice(before).some((q) => /gzip/.test(String(q.headers['accept-encoding']))),
    'the cluster was offered gzip',
  );
  t.notMatch(await storedText(), b64('big-secret-7-'));
});

/** A GET as dana with a chosen Accept, the way a non-kubectl client would send it. */
function rawGet(path: string, accept: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(path, h.kt.url);
    const req = httpsRequest(u, { ca: h.kt.ca, headers: { Authorization: 'Bearer dev-token', Accept: accept } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a client that also accepts JSON is asked for JSON upstream and gets masked values', async (t) => {
  const before = h.api.received.length;
  const r = await rawGet('/api/v1/namespaces/default/secrets/db', 'application/yaml, application/vnd.kubernetes.protobuf, application/json');
  t.equal(r.status, 200, r.body);
  t.match(r.contentType, /application\/json/);
  t.same((JSON.parse(r.body) as { data: Record<string, string> }).data, { password: MASKED_BASE64, user: MASKED_BASE64 });
  const upstream = h.api.received.slice(before).find((q) => q.path.includes('/secrets/db'));
  t.equal(upstream?.headers['accept'], 'application/json', 'only the JSON form was asked of the cluster');

  const yamlOnly = await rawGet('/api/v1/namespaces/default/secrets/db', 'application/yaml');
  t.equal(yamlOnly.status, 406, 'a client that takes only an unmaskable form is refused (onUnmaskable: refuse)');
  t.match(yamlOnly.body, /ask for application\/json/);
  t.notMatch(yamlOnly.body, b64(SECRET_VALUE));
  t.notMatch(await storedText(), b64(SECRET_VALUE));
});
