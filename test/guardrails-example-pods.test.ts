// The example policy's pod rules, tried the ways around them through a
// running kubetape: evicting a pod (a POST to pods/NAME/eviction, as kubectl
// drain sends) and deleting the collection. Refusals are decided on the pod's
// labels as read from the cluster, and nothing refused reaches it.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { httpsCall } from './helpers/https-call.js';

let h: Harness;
const dir = mkdtempSync(join(tmpdir(), 'guardrails-pods-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const pod = (name: string, namespace: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels },
  spec: { containers: [{ name: 'main', image: 'nginx' }] },
});

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\n');
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: resolve('examples/policy.yaml') } });
  for (const name of ['dev', 'prod']) h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  h.api.objects.put(pod('ledger-0', 'dev', { app: 'ledger', protected: 'true' }));
  h.api.objects.put(pod('web-0', 'dev', { app: 'web' }));
  h.api.objects.put(pod('web-0', 'prod', { app: 'web' }));
});
t.teardown(() => h.close());

const send = (method: string, path: string, body?: unknown) =>
  httpsCall(`${h.kt.url}${path}`, {
    ca: h.kt.ca,
    method,
    headers: { authorization: 'Bearer dev-token', ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
const eviction = (namespace: string, name: string) => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } });
const reached = (method: string, path: string) => h.api.received.filter((r) => r.method === method && r.path.split('?')[0] === path).length;

t.test('evicting a protected pod is refused like deleting it', async (t) => {
  const path = '/api/v1/namespaces/dev/pods/ledger-0/eviction';
  const r = await send('POST', path, eviction('dev', 'ledger-0'));
  t.equal(r.status, 403, r.body);
  t.match(r.body, /this pod is protected; change it through the GitOps repository \(kubetape policy rule \\"protected-pods-eviction\\"\)/);
  t.equal(reached('POST', path), 0, 'the eviction never reached the cluster');
});

t.test('evicting a pod in prod needs approval, as deleting it does', async (t) => {
  const path = '/api/v1/namespaces/prod/pods/web-0/eviction';
  const r = await send('POST', path, eviction('prod', 'web-0'));
  t.equal(r.status, 403, r.body);
  t.match(r.body, /evicting a pod in prod deletes it; .*requires approval \(kubetape policy rule \\"prod-eviction-needs-approval\\"\)/);
  t.equal(reached('POST', path), 0, 'the eviction never reached the cluster');
});

t.test('deleting every pod of a namespace is refused unless the selector leaves protected pods out', async (t) => {
  const path = '/api/v1/namespaces/dev/pods';
  const all = await send('DELETE', path);
  t.equal(all.status, 403, all.body);
  t.match(all.body, /kubetape policy rule \\"protected-pods\\"/);
  const some = await send('DELETE', `${path}?labelSelector=app%3Dweb`);
  t.equal(some.status, 403, 'a selector that does not exclude protected pods is refused too');
  t.equal(reached('DELETE', path), 0, 'neither reached the cluster');
  const safe = await send('DELETE', `${path}?labelSelector=protected%21%3Dtrue`);
  t.not(safe.status, 403, `a selector that leaves protected pods out goes through (${safe.status})`);
  t.equal(reached('DELETE', path), 1, 'and reaches the cluster');
});

t.test('an unprotected pod outside prod is evicted as before', async (t) => {
  const path = '/api/v1/namespaces/dev/pods/web-0/eviction';
  const r = await send('POST', path, eviction('dev', 'web-0'));
  t.not(r.status, 403, `not refused by kubetape (${r.status} ${r.body.slice(0, 120)})`);
  t.equal(reached('POST', path), 1, 'the eviction reached the cluster');
});
