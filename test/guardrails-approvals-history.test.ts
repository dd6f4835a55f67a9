// The audit view of just-in-time approvals: `kubetape approvals list --all`
// over the real kubectl's refusals, approvals, grant uses and denials, with
// its filters and who may see what; plus the history folded from a log
// written in the entry format recordings already carry.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { writeKubeconfig } from './helpers/kubectl.js';
import { cliFromSource, type CliResult } from './helpers/streams.js';
import { approvalsCli, deleteProdPod, putProdPod } from './helpers/approvals.js';
import { FileApprovalStore } from '../src/authorize/approvals/store.js';
import type { ApprovalView } from '../src/authorize/approvals/routes.js';
import { awsEnv, provision, startMotoServer, useAwsEnv } from './helpers/aws-store.js';

const POLICY = `rules:
  - name: prod-delete-needs-approval
    match:
      namespace: prod
      verb: delete
    action: require-approval
    approvers: [sre]
    maxGrant: 1h
`;

let h: Harness;
let dana: string; // group dev
let olly: string; // group dev
let sam: string; // group sre
let sue: string; // group sre
const dir = mkdtempSync(join(tmpdir(), 'approvals-history-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dana-token,dana,,"dev"\nolly-token,olly,,"dev"\nsam-token,sam,,"sre"\nsue-token,sue,,"sre"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml') } });
  const kc = (token: string, name: string) => writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token, name });
  dana = kc('dana-token', 'dana');
  olly = kc('olly-token', 'olly');
  sam = kc('sam-token', 'sam');
  sue = kc('sue-token', 'sue');
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  for (const p of ['web-0', 'web-1', 'web-2', 'web-3']) putPod(p);
});
t.teardown(() => h.close());

const putPod = (name: string): void => putProdPod(h, name);

const deletePod = deleteProdPod;

const cli = approvalsCli;

async function listJson(kubeconfig: string, ...filters: string[]): Promise<ApprovalView[]> {
  const r = await cli('list', '--all', '--json', ...filters, '--kubeconfig', kubeconfig);
  if (r.code !== 0) throw new Error(`list --all failed: ${r.stderr}`);
  return JSON.parse(r.out) as ApprovalView[];
}

async function refusedId(kubeconfig: string, pod: string): Promise<string> {
  const r = await deletePod(kubeconfig, pod);
  const m = /approval id (ap-[0-9a-f]+)/.exec(r.stderr);
  if (r.code !== 1 || !m) throw new Error(`expected a refusal with an approval id, got ${r.code}: ${r.stderr}`);
  return m[1];
}

async function ok(p: Promise<CliResult & { out: string }>): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(r.stderr);
}

const ids = { once: '', timed: '', denied: '', pending: '' };
const byId = (items: ApprovalView[], id: string) => items.find((i) => i.id === id);

t.test('four approvals: used once, timed and used twice, denied, pending', async (t) => {
  ids.once = await refusedId(dana, 'web-0');
  await ok(cli('approve', ids.once, '--once', '--kubeconfig', sue));
  t.equal((await deletePod(dana, 'web-0')).code, 0, 'the one-time grant lets the delete through');

  ids.timed = await refusedId(dana, 'web-1');
  await ok(cli('approve', ids.timed, '--for', '30m', '--kubeconfig', sam));
  t.equal((await deletePod(dana, 'web-1')).code, 0, 'first use of the timed grant');
  putPod('web-1');
  t.equal((await deletePod(dana, 'web-1')).code, 0, 'second use of the timed grant');

  ids.denied = await refusedId(olly, 'web-2');
  await ok(cli('deny', ids.denied, '--reason', 'use the runbook', '--kubeconfig', sam));

  ids.pending = await refusedId(olly, 'web-3');
  t.equal(new Set(Object.values(ids)).size, 4, 'four distinct approval ids');
});

