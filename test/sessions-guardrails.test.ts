// Guardrail decisions are searchable in `kubetape sessions list`: the real
// kubectl through kubetape with the example policy (a refused delete in
// prod, a masked secret read, a plain list, an approved-then-retried delete),
// then the CLI's --refused, --rule, --approved, its --json counts and its
// GUARDRAILS column; in the local store (live and ended sessions) and
// through the DynamoDB index of the AWS store.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { cliFromSource } from './helpers/streams.js';
import { awsEnv, awsRecording, provision, startMotoServer, useAwsEnv } from './helpers/aws-store.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { awsStoreSettings } from '../src/store/settings.js';
import type { RecordingConfig } from '../src/store/settings.js';
import type { SessionSummary } from '../src/model/recording.js';

const POLICY = resolve('examples/policy.yaml');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Local recording; sessions end after 2 s idle so both the live (from the session file) and the ended (from the index) path are exercised. */
const LOCAL_RECORDING: RecordingConfig = { maxBodyBytes: 1024 * 1024, maxStreamBytes: 64 * 1024 * 1024, sessionIdleSeconds: 2, failMode: 'closed' };

const dir = mkdtempSync(join(tmpdir(), 'sessions-guardrails-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\nsre2-token,sue,,"sre"\n');

function seed(h: Harness): void {
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  for (const name of ['web-0', 'web-1'])
    h.api.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'prod' }, spec: { containers: [{ name: 'main', image: 'nginx' }] } });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, type: 'Opaque', data: { password: b64('hunter2') } });
}

function kubeconfigs(h: Harness) {
  return {
    dev: writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dev-token', name: 'dev' }),
    sre: writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre-token', name: 'sre' }),
    sre2: writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre2-token', name: 'sre2' }),
  };
}

async function listCli(...args: string[][]): Promise<Array<{ code: number; out: string; err: string }>> {
  const rs = await cliFromSource(args.map((a) => ['sessions', 'list', ...a]));
  return rs.map((r) => ({ code: r.code, out: r.stdout.toString('utf8'), err: r.stderr }));
}

const ids = (list: SessionSummary[]) => list.map((s) => s.id).sort();

