// Guardrail rules that match on the target object's labels, enforced
// against the real kubectl: labels read from the cluster (with the caller's
// upstream credential) for named requests and streams, from the body for
// creates, both for patches; collections decided from their own selector;
// fail closed when the lookup fails; no lookup unless a labels rule is reached.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { sessionEvents } from './helpers/recordings.js';
import { startKubetape, type RunningKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { parsePolicyText, PolicyError } from '../src/authorize/policy/load.js';
import { evaluatePolicy } from '../src/authorize/policy/evaluate.js';
import type { PolicyRecord, RequestEvent, ResponseEvent } from '../src/model/recording.js';
import type { RecordingStore } from '../src/store/store.js';

const POLICY = `rules:
  - name: sre-may-delete-scratch
    match:
      verb: delete
      resource: pods
      group: sre
      labels: {scratch: "true"}
    action: allow
  - name: protected-pods
    match:
      verb: [delete, patch, update]
      resource: pods
      labels: {protected: true}
    action: deny
    message: protected pods are changed through GitOps only
  - name: protected-configmaps
    match:
      verb: create
      resource: configmaps
      labels: "protected=true"
    action: deny
    message: protected configmaps are created through GitOps only
  - name: db-exec-needs-approval
    match:
      resource: pods
      subresource: exec
      labels: "tier in (db,cache)"
    action: require-approval
    message: exec into a database
  - name: no-db-pods-in-inventory
    match:
      verb: [get, list]
      resource: pods
      namespace: inventory
      labels: tier=db
    action: deny
    message: database pods in inventory are not shown
`;

const LOOKUP_AGENT = 'kubetape (policy label lookup)';
const pod = (name: string, namespace: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels },
  spec: { containers: [{ name: 'main', image: 'nginx' }] },
});

let h: Harness;
let limited: RunningKubetape;
let dev: string;
let sre: string;
let devLimited: string;
const dir = mkdtempSync(join(tmpdir(), 'guardrails-labels-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  const tokens = join(dir, 'tokens.csv');
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(tokens, 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\n');
  writeFileSync(policyFile, POLICY);
  h = await startHarness({
    api: {
      users: [
        { token: 'admin-token', user: 'admin', groups: ['system:masters'] },
        // A second kubetape forwards with this credential: it may delete and list pods, not get them.
        { token: 'limited-token', user: 'kt-limited', groups: [] },
      ],
      rbac: [{ users: ['kt-limited'], verbs: ['delete', 'list', 'watch', 'create'], resources: ['pods', 'pods/exec'] }],
    },
    config: { tokenFile: tokens, policyFile },
  });
  dev = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dev-token', name: 'dev' });
  sre = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre-token', name: 'sre' });

  const upstreamLimited = writeKubeconfig(h.dir, { server: h.api.url, ca: h.api.ca, token: 'limited-token', name: 'limited-upstream' });
  limited = await startKubetape(
    resolveConfig(
      {},
      { listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', dataDir: join(h.dir, 'data-limited'), kubeconfig: upstreamLimited, tokenFile: tokens, policyFile },
    ),
    { log: () => undefined },
  );
  devLimited = writeKubeconfig(h.dir, { server: limited.url, ca: limited.ca, token: 'dev-token', name: 'dev-limited' });

  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'inventory' } });
  h.api.objects.put(pod('guarded', 'default', { protected: 'true', app: 'ledger' }));
  h.api.objects.put(pod('plain', 'default', { app: 'ledger' }));
  h.api.objects.put(pod('unlabelled', 'default', {}));
  h.api.objects.put(pod('scratchy', 'default', { protected: 'true', scratch: 'true' }));
  h.api.objects.put(pod('db-0', 'default', { tier: 'db' }));
  h.api.objects.put(pod('web-0', 'default', { tier: 'web' }));
  h.api.objects.put(pod('db-1', 'inventory', { tier: 'db' }));
  h.api.objects.put(pod('web-1', 'inventory', { tier: 'web' }));
});
t.teardown(async () => {
  await limited?.close();
  await h?.close();
});

const asDev = (args: string[], input?: string) => kubectl(args, { kubeconfig: dev, ...(input ? { input } : {}) });
const asSre = (args: string[]) => kubectl(args, { kubeconfig: sre });
const lookups = () => h.api.received.filter((r) => r.headers['user-agent'] === LOOKUP_AGENT);
const exists = (resource: string, ns: string, name: string) => h.api.objects.get(resource, ns, name) !== undefined;

async function recorded(store: RecordingStore, pred: (r: RequestEvent) => boolean): Promise<{ request: RequestEvent; response?: ResponseEvent } | undefined> {
  for (const s of await store.listSessions()) {
    const evs = await sessionEvents(store, s.id);
    for (const e of evs)
      if (e.type === 'request' && pred(e)) return { request: e, response: evs.find((r): r is ResponseEvent => r.type === 'response' && r.seq === e.seq) };
  }
  return undefined;
}

