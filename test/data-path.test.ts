// kubectl through kubetape to the fake cluster: every REST verb kubectl uses,
// and what kubetape recorded for each.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { userInfo } from 'node:os';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, spawnKubectl } from './helpers/kubectl.js';
import { findSession, settledExchanges, chunkText, type RecordedExchange } from './helpers/recordings.js';
import { bodyText } from '../src/cli/sessions-command.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

const k = (args: string[], o: { input?: string } = {}) => kubectl(args, { kubeconfig: h.kubeconfig, ...o });

async function sessionFor(command: string, extra: (xs: RecordedExchange[]) => boolean = () => true) {
  const s = await findSession(h.kt.store, (x) => x.command === command);
  const xs = await settledExchanges(h.kt.store, s.id);
  t.ok(extra(xs), `recording of "${command}" has what it should`);
  return { s, xs };
}

t.test('get pods prints the Table and the list is recorded with its attributes', async (t) => {
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'default' },
    spec: { containers: [{ name: 'web', image: 'nginx' }] },
  });
  const r = await k(['get', 'pods']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/m);
  t.match(r.stdout, /web-0/);
  const { s, xs } = await sessionFor('kubectl get');
  t.equal(s.user, userInfo().username, 'the local token belongs to the OS user');
  t.equal(s.cluster, 'fake');
  const list = xs.find((x) => x.request.attrs.resource === 'pods');
  t.ok(list, 'the pod list was recorded');
  t.match(list!.request.attrs, { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'default', name: '' });
  t.equal(list!.response!.status, 200);
  t.ok(list!.response!.durationMs >= 0);
  t.match(bodyText(list!.response!.body!), /"kind":"Table"/);
  t.match(list!.response!.contentType, /as=Table/);
  t.ok(list!.response!.bytesOut > 0);
});

t.test('upstream sees kubetape credential, never the caller token; impersonation is refused and recorded', async (t) => {
  let before = h.api.received.length;
  const r = await k(['get', 'pods', '-o', 'name']);
  t.equal(r.code, 0, r.stderr);
  const arrived = h.api.received.slice(before);
  t.ok(arrived.length > 0);
  for (const rq of arrived) {
    t.equal(rq.headers['authorization'], 'Bearer admin-token', `${rq.path} carried kubetape's credential`);
    t.equal(rq.user, 'admin');
  }

  before = h.api.received.length;
  const as = await k(['get', 'pods', '--as', 'cluster-admin', '--as-group', 'system:masters']);
  t.equal(as.code, 1);
  t.match(as.stderr, /kubetape does not forward impersonation headers \[[^\]]*Impersonate-User[^\]]*\]; requests run as the authenticated caller/);
  const raw = await rawGet('/api/v1/namespaces/default/pods', `Bearer ${h.kt.localToken}`, h.kt.url, { 'Impersonate-User': 'admin' });
  t.equal(raw.status, 403);
  t.match(JSON.parse(raw.body), { kind: 'Status', reason: 'Forbidden', code: 403 });
  t.equal(h.api.received.length, before, 'nothing reached the cluster');
  t.notOk(
    h.api.received.some((q) => Object.keys(q.headers).some((n) => n.startsWith('impersonate-'))),
    'no Impersonate-* header ever arrived',
  );

  let found = 0;
  for (const ss of await h.kt.store.listSessions()) {
    for (const x of await settledExchanges(h.kt.store, ss.id)) {
      t.notOk(JSON.stringify(x).includes(h.kt.localToken!), 'the caller token is not in the recording');
      if (x.request.headers['impersonate-user'] === 'cluster-admin' || x.request.headers['impersonate-user'] === 'admin') {
        found++;
        t.equal(x.response!.status, 403);
        t.match(x.response!.error, /does not forward impersonation/);
      }
    }
  }
  t.ok(found >= 2, `every impersonation attempt is in the recording (${found})`);
});