t.test('an approver sees the whole history, newest first, with decider, grant and uses', async (t) => {
  const items = await listJson(sam);
  t.same(
    items.map((i) => i.id),
    [ids.pending, ids.denied, ids.timed, ids.once],
    'newest request first',
  );
  t.match(byId(items, ids.once), {
    status: 'used',
    user: 'dana',
    decidedBy: 'sue',
    decidedAt: /^\d{4}-/,
    grant: { once: true, uses: 1, lastUsedAt: /^\d{4}-/ },
  });
  t.match(byId(items, ids.timed), {
    status: 'approved',
    user: 'dana',
    decidedBy: 'sam',
    grant: { once: false, uses: 2, expiresAt: /^\d{4}-/, lastUsedAt: /^\d{4}-/ },
  });
  t.match(byId(items, ids.denied), { status: 'denied', user: 'olly', decidedBy: 'sam', denyReason: 'use the runbook' });
  t.notOk(byId(items, ids.denied)?.grant, 'a denial has no grant');
  t.match(byId(items, ids.pending), { status: 'pending', user: 'olly', what: 'delete pods "web-3" in namespace prod', rule: 'prod-delete-needs-approval' });
  t.notOk(byId(items, ids.pending)?.decidedBy);
  const timed = byId(items, ids.timed)!;
  t.ok(Date.parse(timed.grant!.lastUsedAt!) >= Date.parse(timed.decidedAt!), 'last use after the decision');

  const text = await cli('list', '--all', '--kubeconfig', sue);
  t.equal(text.code, 0, text.stderr);
  const lines = text.out.trimEnd().split('\n');
  t.match(lines[0], /^ID\s+STATUS\s+REQUESTER\s+CLUSTER\s+REQUESTED\s+DECIDED BY\s+DECIDED\s+GRANT\s+USES\s+LAST USED\s+RULE\s+WHAT$/);
  t.equal(lines.length, 5, 'a header and one line per approval');
  const line = (id: string) => lines.find((l) => l.startsWith(id)) ?? '';
  t.match(
    line(ids.once),
    new RegExp(
      `^${ids.once}\\s+used\\s+dana\\s+\\S+\\s+.+?\\s+sue\\s+.+?\\s+once\\s+1\\s+.+?\\s+prod-delete-needs-approval\\s+delete pods "web-0" in namespace prod$`,
    ),
  );
  t.match(line(ids.timed), new RegExp(`^${ids.timed}\\s+approved\\s+dana\\s+.+?\\s+sam\\s+.+?\\s+until \\S+.*?\\s+2\\s+`));
  t.match(
    line(ids.denied),
    new RegExp(
      `^${ids.denied}\\s+denied\\s+olly\\s+.+?\\s+sam\\s+.+?\\s+-\\s+-\\s+-\\s+prod-delete-needs-approval\\s+delete pods "web-2" in namespace prod \\(denied: use the runbook\\)$`,
    ),
  );
  t.match(line(ids.pending), new RegExp(`^${ids.pending}\\s+pending\\s+olly\\s+.+?\\s+-\\s+-\\s+-\\s+-\\s+-\\s+prod-delete-needs-approval`));
});