t.test('no lookup happens when no rule with labels is reached', async (t) => {
  const before = lookups().length;
  const r = await asDev(['get', 'configmaps']);
  t.equal(r.code, 0, r.stderr);
  const g = await asDev(['get', 'pod', 'plain', '-o', 'name']);
  t.equal(g.stdout.trim(), 'pod/plain', g.stderr);
  t.equal(lookups().length, before, 'no label lookup reached the cluster');
  const rec = await recorded(h.kt.store, (e) => e.method === 'GET' && e.attrs.name === 'plain');
  t.equal(rec?.request.policy, undefined, 'no rule decided, nothing recorded');
});

t.test('delete of a protected pod is refused; of a plain pod it goes through', async (t) => {
  const before = lookups().length;
  const deletesBefore = h.api.received.filter((q) => q.method === 'DELETE').length;
  const r = await asDev(['delete', 'pod', 'guarded']);
  t.equal(r.code, 1);
  t.match(r.stderr, 'Error from server (Forbidden): protected pods are changed through GitOps only (kubetape policy rule "protected-pods")');
  t.equal(h.api.received.filter((q) => q.method === 'DELETE').length, deletesBefore, 'no DELETE reached the cluster');
  t.ok(exists('pods', 'default', 'guarded'), 'the pod is still there');
  const seen = lookups().slice(before);
  t.equal(seen.length, 1, 'one lookup');
  t.equal(seen[0].path, '/api/v1/namespaces/default/pods/guarded');
  t.equal(seen[0].user, 'admin', 'with the credential kubetape forwards this caller with');
  t.match(String(seen[0].headers['accept']), /as=PartialObjectMetadata/);
  const rec = await recorded(h.kt.store, (e) => e.method === 'DELETE' && e.attrs.name === 'guarded');
  t.same(rec?.request.policy, {
    action: 'deny',
    rule: 'protected-pods',
    index: 2,
    labels: { current: { protected: 'true', app: 'ledger' } },
  } satisfies PolicyRecord);
  t.equal(rec?.response?.status, 403);

  const ok = await asDev(['delete', 'pod', 'plain']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, 'pod "plain" deleted');
  t.notOk(exists('pods', 'default', 'plain'), 'really deleted');
});

t.test('removing the label is a patch the rule refuses too', async (t) => {
  const r = await asDev(['label', 'pod', 'guarded', 'protected-']);
  t.equal(r.code, 1);
  t.match(r.stderr, /Error from server \(Forbidden\): protected pods are changed through GitOps only \(kubetape policy rule "protected-pods"\)/);
  t.same(h.api.objects.get('pods', 'default', 'guarded')?.metadata.labels, { protected: 'true', app: 'ledger' }, 'the label is still there');
  const rec = await recorded(h.kt.store, (e) => e.method === 'PATCH' && e.attrs.name === 'guarded');
  t.same(rec?.request.policy?.labels, { current: { protected: 'true', app: 'ledger' }, new: { app: 'ledger' } }, 'both sides recorded');

  // Adding the label to an unprotected pod is refused as well (the new labels match).
  const add = await asDev(['label', 'pod', 'unlabelled', 'protected=true']);
  t.equal(add.code, 1);
  t.match(add.stderr, /kubetape policy rule "protected-pods"/);
  t.same(h.api.objects.get('pods', 'default', 'unlabelled')?.metadata.labels ?? {}, {});

  const other = await asDev(['label', 'pod', 'unlabelled', 'team=blue']);
  t.equal(other.code, 0, other.stderr);
  t.same(h.api.objects.get('pods', 'default', 'unlabelled')?.metadata.labels, { team: 'blue' });
});

t.test('apply of a new object carrying the label is refused under a create rule, nothing created', async (t) => {
  const manifest = (name: string, labels: Record<string, string>) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data: { k: 'v' } });
  const file = join(dir, 'cm.json');
  writeFileSync(file, manifest('locked', { protected: 'true' }));
  const r = await asDev(['apply', '-f', file]);
  t.equal(r.code, 1);
  t.match(r.stderr, /Error from server \(Forbidden\).*protected configmaps are created through GitOps only \(kubetape policy rule "protected-configmaps"\)/s);
  t.notOk(exists('configmaps', 'default', 'locked'), 'nothing created');
  const rec = await recorded(h.kt.store, (e) => e.method === 'POST' && e.attrs.resource === 'configmaps');
  t.same(rec?.request.policy, { action: 'deny', rule: 'protected-configmaps', index: 3, labels: { new: { protected: 'true' } } });

  writeFileSync(file, manifest('free', { protected: 'false' }));
  const ok = await asDev(['apply', '-f', file]);
  t.equal(ok.code, 0, ok.stderr);
  t.ok(exists('configmaps', 'default', 'free'), 'an object without the label is created');
});

