// The sessions API (issue 14) in front of the test API server, with
// sessions made by the real kubectl: who sees which sessions (own, viewers,
// approvers), 404 for someone else's id, the list's filters and its cursor
// while new sessions start, events as NDJSON by range, the cast as
// asciicast v2, hostile parameters answered with a Status, and every read
// recorded as an access.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './helpers/kubectl.js';
import { cliFromSource, kubectlBinary, startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { httpsCall } from './helpers/https-call.js';
import { findSession } from './helpers/recordings.js';
import type { RecordEvent, SessionSummary } from '../src/model/recording.js';

const POLICY = `rules:
  - name: prod-delete-needs-approval
    match:
      namespace: prod
      verb: delete
    action: require-approval
    message: delete in prod
    approvers: [sre]
`;

const dir = mkdtempSync(join(tmpdir(), 'console-api-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let s: StreamHarness;
const kc: Record<string, string> = {};
const TOKENS: Record<string, string> = { dana: 'dana-token', sam: 'sam-token', vera: 'vera-token', pat: 'pat-token' };

t.before(async () => {
  // dana: a developer; sam: approves prod deletes (sre); vera: auditor (viewer of everything); pat: viewer of the "other" cluster only.
  writeFileSync(join(dir, 'tokens.csv'), 'dana-token,dana,,"dev"\nsam-token,sam,,"sre"\nvera-token,vera,,"auditors"\npat-token,pat,,"leads"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  s = await startStreamHarness({
    config: {
      tokenFile: join(dir, 'tokens.csv'),
      policyFile: join(dir, 'policy.yaml'),
      console: { viewers: [{ group: 'auditors' }, { group: 'leads', clusters: ['other'] }], linkTtlSeconds: 300, sessionTtlSeconds: 3600 },
    },
  });
  for (const [user, token] of Object.entries(TOKENS)) kc[user] = writeKubeconfig(s.h.dir, { server: s.h.kt.url, ca: s.h.kt.ca, token, name: user });
  s.h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  s.h.api.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'prod' }, spec: { containers: [{ name: 'main', image: 'x' }] } });
});
t.teardown(() => s.close());

const api = (user: string, path: string, o: { method?: string; headers?: Record<string, string> } = {}) =>
  httpsCall(`${s.h.kt.url}${path}`, { ca: s.h.kt.ca, method: o.method ?? 'GET', headers: { Authorization: `Bearer ${TOKENS[user]}`, ...o.headers } });

