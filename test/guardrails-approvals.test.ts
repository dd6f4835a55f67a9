// Just-in-time approval end to end: the real kubectl refused with an
// approval id, the kubetape CLI asking for it, listing it and deciding it,
// and the same kubectl command passing on retry once a grant exists.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { approvalsCli, deleteProdPod, putProdPod } from './helpers/approvals.js';
import { sessionEvents } from './helpers/recordings.js';
import { startKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import type { RequestEvent } from '../src/model/recording.js';

const POLICY = `rules:
  - name: prod-delete-needs-approval
    match:
      namespace: prod
      verb: delete
    action: require-approval
    message: delete in prod
    approvers: [sre]
    maxGrant: 1h
`;

let h: Harness;
let dev: string; // dana, group dev
let sre: string; // sam, group sre
let sre2: string; // sue, group sre
let dev2: string; // olly, group dev: neither the requester nor an approver
const dir = mkdtempSync(join(tmpdir(), 'approvals-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\nsre2-token,sue,,"sre"\ndev2-token,olly,,"dev"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml') } });
  dev = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dev-token', name: 'dev' });
  sre = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre-token', name: 'sre' });
  sre2 = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre2-token', name: 'sre2' });
  dev2 = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dev2-token', name: 'dev2' });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  for (const p of ['web-0', 'web-1', 'web-2', 'web-3']) putPod(p);
});
t.teardown(() => h.close());

const putPod = (name: string): void => putProdPod(h, name);

const deletePod = deleteProdPod;
const podExists = async (pod: string) => (await kubectl(['get', 'pod', pod, '-n', 'prod', '-o', 'name'], { kubeconfig: sre })).stdout.trim() === `pod/${pod}`;

const cli = approvalsCli;

function approvalIdIn(text: string): string {
  const m = /approval id (ap-[0-9a-f]+)/.exec(text);
  if (!m) throw new Error(`no approval id in: ${text}`);
  return m[1];
}

async function recordedDeletes(): Promise<RequestEvent[]> {
  const out: RequestEvent[] = [];
  for (const s of await h.kt.store.listSessions())
    for (const e of await sessionEvents(h.kt.store, s.id)) if (e.type === 'request' && e.method === 'DELETE') out.push(e);
  return out;
}

let danaId = '';
let samId = '';

t.test('a request that needs approval is refused with its id and how to ask', async (t) => {
  const r = await deletePod(dev, 'web-0');
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /Error from server \(Forbidden\): delete in prod; delete pods "web-0" in namespace prod requires approval \(kubetape policy rule "prod-delete-needs-approval"\), approval id ap-[0-9a-f]+: ask for it with: kubetape approvals request ap-[0-9a-f]+ --reason "\.\.\."/,
  );
  danaId = approvalIdIn(r.stderr);
  t.ok(await podExists('web-0'), 'nothing reached the cluster');
  const again = await deletePod(dev, 'web-0');
  t.equal(approvalIdIn(again.stderr), danaId, 'a retry of the same command maps to the same id');
  const rec = (await recordedDeletes()).find((e) => e.attrs.name === 'web-0');
  t.same(
    rec?.policy,
    { action: 'require-approval', rule: 'prod-delete-needs-approval', index: 1, approval: { id: danaId } },
    'the refusal is recorded with its approval id',
  );
  const log = readFileSync(join(h.dataDir, 'approvals.ndjson'), 'utf8').trim().split('\n');
  t.equal(log.filter((l) => l.includes(danaId)).length, 1, 'one pending request in the approval log, not one per retry');
});

t.test('the requester asks with a reason; an approver lists it', async (t) => {
  const asked = await cli('request', danaId, '--reason', 'pod stuck after rollout', '--kubeconfig', dev);
  t.equal(asked.code, 0, asked.stderr);
  t.match(asked.out, `requested ${danaId}`);
  const list = await cli('list', '--kubeconfig', sre);
  t.equal(list.code, 0, list.stderr);
  t.match(list.out, new RegExp(`${danaId}  dana  \\S+  delete pods "web-0" in namespace prod .*reason: pod stuck after rollout`));
  const json = await cli('list', '--json', '--kubeconfig', sre);
  const items = JSON.parse(json.out) as Array<{ id: string; status: string; user: string }>;
  t.match(
    items.find((i) => i.id === danaId),
    { id: danaId, status: 'pending', user: 'dana' },
    'listed as pending',
  );
  // What someone asked to do in prod, and why, is theirs and their approvers' to see.
  const own = JSON.parse((await cli('list', '--json', '--kubeconfig', dev)).out) as Array<{ id: string }>;
  t.ok(
    own.some((i) => i.id === danaId),
    'the requester sees their own pending request',
  );
  const other = JSON.parse((await cli('list', '--json', '--kubeconfig', dev2)).out) as Array<{ id: string }>;
  t.notOk(
    other.some((i) => i.id === danaId),
    'a colleague who is neither the requester nor an approver does not',
  );
});