t.test('exec into a tier=db pod needs approval (refused before any dial); another pod runs', async (t) => {
  const streamsBefore = h.api.streams.length;
  const r = await asSre(['exec', 'db-0', '--', 'echo', 'hi']);
  t.not(r.code, 0);
  t.match(
    r.stderr,
    /exec into a database; exec into default\/db-0 requires approval \(kubetape policy rule "db-exec-needs-approval"\), approval id ap-[0-9a-f]+/,
  );
  t.equal(h.api.streams.length, streamsBefore, 'no exec session started in the cluster');

  const ok = await asSre(['exec', 'web-0', '--', 'echo', 'hi']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout.trim(), 'hi');
  const rec = await recorded(h.kt.store, (e) => e.attrs.subresource === 'exec' && e.attrs.name === 'db-0');
  t.match(rec?.request.policy, { action: 'require-approval', rule: 'db-exec-needs-approval', labels: { current: { tier: 'db' } } });
});

t.test('an allow-with-labels exception before a broader deny', async (t) => {
  const refused = await asDev(['delete', 'pod', 'scratchy']);
  t.equal(refused.code, 1, 'dev is not in sre: the deny applies');
  t.match(refused.stderr, /kubetape policy rule "protected-pods"/);
  const ok = await asSre(['delete', 'pod', 'scratchy']);
  t.equal(ok.code, 0, ok.stderr);
  t.notOk(exists('pods', 'default', 'scratchy'), 'the exception let sre delete it');
  const rec = await recorded(h.kt.store, (e) => e.method === 'DELETE' && e.attrs.name === 'scratchy' && e.policy?.action === 'allow');
  t.same(rec?.request.policy, { action: 'allow', rule: 'sre-may-delete-scratch', index: 1, labels: { current: { protected: 'true', scratch: 'true' } } });
});

t.test('collections: a selector that rules out the rule passes; an open list is refused', async (t) => {
  const before = lookups().length;
  const web = await asDev(['get', 'pods', '-n', 'inventory', '-l', 'tier=web', '-o', 'name']);
  t.equal(web.code, 0, web.stderr);
  t.equal(web.stdout.trim(), 'pod/web-1');
  const all = await asDev(['get', 'pods', '-n', 'inventory']);
  t.equal(all.code, 1);
  t.match(all.stderr, 'Error from server (Forbidden): database pods in inventory are not shown (kubetape policy rule "no-db-pods-in-inventory")');
  const notIn = await asDev(['get', 'pods', '-n', 'inventory', '-l', 'tier notin (db)', '-o', 'name']);
  t.equal(notIn.code, 0, `"notin (db)" rules out tier=db too: ${notIn.stderr}`);
  t.equal(notIn.stdout.trim(), 'pod/web-1');
  const otherKey = await asDev(['get', 'pods', '-n', 'inventory', '-l', 'app=shop']);
  t.equal(otherKey.code, 1, 'a selector on another key does not rule out tier=db pods');
  t.match(otherKey.stderr, /kubetape policy rule "no-db-pods-in-inventory"/);
  t.equal(lookups().length, before, 'collections never look anything up');
  const rec = await recorded(h.kt.store, (e) => e.attrs.verb === 'list' && e.attrs.namespace === 'inventory' && e.uri.includes('tier%3Dweb'));
  t.same(rec?.request.policy, undefined, 'the excluded rule did not decide');
  const recAll = await recorded(h.kt.store, (e) => e.attrs.verb === 'list' && e.attrs.namespace === 'inventory' && !e.uri.includes('labelSelector'));
  t.same(recAll?.request.policy, { action: 'deny', rule: 'no-db-pods-in-inventory', index: 5, labels: { selector: '' } });

  // Named gets are decided on the object's own labels.
  const webOne = await asDev(['get', 'pod', 'web-1', '-n', 'inventory', '-o', 'name']);
  t.equal(webOne.stdout.trim(), 'pod/web-1', webOne.stderr);
  const dbOne = await asDev(['get', 'pod', 'db-1', '-n', 'inventory']);
  t.equal(dbOne.code, 1);
  t.match(dbOne.stderr, /kubetape policy rule "no-db-pods-in-inventory"/);
});