t.test('unknown and missing tokens get 401 Status objects; nothing is forwarded', async (t) => {
  const before = h.api.received.length;
  const bad = join(h.dir, 'bad.kubeconfig');
  writeFileSync(bad, (await import('node:fs')).readFileSync(h.kubeconfig, 'utf8').replace(h.kt.localToken!, 'not-a-token'));
  const r = await kubectl(['get', 'pods'], { kubeconfig: bad });
  t.not(r.code, 0);
  t.match(r.stderr, /Unauthorized|must be logged in/);
  const raw = await rawGet('/api/v1/namespaces/default/pods', undefined);
  t.equal(raw.status, 401);
  t.match(JSON.parse(raw.body), { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
  t.match(JSON.parse(raw.body).message, /no bearer token/);
  const raw2 = await rawGet('/api/v1/namespaces/default/pods', 'Bearer wrong');
  t.equal(raw2.status, 401);
  t.match(JSON.parse(raw2.body).message, /not known/);
  t.notMatch(raw2.body, /wrong/, 'the presented token is not echoed');
  t.equal(h.api.received.length, before, 'no request reached the cluster');
});

t.test('apply client-side creates then patches; server-side apply; both bodies recorded', async (t) => {
  const file = join(h.dir, 'cm.yaml');
  writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: default\ndata:\n  color: blue\n');
  let r = await k(['apply', '-f', file]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /configmap\/app-config created/);
  writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: default\ndata:\n  color: green\n');
  r = await k(['apply', '-f', file]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /configmap\/app-config configured/);
  t.equal((h.api.objects.get('configmaps', 'default', 'app-config') as { data: { color: string } }).data.color, 'green');

  const applies = (await h.kt.store.listSessions()).filter((s) => s.command === 'kubectl apply');
  t.equal(applies.length, 2, 'each kubectl apply is its own session');
  const all = (await Promise.all(applies.map((s) => settledExchanges(h.kt.store, s.id)))).flat();
  const create = all.find((x) => x.request.attrs.verb === 'create' && x.request.attrs.resource === 'configmaps');
  const patch = all.find((x) => x.request.attrs.verb === 'patch' && x.request.attrs.resource === 'configmaps');
  t.ok(create && patch, 'create and patch recorded');
  t.match(bodyText(create!.request.body!), /"color":"blue"/);
  t.equal(create!.response!.status, 201);
  t.match(patch!.request.headers['content-type'], /strategic-merge-patch/);
  t.match(bodyText(patch!.request.body!), /green/);

  writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-config\n  namespace: default\ndata:\n  mode: server-side\n');
  r = await k(['apply', '--server-side', '-f', file]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /serverside-applied/);
  const ssa = h.api.received.find((q) => q.method === 'PATCH' && q.path.includes('ssa-config'));
  t.match(ssa?.headers['content-type'], /apply-patch\+yaml/);
});

t.test('patch, delete and get --raw go through and are recorded with their verbs', async (t) => {
  let r = await k(['patch', 'configmap', 'app-config', '--type', 'merge', '-p', '{"data":{"size":"xl"}}']);
  t.equal(r.code, 0, r.stderr);
  r = await k(['get', '--raw', '/api/v1/namespaces/default/configmaps/app-config']);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).data.size, 'xl');
  r = await k(['delete', 'configmap', 'app-config']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /deleted/);
  r = await k(['get', 'configmap', 'app-config']);
  t.equal(r.code, 1);
  t.match(r.stderr, /Error from server \(NotFound\): configmaps "app-config" not found/);
  const del = await sessionFor('kubectl delete');
  t.ok(del.xs.some((x) => x.request.attrs.verb === 'delete' && x.request.attrs.name === 'app-config' && x.response!.status === 200));
  const raw = await sessionFor('kubectl get', (xs) => xs.length > 0);
  void raw;
});

t.test('secrets are never stored in clear', async (t) => {
  const r = await k(['create', 'secret', 'generic', 'db-pass', '--from-literal=password=hunter2-very-secret']);
  t.equal(r.code, 0, r.stderr);
  const r2 = await k(['get', 'secret', 'db-pass', '-o', 'json']);
  t.equal(r2.code, 0, r2.stderr);
  t.equal(Buffer.from(JSON.parse(r2.stdout).data.password, 'base64').toString(), 'hunter2-very-secret', 'the caller still gets the secret');
  const secretB64 = Buffer.from('hunter2-very-secret').toString('base64');
  for (const s of await h.kt.store.listSessions()) {
    for (const x of await settledExchanges(h.kt.store, s.id)) {
      const text = JSON.stringify(x);
      t.notOk(text.includes('hunter2') || text.includes(secretB64), `session ${s.id} seq ${x.request.seq} holds no secret value`);
      if (x.request.attrs.resource === 'secrets' && x.response?.body) t.equal(x.response.body.redacted, 'secret');
    }
  }
});