async function json<T>(user: string, path: string): Promise<T> {
  const r = await api(user, path);
  if (r.status !== 200) throw new Error(`${path} as ${user}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

type Page = { items: SessionSummary[]; nextCursor?: string };
let danaGet: SessionSummary;
let danaExec: SessionSummary;
let samGet: SessionSummary;

t.test('sessions made by kubectl', async (t) => {
  const get = await kubectlBinary(kc.dana, ['get', 'pods', '-n', 'default']);
  t.equal(get.code, 0, get.stderr);
  danaGet = await findSession(s.h.kt.store, (x) => x.user === 'dana' && x.command === 'kubectl get');
  const exec = await kubectlBinary(kc.dana, ['exec', 'web-0', '--', 'sh', '-c', 'echo hello-from-exec']);
  t.equal(exec.code, 0, exec.stderr);
  t.match(exec.stdout.toString(), /hello-from-exec/);
  danaExec = await findSession(s.h.kt.store, (x) => x.user === 'dana' && x.command === 'kubectl exec');
  const del = await kubectlBinary(kc.dana, ['delete', 'pod', 'db-0', '-n', 'prod', '--wait=false']);
  t.equal(del.code, 1, 'the prod delete needs an approval');
  const other = await kubectlBinary(kc.sam, ['get', 'configmaps', '-n', 'kube-system']);
  t.equal(other.code, 0, other.stderr);
  samGet = await findSession(s.h.kt.store, (x) => x.user === 'sam' && x.command === 'kubectl get');
});

t.test('whoami says who the caller is and what they may see', async (t) => {
  t.match(await json('dana', '/kubetape/v1/whoami'), { user: 'dana', groups: ['dev'], viewer: false, approver: false });
  t.match(await json('vera', '/kubetape/v1/whoami'), { user: 'vera', viewer: true, approver: false });
  t.match(await json('sam', '/kubetape/v1/whoami'), { user: 'sam', viewer: false, approver: true });
  t.notOk((await json<{ csrfToken?: string }>('dana', '/kubetape/v1/whoami')).csrfToken, 'no CSRF token for a bearer token');
  t.match(await json('dana', '/clusters/fake/kubetape/v1/whoami'), { user: 'dana' }, 'also under /clusters/NAME/');
  const anon = await httpsCall(`${s.h.kt.url}/kubetape/v1/whoami`, { ca: s.h.kt.ca });
  t.equal(anon.status, 401, 'no login, no answer');
  t.match(JSON.parse(anon.body), { kind: 'Status', code: 401 });
});

t.test('a person sees only their own sessions; a viewer sees all', async (t) => {
  const mine = await json<Page>('dana', '/kubetape/v1/sessions');
  t.ok(mine.items.length >= 3);
  t.ok(
    mine.items.every((x) => x.user === 'dana'),
    'only dana',
  );
  t.same((await json<Page>('dana', '/kubetape/v1/sessions?user=sam')).items, [], "asking for someone else's gives nothing");
  const all = await json<Page>('vera', '/kubetape/v1/sessions');
  t.ok(
    all.items.some((x) => x.id === samGet.id),
    "the viewer sees sam's",
  );
  t.ok(
    all.items.some((x) => x.id === danaGet.id),
    "and dana's",
  );
  const ids = all.items.map((x) => x.id);
  t.same(ids, [...ids].sort().reverse(), 'newest first');
  t.same(
    (await json<Page>('pat', '/kubetape/v1/sessions')).items.map((x) => x.user).filter((u) => u !== 'pat'),
    [],
    'a viewer of another cluster sees nothing here',
  );
  const approver = await json<Page>('sam', '/kubetape/v1/sessions?user=dana');
  t.same(
    approver.items.map((x) => x.guardrails?.rules),
    [['prod-delete-needs-approval']],
    "the approver sees dana's session their rule decided, and only that one",
  );
});

t.test("someone else's session is 404 on every endpoint", async (t) => {
  for (const sub of ['', '/events', '/cast', '/live']) {
    const r = await api('dana', `/kubetape/v1/sessions/${samGet.id}${sub}`);
    t.equal(r.status, 404, `sessions/ID${sub}`);
    t.match(JSON.parse(r.body), { kind: 'Status', code: 404, reason: 'NotFound' });
  }
  const unknown = await api('dana', `/kubetape/v1/sessions/${samGet.id.slice(0, 25)}Z`);
  t.equal(unknown.status, 404, 'an unknown id answers the same');
  t.equal((await api('vera', `/kubetape/v1/sessions/${samGet.id}`)).status, 200, 'the viewer reads it');
});

t.test('filters: kind, client, free text, state', async (t) => {
  const ids = async (q: string) => (await json<Page>('vera', `/kubetape/v1/sessions?${q}`)).items.map((x) => x.id);
  t.same(await ids('kind=exec&user=dana'), [danaExec.id], 'kind=exec');
  t.notOk((await ids('kind=rest&user=dana')).includes(danaExec.id), 'kind=rest leaves the exec out');
  t.ok((await ids('kind=rest&user=dana')).includes(danaGet.id));
  t.same(await ids('q=hello-from-exec'), [danaExec.id], 'free text finds the exec command');
  t.same(await ids('q=kube-system%2Fconfigmaps'), [samGet.id], 'free text finds a path');
  t.ok((await ids('client=kubectl')).includes(danaGet.id), 'client=kubectl');
  t.same(await ids('client=python-requests'), [], 'no such client');
  t.ok((await json<Page>('vera', '/kubetape/v1/sessions?state=live')).items.every((x) => x.state === 'live'));
  t.ok((await ids('human=true&user=dana')).includes(danaGet.id), 'the agent filters pass through: human=true');
  t.same(await ids('agent=true&user=dana'), [], 'agent=true: dana is a person');
});

t.test('the cursor pages stably while new sessions start', async (t) => {
  const before = (await json<Page>('vera', '/kubetape/v1/sessions?limit=1000')).items.map((x) => x.id);
  const first = await json<Page>('vera', '/kubetape/v1/sessions?limit=2');
  t.equal(first.items.length, 2);
  t.ok(first.nextCursor, 'a cursor for the next page');
  const r = await kubectlBinary(kc.dana, ['get', 'pods', '-n', 'kube-public']);
  t.equal(r.code, 0);
  await findSession(s.h.kt.store, (x) => x.user === 'dana' && x.paths?.includes('/api/v1/namespaces/kube-public/pods') === true);
  const seen = first.items.map((x) => x.id);
  let cursor = first.nextCursor;
  while (cursor) {
    const p = await json<Page>('vera', `/kubetape/v1/sessions?limit=2&cursor=${cursor}`);
    seen.push(...p.items.map((x) => x.id));
    cursor = p.nextCursor;
  }
  // Sessions the reads themselves opened are newer than the first page: none of them is on a later page.
  const older = before.filter((id) => id <= first.items[1].id);
  t.same(
    seen.filter((id) => id <= first.items[1].id),
    older,
    'every session older than the first page, once each, in order',
  );
  t.equal(new Set(seen).size, seen.length, 'no session twice');
});

t.test('one session: summary and verification', async (t) => {
  const one = await json<{ summary: SessionSummary; verification: { ok: boolean; problems: string[] } }>('dana', `/kubetape/v1/sessions/${danaExec.id}`);
  t.equal(one.summary.id, danaExec.id);
  t.same(one.verification, { ok: true, problems: [] });
  // The console asks for the summary alone first (verify=false), and for the verification after.
  const quick = await json<Record<string, unknown>>('dana', `/kubetape/v1/sessions/${danaExec.id}?verify=false`);
  t.same(Object.keys(quick), ['summary'], 'verify=false: the summary alone');
  t.same(quick['summary'], one.summary);
  for (const bad of ['verify=maybe', 'verify=false&verify=true', 'verified=false']) {
    const r = await api('dana', `/kubetape/v1/sessions/${danaExec.id}?${bad}`);
    t.equal(r.status, 400, `${bad}: refused`);
    t.match(JSON.parse(r.body), { kind: 'Status', code: 400 });
  }
});

t.test('events as NDJSON, by range, bodies on request', async (t) => {
  const r = await api('dana', `/kubetape/v1/sessions/${danaGet.id}/events`);
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /application\/x-ndjson/);
  const events = r.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RecordEvent);
  t.equal(events[0].type, 'session.start');
  const withBody = events.filter((e) => e.type === 'response' && e.body);
  t.ok(withBody.length > 0, 'responses with bodies');
  t.ok(
    withBody.every((e) => e.type === 'response' && e.body?.data === '' && (e.body as { omitted?: boolean }).omitted === true && e.body.size > 0),
    'bodies left out, sizes kept',
  );
  const full = (await api('dana', `/kubetape/v1/sessions/${danaGet.id}/events?bodies=true`)).body;
  t.match(full, /"data":"\{/, 'bodies=true sends them');
  const ranged = (await api('dana', `/kubetape/v1/sessions/${danaGet.id}/events?from=2&to=2`)).body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RecordEvent);
  t.ok(ranged.length >= 2);
  t.ok(
    ranged.every((e) => 'seq' in e && e.seq === 2),
    'only request 2',
  );
  t.equal((await api('dana', `/kubetape/v1/sessions/${danaGet.id}/events?from=3&to=1`)).status, 400);
  // types=: only those event types (the console's timeline asks for requests and responses).
  const typed = (await api('dana', `/kubetape/v1/sessions/${danaExec.id}/events?types=request,response`)).body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RecordEvent);
  t.ok(typed.length >= 2, 'requests and responses');
  t.same([...new Set(typed.map((e) => e.type))].sort(), ['request', 'response'], 'no stream events, no start or end');
  const allOfExec = (await api('dana', `/kubetape/v1/sessions/${danaExec.id}/events`)).body;
  t.match(allOfExec, /"type":"stream"/, "without types= the exec's stream events are there");
});

t.test('the cast is asciicast v2 of the exec', async (t) => {
  const r = await api('dana', `/kubetape/v1/sessions/${danaExec.id}/cast`);
  t.equal(r.status, 200, r.body);
  const lines = r.body.trim().split('\n');
  const header = JSON.parse(lines[0]) as { version: number; width: number; height: number };
  t.match(header, { version: 2, width: Number, height: Number });
  const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  t.ok(
    events.every((e) => typeof e[0] === 'number' && ['o', 'i', 'r', 'm'].includes(e[1]) && typeof e[2] === 'string'),
    'every line an event',
  );
  t.match(
    events
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join(''),
    /hello-from-exec\r\n/,
    "output without a TTY ends its lines with CR LF, as the viewer's terminal showed them",
  );
  const again = await api('dana', `/kubetape/v1/sessions/${danaExec.id}/cast`);
  t.equal(again.body, r.body, 'opened again (from the kept cast): the same cast');
  const none = await api('dana', `/kubetape/v1/sessions/${danaGet.id}/cast`);
  t.equal(none.status, 404, 'no exec, no cast');
  t.match(JSON.parse(none.body), { kind: 'Status', message: /no exec or attach/ });
});

t.test('hostile parameters get a Status', async (t) => {
  for (const path of [
    '/kubetape/v1/sessions/../x',
    '/kubetape/v1/sessions/%2e%2e',
    '/kubetape/v1/sessions/%2e%2e/events',
    '/kubetape/v1/sessions/..%2fx',
    '/kubetape/v1/sessions/<script>alert(1)</script>',
    '/kubetape/v1/sessions?limit=99999999999999',
    '/kubetape/v1/sessions?limit=-1',
    '/kubetape/v1/sessions?cursor=not-a-cursor',
    `/kubetape/v1/sessions?cursor=${Buffer.from('2020-01-01T00:00:00.000Z|../../etc').toString('base64url')}`,
    '/kubetape/v1/sessions?since=yesterday',
    '/kubetape/v1/sessions?state=dead',
    '/kubetape/v1/sessions?user=a&user=b',
    '/kubetape/v1/sessions?bogus=1',
    '/kubetape/v1/sessions?agent=true&human=true',
    '/kubetape/v1/sessions?trace=xyz',
    `/kubetape/v1/sessions/${danaGet.id}/events?from=0`,
    `/kubetape/v1/sessions/${danaGet.id}/events?bodies=yes`,
    `/kubetape/v1/sessions/${danaGet.id}/events?types=request,bogus`,
    `/kubetape/v1/sessions/${danaGet.id}/events?types=request&types=response`,
    `/kubetape/v1/sessions/${danaGet.id}/nope`,
    '/kubetape/v1/nothing-here',
  ]) {
    const r = await api('vera', path);
    t.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
    t.match(JSON.parse(r.body), { kind: 'Status', status: 'Failure' }, `${path}: a Status`);
  }
  const huge = await api('vera', '/kubetape/v1/sessions?limit=1000000');
  t.equal(huge.status, 200, 'a large limit is capped, not refused');
  t.ok((JSON.parse(huge.body) as Page).items.length <= 1000);
  const post = await api('vera', '/kubetape/v1/sessions', { method: 'DELETE' });
  t.equal(post.status, 405);
});

t.test('every read is recorded as an access', async (t) => {
  await json('dana', `/kubetape/v1/sessions/${danaExec.id}`);
  type Access = { user: string; action: string; session?: string; time: string };
  const seen = await json<{ items: Access[] }>('vera', `/kubetape/v1/accesses?session=${danaExec.id}`);
  const actions = seen.items.filter((a) => a.user === 'dana').map((a) => a.action);
  t.ok(actions.includes('show'), 'dana reading her exec session');
  t.ok(actions.includes('cast'), 'and its cast');
  t.ok(
    seen.items.every((a) => a.session === danaExec.id),
    'filtered by session',
  );
  const samSees = await json<{ items: Access[] }>('sam', '/kubetape/v1/accesses');
  t.ok(
    samSees.items.some((a) => a.user === 'vera' && a.session === samGet.id && a.action === 'show'),
    'sam sees vera read his session',
  );
  t.notOk(
    samSees.items.some((a) => a.user === 'vera' && a.session === danaExec.id),
    "but not vera's reads of dana's",
  );
  const readers = await json<Page>('vera', '/kubetape/v1/sessions?accesses=true');
  t.ok(readers.items.length > 0 && readers.items.every((x) => (x.reads ?? 0) > 0), 'sessions that read recordings are marked');
});

t.test('the CLI reads through the API with --server, as the kubeconfig user', async (t) => {
  const server = s.h.kt.url;
  const [list, showOther, replay, localAccesses, kinds] = await cliFromSource([
    ['sessions', 'list', '--server', server, '--kubeconfig', kc.dana, '--json'],
    ['sessions', 'show', samGet.id, '--server', server, '--kubeconfig', kc.dana],
    ['replay', danaExec.id, '--server', server, '--kubeconfig', kc.dana, '--no-wait'],
    ['sessions', 'list', '--accesses', '--data-dir', s.h.dataDir],
    ['sessions', 'list', '--kind', 'exec', '--text', 'hello-from', '--data-dir', s.h.dataDir, '--json'],
  ]);
  t.equal(list.code, 0, list.stderr);
  const items = JSON.parse(list.stdout.toString()) as SessionSummary[];
  t.ok(items.length > 0 && items.every((x) => x.user === 'dana'), 'dana lists only her sessions');
  t.not(showOther.code, 0, "sam's session does not exist for dana");
  t.match(showOther.stderr, /no session/);
  t.equal(replay.code, 0, replay.stderr);
  t.match(replay.stdout.toString(), /hello-from-exec/, 'replay plays the exec fetched from the API');
  t.equal(localAccesses.code, 0, localAccesses.stderr);
  t.match(localAccesses.stdout.toString(), /ACCESS/, 'sessions list marks the sessions that read recordings');
  t.same(
    (JSON.parse(kinds.stdout.toString()) as SessionSummary[]).map((x) => x.id),
    [danaExec.id],
    '--kind and --text',
  );
});