t.test('--status, --user and --since filter the history', async (t) => {
  // One CLI process runs every command (each one is a separate `kubetape approvals ...` invocation).
  const asSam = (...args: string[]) => ['approvals', 'list', '--all', ...args, '--kubeconfig', sam];
  const runs = await cliFromSource([
    asSam('--json', '--status', 'used'),
    asSam('--json', '--status', 'approved'),
    asSam('--json', '--status', 'denied'),
    asSam('--json', '--status', 'pending'),
    asSam('--json', '--status', 'expired'),
    asSam('--json', '--user', 'olly'),
    asSam('--json', '--user', 'dana', '--status', 'used'),
    asSam('--json', '--since', '1h'),
    asSam('--json', '--since', '2099-01-01T00:00:00Z'),
    asSam('--since', '2099-01-01T00:00:00Z'),
    asSam('--status', 'maybe'),
    asSam('--since', 'yesterday'),
    ['approvals', 'list', '--user', 'olly', '--kubeconfig', sam],
  ]);
  const ids_ = (i: number) => (JSON.parse(runs[i].stdout.toString('utf8')) as ApprovalView[]).map((v) => v.id);
  t.same(ids_(0), [ids.once], '--status used');
  t.same(ids_(1), [ids.timed], '--status approved');
  t.same(ids_(2), [ids.denied], '--status denied');
  t.same(ids_(3), [ids.pending], '--status pending');
  t.same(ids_(4), [], '--status expired');
  t.same(ids_(5), [ids.pending, ids.denied], '--user');
  t.same(ids_(6), [ids.once], '--user and --status');
  t.equal(ids_(7).length, 4, '--since 1h');
  t.same(ids_(8), [], '--since a future timestamp');
  t.equal(runs[9].stdout.toString('utf8'), 'no approvals match\n');
  t.equal(runs[10].code, 1);
  t.match(runs[10].stderr, '--status must be one of pending, approved, denied, expired, used, got "maybe"');
  t.equal(runs[11].code, 1);
  t.match(runs[11].stderr, '--since wants a duration');
  t.equal(runs[12].code, 1);
  t.match(runs[12].stderr, 'add --all');
});

t.test('someone outside the approvers groups sees only their own requests', async (t) => {
  const runs = await cliFromSource([
    ['approvals', 'list', '--all', '--json', '--kubeconfig', dana],
    ['approvals', 'list', '--all', '--json', '--kubeconfig', olly],
    ['approvals', 'list', '--all', '--json', '--user', 'olly', '--kubeconfig', dana],
  ]);
  const [asDana, asOlly, danaAsksOlly] = runs.map((r) => (JSON.parse(r.stdout.toString('utf8')) as ApprovalView[]).map((v) => v.id));
  t.same(asDana, [ids.timed, ids.once]);
  t.same(asOlly, [ids.pending, ids.denied]);
  t.same(danaAsksOlly, [], 'filtering by someone else shows nothing rather than their requests');
});

t.test('the API: the filters are query parameters, bad ones are a 400', async (t) => {
  const r = await cli('list', '--all', '--json', '--user', 'olly', '--status', 'pending', '--kubeconfig', sam);
  t.same(
    (JSON.parse(r.out) as ApprovalView[]).map((i) => i.id),
    [ids.pending],
  );
  const { httpsCall } = await import('./helpers/https-call.js');
  const bad = await httpsCall(`${h.kt.url}/kubetape/v1/approvals?all=true&since=soon`, {
    ca: h.kt.ca,
    method: 'GET',
    headers: { authorization: 'Bearer sam-token' },
  });
  t.equal(bad.status, 400);
  t.match(bad.body, 'since must be a timestamp');
});

t.test('list without --all: pending requests only, in the same format, to the requester and approvers', async (t) => {
  const r = await cli('list', '--kubeconfig', sam);
  t.equal(r.code, 0, r.stderr);
  t.equal(
    r.out,
    `${ids.pending}  olly  ${byId(await listJson(sam), ids.pending)!.cluster}  delete pods "web-3" in namespace prod  (rule prod-delete-needs-approval; approvers: sre)\n`,
  );
  const pendingFor = async (kubeconfig: string) =>
    (JSON.parse((await cli('list', '--json', '--kubeconfig', kubeconfig)).out) as ApprovalView[]).map((i) => [i.id, i.status]);
  t.same(await pendingFor(olly), [[ids.pending, 'pending']], 'the requester sees their pending request');
  t.same(await pendingFor(dana), [], 'a colleague in the same group, neither requester nor approver, does not see it');
});