t.test('someone outside the approvers group cannot approve; nobody approves their own request', async (t) => {
  const r = await deletePod(sre, 'web-1');
  t.equal(r.code, 1);
  samId = approvalIdIn(r.stderr);
  t.not(samId, danaId, 'another person and operation, another id');
  const self = await cli('approve', samId, '--kubeconfig', sre);
  t.equal(self.code, 1);
  t.match(self.stderr, `kubetape: sam asked for ${samId} and cannot decide on their own request (HTTP 403)`);
  const outsider = await cli('approve', samId, '--kubeconfig', dev);
  t.equal(outsider.code, 1);
  t.match(outsider.stderr, `kubetape: dana may not decide on ${samId}: it can be approved by members of sre (HTTP 403)`);
  const tooLong = await cli('approve', danaId, '--for', '2h', '--kubeconfig', sre2);
  t.equal(tooLong.code, 1);
  t.match(tooLong.stderr, /at most 3600s.*\(HTTP 400\)/);
  t.ok(await podExists('web-1'));
});

t.test('a one-time approval lets the retry through once', async (t) => {
  const ok = await cli('approve', danaId, '--once', '--kubeconfig', sre2);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.out, `approved ${danaId} for dana: delete pods "web-0" in namespace prod (one use)`);
  const r = await deletePod(dev, 'web-0');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'pod "web-0" deleted');
  t.notOk(await podExists('web-0'), 'the delete reached the cluster');
  const used = (await recordedDeletes()).filter((e) => e.attrs.name === 'web-0' && e.policy?.approval?.grant);
  t.equal(used.length, 1, 'one delete went through on a grant');
  t.match(used[0]?.policy?.approval, { id: danaId, grant: /^g-[0-9a-f]+$/ }, 'the grant use is recorded');

  putPod('web-0');
  const again = await deletePod(dev, 'web-0');
  t.equal(again.code, 1, 'the one-time grant is used up');
  t.equal(approvalIdIn(again.stderr), danaId);
  t.ok(await podExists('web-0'));
});

t.test('a timed approval passes until it expires', async (t) => {
  const ok = await cli('approve', danaId, '--for', '4s', '--kubeconfig', sre2);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.out, /\(until \d{4}-/);
  const first = await deletePod(dev, 'web-0');
  t.equal(first.code, 0, first.stderr);
  putPod('web-0');
  await new Promise((r) => setTimeout(r, 4200));
  const late = await deletePod(dev, 'web-0');
  t.equal(late.code, 1, 'the grant expired');
  t.match(late.stderr, 'requires approval');
  t.ok(await podExists('web-0'));
});

t.test('a denial is shown to the requester on retry', async (t) => {
  const denied = await cli('deny', samId, '--reason', 'use the runbook', '--kubeconfig', sre2);
  t.equal(denied.code, 0, denied.stderr);
  t.match(denied.out, `denied ${samId} for sam`);
  const r = await deletePod(sre, 'web-1');
  t.equal(r.code, 1);
  t.match(r.stderr, `approval id ${samId}: denied by sue (use the runbook)`);
  const noReason = await cli('deny', danaId, '--kubeconfig', sre2);
  t.not(noReason.code, 0, '--reason is required');
  const list = await cli('list', '--json', '--kubeconfig', sre);
  t.notOk(
    (JSON.parse(list.out) as Array<{ id: string }>).some((i) => i.id === samId),
    'a denied request is no longer pending',
  );
});

t.test('a second kubetape cannot open the same data dir; the first keeps deciding approvals', async (t) => {
  // One data dir belongs to one running kubetape (DATA/kubetape.lock); replicas share approvals
  // through the AWS store instead (test/guardrails-approvals-aws.test.ts).
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: h.dataDir,
      kubeconfig: h.upstreamKubeconfig,
      tokenFile: join(dir, 'tokens.csv'),
      policyFile: join(dir, 'policy.yaml'),
    },
  );
  await t.rejects(startKubetape(config, { log: () => undefined }), /data dir .* is in use by kubetape/);
  const r = await deletePod(dev, 'web-2');
  t.equal(r.code, 1);
  const id = approvalIdIn(r.stderr);
  const ok = await cli('approve', id, '--kubeconfig', sre2);
  t.equal(ok.code, 0, ok.stderr);
  const retry = await deletePod(dev, 'web-2');
  t.equal(retry.code, 0, retry.stderr);
  t.notOk(await podExists('web-2'));
});

t.test('approvers and maxGrant are validated at load', async (t) => {
  const { parsePolicyText } = await import('../src/authorize/policy/load.js');
  const p = parsePolicyText(POLICY, 'policy.yaml');
  t.match(p.rules[0], { approvers: ['sre'], maxGrantMs: 3_600_000 });
  t.throws(
    () => parsePolicyText(POLICY.replace('maxGrant: 1h', 'maxGrant: soon'), 'policy.yaml'),
    /^policy\.yaml:9: maxGrant must be a duration such as 30m or 1h, got "soon"/,
  );
  t.throws(
    () => parsePolicyText('rules:\n  - match: {verb: get}\n    action: allow\n    approvers: [sre]\n', 'policy.yaml'),
    /^policy\.yaml:4: "approvers" only applies to require-approval rules/,
  );
});