t.test('fail closed: a lookup the cluster forbids refuses the request, nothing sent', async (t) => {
  h.api.objects.put(pod('locked-out', 'default', { app: 'x' }));
  const deletesBefore = h.api.received.filter((q) => q.method === 'DELETE').length;
  const r = await kubectl(['delete', 'pod', 'locked-out'], { kubeconfig: devLimited });
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    'Error from server (Forbidden): kubetape could not read the labels of pods "locked-out" in namespace default to apply policy rule "protected-pods": the cluster answered 403: pods "locked-out" is forbidden: User "kt-limited" cannot get resource "pods" in API group "" in the namespace "default"',
  );
  t.equal(h.api.received.filter((q) => q.method === 'DELETE').length, deletesBefore, 'no DELETE reached the cluster');
  t.ok(exists('pods', 'default', 'locked-out'), 'the pod is still there');
  const rec = await recorded(limited.store, (e) => e.method === 'DELETE' && e.attrs.name === 'locked-out');
  t.match(rec?.request.policy, { action: 'deny', rule: 'protected-pods', labels: { error: /could not read the labels of pods "locked-out"/ } });
  t.equal(rec?.response?.status, 403);

  // exec: the same failure refuses the stream before anything is dialed.
  const streamsBefore = h.api.streams.length;
  const x = await kubectl(['exec', 'locked-out', '--', 'echo', 'hi'], { kubeconfig: devLimited });
  t.not(x.code, 0);
  t.equal(h.api.streams.length, streamsBefore, 'no exec session started');
});

t.test('fail closed: a cluster that does not answer in time', async (t) => {
  // A listener that accepts and never answers stands in for a hung API server.
  const { createServer } = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const hung = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    hung.close();
  });
  const { fetchLabels, LabelLookupFailure } = await import('../src/authorize/policy/label-lookup.js');
  const port = (hung.address() as import('node:net').AddressInfo).port;
  const upstream = {
    name: 'hung',
    server: new URL(`http://127.0.0.1:${port}`),
    insecureSkipTlsVerify: false,
    credentials: { get: async () => ({}), invalidate: () => undefined },
  };
  const err = await fetchLabels(upstream, undefined, {}, { apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'default', name: 'x' }, 300).catch(
    (e: unknown) => e,
  );
  t.ok(err instanceof LabelLookupFailure);
  t.equal((err as InstanceType<typeof LabelLookupFailure>).statusCode, 503);
  t.match((err as Error).message, /no answer within/);
});

t.test('a label-selector error in the policy is rejected at load, naming the line', async (t) => {
  const bad = [
    'rules:',
    '  - name: x',
    '    match:',
    '      resource: pods',
    '      labels: "tier in (db,cache"',
    '    action: deny',
    '    message: m',
    '',
  ].join('\n');
  t.throws(() => parsePolicyText(bad, 'policy.yaml'), { message: /^policy\.yaml:5: labels: unbalanced "\("/ });
  const badOp = bad.replace('tier in (db,cache"', 'tier >> db"');
  t.throws(() => parsePolicyText(badOp, 'policy.yaml'), new PolicyError('x'), 'bad operator');
  t.throws(() => parsePolicyText(badOp, 'policy.yaml'), { message: /^policy\.yaml:5: labels: cannot parse "tier >> db"/ });
  const badKey = [
    'rules:',
    '  - name: x',
    '    match:',
    '      labels:',
    '        tier: db',
    '        "-bad": x',
    '    action: deny',
    '    message: m',
    '',
  ].join('\n');
  t.throws(() => parsePolicyText(badKey, 'policy.yaml'), { message: /^policy\.yaml:6: labels: invalid label key "-bad"/ });
  const badValue = bad.replace('tier in (db,cache"', 'env=has space"');
  t.throws(() => parsePolicyText(badValue, 'policy.yaml'), { message: /^policy\.yaml:5: labels:/ });

  const ok = parsePolicyText(bad.replace('tier in (db,cache"', 'tier in (db,cache),env!=dev,!canary,owner"'), 'policy.yaml');
  t.same(ok.rules[0].match.labels?.requirements, [
    { key: 'tier', op: 'in', values: ['db', 'cache'] },
    { key: 'env', op: 'notin', values: ['dev'] },
    { key: 'canary', op: 'notexists' },
    { key: 'owner', op: 'exists' },
  ]);
  const req = { cluster: 'c', user: 'u', groups: [], verb: 'delete', apiGroup: '', resource: 'pods', subresource: '', namespace: 'n', name: 'p' };
  t.equal(evaluatePolicy(ok, { ...req, labels: { current: { tier: 'db', owner: 'me' } } }).action, 'deny');
  t.equal(evaluatePolicy(ok, { ...req, labels: { current: { tier: 'db', owner: 'me', canary: '' } } }).action, 'allow', '!canary');
  t.equal(evaluatePolicy(ok, { ...req, labels: { current: { tier: 'db', owner: 'me', env: 'dev' } } }).action, 'allow', 'env!=dev');
  t.equal(evaluatePolicy(ok, { ...req, labels: { current: { tier: 'cache' } } }).action, 'allow', 'owner must exist');
  t.equal(evaluatePolicy(ok, req).action, 'deny', 'without a lookup, unknown labels match a blocking rule');
});