t.test('history from a log in the existing entry format: expired, used, and replaced rounds', async (t) => {
  const file = join(dir, 'approvals.ndjson');
  const past = (ms: number) => new Date(Date.now() - ms).toISOString();
  const req = (id: string, at: string) => ({
    type: 'request',
    id,
    at,
    user: 'dana',
    cluster: 'c',
    what: `delete ${id}`,
    rule: 'r',
    approvers: ['sre'],
    maxGrantMs: 3_600_000,
  });
  const entries = [
    req('ap-timed', past(50_000)),
    { type: 'decision', id: 'ap-timed', at: past(49_000), actor: 'sue', decision: 'approve', grant: { grant: 'g-1', once: false, expiresAt: past(10_000) } },
    { type: 'use', id: 'ap-timed', grant: 'g-1', at: past(40_000) },
    req('ap-once', past(30_000)),
    { type: 'decision', id: 'ap-once', at: past(29_000), actor: 'sam', decision: 'approve', grant: { grant: 'g-2', once: true, expiresAt: past(-3_600_000) } },
    { type: 'use', id: 'ap-once', grant: 'g-2', at: past(28_000) },
    // The one-time grant used up, the next refusal opened a new round for the same id.
    req('ap-once', past(20_000)),
  ];
  writeFileSync(file, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const store = new FileApprovalStore(file);
  const { approvalView } = await import('../src/authorize/approvals/routes.js');
  const views = (await store.history()).map((s) => approvalView(s));
  t.same(
    views.map((v) => [v.id, v.status]),
    [
      ['ap-once', 'pending'],
      ['ap-once', 'used'],
      ['ap-timed', 'expired'],
    ],
    'the replaced round stays in the history',
  );
  t.match(views[1], { decidedBy: 'sam', decidedAt: entries[4].at, grant: { uses: 1, lastUsedAt: entries[5].at } });
  t.match(views[2], { grant: { uses: 1, lastUsedAt: entries[2].at, expiresAt: (entries[1] as { grant: { expiresAt: string } }).grant.expiresAt } });
  t.same(
    (await store.pending()).map((s) => s.request.id),
    ['ap-once'],
    'the current state is what it was',
  );
});

t.test('the DynamoDB store folds the same history from its items', async (t) => {
  const moto = await startMotoServer();
  t.teardown(() => moto.close());
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision('approvals-history', 'approvals-history');
  const [{ DynamoDBClient }, { DynamoApprovalStore }] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('../src/authorize/approvals/dynamo-store.js'),
  ]);
  const client = new DynamoDBClient({});
  const store = new DynamoApprovalStore({ client, table: 'approvals-history', retentionDays: 0, onClose: () => client.destroy() });
  t.teardown(() => store.close());
  const ask = (id: string) => store.request({ id, user: 'dana', cluster: 'c', what: `delete ${id}`, rule: 'r', approvers: ['sre'], maxGrantMs: 3_600_000 });
  const sue = { user: 'sue', groups: ['sre'] };
  await ask('ap-once');
  await store.approve('ap-once', sue, { once: true });
  t.ok(await store.useGrant('ap-once'), 'the one-time grant is taken');
  await ask('ap-once'); // the next refusal opens a new round
  await ask('ap-timed');
  await store.approve('ap-timed', sue, { once: false, durationMs: 60_000 });
  t.ok(await store.useGrant('ap-timed'));
  t.ok(await store.useGrant('ap-timed'));
  await ask('ap-denied');
  await store.deny('ap-denied', sue, 'no');
  const { approvalView } = await import('../src/authorize/approvals/routes.js');
  const views = (await store.history()).map((s) => approvalView(s));
  t.same(
    views.map((v) => [v.id, v.status, v.decidedBy ?? null, v.grant?.uses ?? null]),
    [
      ['ap-denied', 'denied', 'sue', null],
      ['ap-timed', 'approved', 'sue', 2],
      ['ap-once', 'pending', null, null],
      ['ap-once', 'used', 'sue', 1],
    ],
  );
  t.match(views[1], { decidedAt: /^\d{4}-/, grant: { once: false, lastUsedAt: /^\d{4}-/ } });
});