t.test('a watch streams events as objects change and the stream is recorded as it flows', async (t) => {
  const w = spawnKubectl(['get', 'configmaps', '-w', '--output-watch-events'], { kubeconfig: h.kubeconfig });
  const lines: string[] = [];
  const it = w.lines[Symbol.asyncIterator]();
  const next = async () => {
    const r = await Promise.race([it.next(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no watch line within 10s')), 10_000))]);
    if (!r.done) lines.push(r.value);
    return r.value as string;
  };
  // The initial list comes first (header + existing objects); then changes arrive live.
  await next();
  await new Promise((r) => setTimeout(r, 500));
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live-1', namespace: 'default' }, data: { a: '1' } });
  let line = '';
  while (!/live-1/.test(line)) line = await next();
  t.match(line, /ADDED/);
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live-1', namespace: 'default' }, data: { a: '2', b: '3' } });
  line = await next();
  t.match(line, /MODIFIED\s+live-1/);
  w.child.kill('SIGINT');
  await w.done;
  const s = await findSession(h.kt.store, (x) => x.command === 'kubectl get' && x.verbs.includes('watch'));
  const xs = await settledExchanges(h.kt.store, s.id);
  const watch = xs.find((x) => x.request.attrs.verb === 'watch');
  t.ok(watch, 'the watch was recorded');
  t.equal(watch!.request.streaming, true);
  t.ok(watch!.chunks.length >= 2, 'watch events recorded as separate chunks');
  t.match(chunkText(watch!), /live-1/);
  t.ok(watch!.chunks[0].offsetMs <= watch!.chunks[watch!.chunks.length - 1].offsetMs, 'chunks carry increasing offsets');
  t.equal(watch!.response!.status, 200);
});

t.test('logs -f streams line by line and ends when the stream ends', async (t) => {
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'logger', namespace: 'default' },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  });
  h.api.logs.set('default', 'logger', 'app', ['first line']);
  const f = spawnKubectl(['logs', '-f', 'logger'], { kubeconfig: h.kubeconfig });
  const it = f.lines[Symbol.asyncIterator]();
  const next = async () =>
    (await Promise.race([it.next(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no log line within 10s')), 10_000))])).value as string;
  t.equal(await next(), 'first line');
  h.api.logs.append('default', 'logger', 'app', 'second line');
  t.equal(await next(), 'second line', 'an appended line arrives while the stream is open');
  h.api.logs.append('default', 'logger', 'app', 'third line');
  t.equal(await next(), 'third line');
  h.api.logs.end('default', 'logger', 'app');
  const done = await f.done;
  t.equal(done.code, 0, 'kubectl exits when the log stream ends');
  const s = await findSession(h.kt.store, (x) => x.command === 'kubectl logs');
  const xs = await settledExchanges(h.kt.store, s.id);
  const log = xs.find((x) => x.request.attrs.subresource === 'log');
  t.ok(log);
  t.match(log!.request.attrs, { verb: 'get', resource: 'pods', name: 'logger', subresource: 'log' });
  t.equal(chunkText(log!), 'first line\nsecond line\nthird line\n');
  t.ok(log!.chunks.length >= 3, 'each line was recorded as it came');
});

t.test('a 20 MB list passes through whole; the recording keeps the configured part', async (t) => {
  h.api.objects.seedConfigMaps('bulk', 2000, 10_000);
  const r = await kubectl(['get', 'configmaps', '-n', 'bulk', '-o', 'json', '--chunk-size=0'], { kubeconfig: h.kubeconfig, timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).items.length, 2000);
  const s = await findSession(h.kt.store, (x) => x.namespaces.includes('bulk'));
  const xs = await settledExchanges(h.kt.store, s.id);
  const list = xs.find((x) => x.request.attrs.verb === 'list' && x.request.attrs.namespace === 'bulk');
  t.ok(list!.response!.bytesOut > 1_000_000, 'the byte count covers the whole body');
  t.equal(list!.response!.body!.truncated, true);
  t.ok(list!.response!.body!.size > list!.response!.body!.data.length);
  t.ok(Buffer.from(list!.response!.body!.data, list!.response!.body!.encoding === 'base64' ? 'base64' : 'utf8').length <= 1024 * 1024);
});

t.test('admin listener answers health, readiness and metrics; the API port forwards /readyz', async (t) => {
  const health = await fetch(`${h.kt.adminUrl}/healthz`);
  t.equal(health.status, 200);
  const ready = await fetch(`${h.kt.adminUrl}/readyz`);
  t.equal(ready.status, 200, await ready.clone().text());
  const metrics = await (await fetch(`${h.kt.adminUrl}/metrics`)).text();
  t.match(metrics, /kubetape_requests_total\{verb="list",code="200"\} \d+/);
  t.match(metrics, /kubetape_authentication_failures_total \d+/);
  const r = await k(['get', '--raw', '/readyz']);
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), 'ok');
  t.ok(
    h.api.received.some((q) => q.path.startsWith('/readyz')),
    "/readyz on the API port reached the cluster's own",
  );
});

t.test('upstream down: a clear Status, no hang', async (t) => {
  const h2 = await startHarness();
  t.teardown(() => h2.close());
  await h2.api.close();
  const started = Date.now();
  const r = await kubectl(['get', 'pods', '--request-timeout=20s'], { kubeconfig: h2.kubeconfig });
  t.not(r.code, 0);
  t.ok(Date.now() - started < 15_000, 'kubectl got its answer quickly');
  t.match(r.stderr, /could not reach the upstream cluster/);
  const raw = await rawGet('/api/v1/namespaces/default/pods', `Bearer ${h2.kt.localToken}`, h2.kt.url, {}, h2.kt.ca);
  t.equal(raw.status, 502);
  t.match(JSON.parse(raw.body), { kind: 'Status', code: 502, reason: 'BadGateway' });
  t.match(JSON.parse(raw.body).message, /connection refused/);
});

/** `path` is sent verbatim (node's request does not normalise it), as any client could send it. */
function rawGet(
  path: string,
  authorization: string | undefined,
  base = h.kt.url,
  extra: Record<string, string> = {},
  ca = h.kt.ca,
  method = 'GET',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = request({ host: u.hostname, port: u.port, path, method, ca, headers: { ...extra, ...(authorization ? { authorization } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('paths the API server would read differently are refused before anything is decided or forwarded', async (t) => {
  const send = (path: string, method = 'GET', headers: Record<string, string> = {}) =>
    rawGet(path, `Bearer ${h.kt.localToken}`, h.kt.url, headers, h.kt.ca, method);
  const before = h.api.received.length;
  const cases: Array<[string, RegExp]> = [
    ['/api/v1/namespaces/default%2Fpods%2Fweb', /encoded slash/],
    ['/api/v1/namespaces/kube-system/../default/pods', /\. or \.\. segment/],
    ['/api/v1/namespaces/default/pods/%2e%2e/x', /\. or \.\. segment/],
    ['/api/v1//namespaces/default/pods', /empty segment/],
  ];
  for (const [path, why] of cases) {
    const r = await send(path, 'DELETE');
    t.equal(r.status, 400, path);
    const status = JSON.parse(r.body) as { kind: string; reason: string; message: string };
    t.equal(status.kind, 'Status');
    t.equal(status.reason, 'BadRequest');
    t.match(status.message, why);
  }
  const upgraded = await send('/api/v1/namespaces/default%2Fpods%2Fweb/exec?command=sh&stdout=true', 'GET', {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  });
  t.equal(upgraded.status, 400, 'upgrades are checked too');
  t.match(upgraded.body, /encoded slash/);
  t.equal(h.api.received.length, before, 'none of them reached the cluster');

  const fine = await send('/apis/');
  t.equal(fine.status, 200, 'one trailing slash is fine');
});