t.test('local store: --refused, --rule, --approved, --json counts and the GUARDRAILS column', async (t) => {
  const h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: POLICY, recording: LOCAL_RECORDING } });
  t.teardown(() => h.close());
  seed(h);
  const k = kubeconfigs(h);

  const refusedRun = await kubectl(['delete', 'pod', 'web-0', '-n', 'prod', '--wait=false'], { kubeconfig: k.sre });
  t.equal(refusedRun.code, 1);
  t.match(refusedRun.stderr, /requires approval \(kubetape policy rule "prod-delete-needs-approval"\)/);
  // Still live (idle 2 s): a live session is judged on its own file, like --verb and --namespace.
  const live = await h.kt.store.listSessions({ refused: true });
  t.equal(live.length, 1, 'the live session is found by what it has recorded so far');
  t.equal(live[0]?.state, 'live');
  t.equal(live[0]?.guardrails?.approvalRefused, 1);

  const maskedRun = await kubectl(['get', 'secret', 'db', '-o', 'yaml'], { kubeconfig: k.dev });
  t.equal(maskedRun.code, 0, maskedRun.stderr);
  t.notMatch(maskedRun.stdout, b64('hunter2'), 'the read was masked');
  const plainRun = await kubectl(['get', 'pods', '-n', 'default'], { kubeconfig: k.dev });
  t.equal(plainRun.code, 0, plainRun.stderr);
  await sleep(2600);

  const all = await h.kt.store.listSessions();
  t.ok(
    all.every((s) => s.state === 'ended'),
    'every session ended: summaries now come from the index',
  );
  const refused = all.find((s) => s.user === 'sam' && s.command === 'kubectl delete')!;
  const masked = all.find((s) => s.user === 'dana' && s.resources.includes('secrets'))!;
  const plain = all.find((s) => s.user === 'dana' && s.resources.includes('pods'))!;
  t.ok(refused && masked && plain, 'the three sessions are listed');

  const [json, onlyRefused, byRule, byMaskRule, human, none] = await listCli(
    ['--json', '--data-dir', h.dataDir],
    ['--refused', '--json', '--data-dir', h.dataDir],
    ['--rule', 'prod-delete-needs-approval', '--json', '--data-dir', h.dataDir],
    ['--rule', 'mask-secret-values', '--json', '--data-dir', h.dataDir],
    ['--data-dir', h.dataDir],
    ['--approved', '--data-dir', h.dataDir],
  );
  for (const r of [json, onlyRefused, byRule, byMaskRule, human, none]) t.equal(r.code, 0, r.err);

  const listed = JSON.parse(json.out) as SessionSummary[];
  const byId = (id: string) => listed.find((s) => s.id === id);
  t.match(
    byId(refused.id)?.guardrails,
    { denied: 0, approvalRefused: 1, masked: 0, granted: 0, refusedBy: ['prod-delete-needs-approval'], rules: ['prod-delete-needs-approval'] },
    '--json carries the refusal and its rule',
  );
  t.match(byId(masked.id)?.guardrails, { denied: 0, approvalRefused: 0, granted: 0, refusedBy: [], rules: ['mask-secret-values'] });
  t.ok((byId(masked.id)?.guardrails?.masked ?? 0) >= 1, 'the masked read is counted');
  t.equal(byId(plain.id)?.guardrails, undefined, 'no rule decided anything in the plain session');

  t.same(ids(JSON.parse(onlyRefused.out) as SessionSummary[]), [refused.id], '--refused shows only the refused session');
  t.same(ids(JSON.parse(byRule.out) as SessionSummary[]), [refused.id], '--rule finds what the rule stopped');
  t.same(ids(JSON.parse(byMaskRule.out) as SessionSummary[]), [masked.id], '--rule also finds a rule that decided without refusing');
  t.match(none.out, 'No sessions recorded match those filters.', 'nothing went through on a grant yet');

  t.match(human.out, /^ID\s+STARTED\s+USER\s+CLUSTER\s+COMMAND\s+REQUESTS\s+STATE\s+GUARDRAILS$/m);
  const row = (id: string) => human.out.split('\n').find((l) => l.startsWith(id)) ?? '';
  t.match(row(refused.id), /ended\s+1 refused$/, 'the refused session is marked');
  t.match(row(masked.id), /ended\s+\d+ masked$/);
  t.match(row(plain.id), /ended\s+-$/);

  // Approved, then retried: dana asks, sue approves once, dana's retry goes through on the grant.
  const first = await kubectl(['delete', 'pod', 'web-1', '-n', 'prod', '--wait=false'], { kubeconfig: k.dev });
  t.equal(first.code, 1);
  const approval = /approval id (ap-[0-9a-f]+)/.exec(first.stderr)?.[1];
  t.ok(approval, first.stderr);
  const [asked, approved] = await cliFromSource([
    ['approvals', 'request', approval!, '--reason', 'stuck pod', '--kubeconfig', k.dev],
    ['approvals', 'approve', approval!, '--once', '--kubeconfig', k.sre2],
  ]);
  t.equal(asked.code, 0, asked.stderr);
  t.equal(approved.code, 0, approved.stderr);
  const retry = await kubectl(['delete', 'pod', 'web-1', '-n', 'prod', '--wait=false'], { kubeconfig: k.dev });
  t.equal(retry.code, 0, retry.stderr);
  await sleep(2600);

  const [grants, grantsHuman, refusedNow] = await listCli(
    ['--approved', '--json', '--data-dir', h.dataDir],
    ['--approved', '--data-dir', h.dataDir],
    ['--refused', '--user', 'dana', '--json', '--data-dir', h.dataDir],
  );
  const withGrant = JSON.parse(grants.out) as SessionSummary[];
  t.equal(withGrant.length, 1, '--approved shows the retried delete only');
  t.match(withGrant[0], { user: 'dana', command: 'kubectl delete', guardrails: { granted: 1, approvalRefused: 0, refusedBy: [] } });
  t.match(grantsHuman.out, /1 grant$/m);
  const danaRefused = JSON.parse(refusedNow.out) as SessionSummary[];
  t.equal(danaRefused.length, 1, "dana's first, refused attempt is a refused session");
  t.not(danaRefused[0]?.id, withGrant[0]?.id);
});

t.test('AWS store: the guardrail counts round-trip through the DynamoDB session item', async (t) => {
  const moto = await startMotoServer();
  t.teardown(() => moto.close());
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  const table = 'kubetape-sessions';
  const bucket = 'kubetape-guardrails-test';
  await provision(table, bucket);
  const recording = awsRecording(table, bucket);
  const aws = await AwsStore.open({
    settings: awsStoreSettings(recording),
    writable: { dataDir: join(dir, 'aws-spool'), failMode: 'closed' },
    log: () => undefined,
  });
  const h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: POLICY, recording }, start: { store: aws } });
  t.teardown(() => h.close());
  seed(h);
  const k = kubeconfigs(h);

  t.equal((await kubectl(['delete', 'pod', 'web-0', '-n', 'prod', '--wait=false'], { kubeconfig: k.sre })).code, 1);
  t.equal((await kubectl(['get', 'pods', '-n', 'default'], { kubeconfig: k.dev })).code, 0);
  await sleep(1500);
  t.ok(await aws.uploaded(20_000), 'the spool drained');

  const refused = await aws.listSessions({ refused: true });
  t.equal(refused.length, 1, '--refused from the DynamoDB index');
  t.match(refused[0], {
    user: 'sam',
    state: 'ended',
    guardrails: { approvalRefused: 1, denied: 0, granted: 0, refusedBy: ['prod-delete-needs-approval'], rules: ['prod-delete-needs-approval'] },
  });
  t.same((await aws.summary(refused[0].id))?.guardrails, refused[0].guardrails, 'the session item holds the same counts');
  t.same(
    (await aws.listSessions({ rule: 'prod-delete-needs-approval' })).map((s) => s.id),
    [refused[0].id],
  );
  t.equal((await aws.listSessions({ approved: true })).length, 0);
  const plain = (await aws.listSessions({ user: 'dana' }))[0];
  t.equal(plain?.guardrails, undefined, 'a session no rule decided has no guardrails attribute');
});
