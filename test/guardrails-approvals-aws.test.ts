// Approval state in the DynamoDB recording table: two kubetape instances
// with their own data dirs and one table (moto_server) agree on requests,
// decisions and grants, and a one-time grant is taken by one of them only.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { writeKubeconfig } from './helpers/kubectl.js';
import { cliFromSource } from './helpers/streams.js';
import { deleteProdPod, putProdPod } from './helpers/approvals.js';
import { httpsCall } from './helpers/https-call.js';
import { awsEnv, awsRecording, partitionItems, provision, startMotoServer, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import { APPROVALS_PK } from '../src/authorize/approvals/dynamo-store.js';

const TABLE = 'approvals-shared';
const BUCKET = 'approvals-shared';
const POLICY = `rules:
  - name: prod-delete-needs-approval
    match:
      namespace: prod
      verb: delete
    action: require-approval
    approvers: [sre]
    maxGrant: 1h
`;

let moto: MotoServer;
let a: Harness;
let b: Harness;
const dir = mkdtempSync(join(tmpdir(), 'approvals-aws-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const kc = (h: Harness, token: string, name: string) => writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token, name });
const putPod = putProdPod;
const deletePod = deleteProdPod;

function approvalIdIn(text: string): string {
  const m = /approval id (ap-[0-9a-f]+)/.exec(text);
  if (!m) throw new Error(`no approval id in: ${text}`);
  return m[1];
}

/** The approvals API of one instance, as the sre approver sue. */
const api = (h: Harness, path: string, body?: unknown) =>
  httpsCall(`${h.kt.url}/kubetape/v1/approvals${path}`, {
    ca: h.kt.ca,
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: 'Bearer sre-token', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision(TABLE, BUCKET);
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sue,,"sre"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const config = { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml'), recording: awsRecording(TABLE, BUCKET) };
  a = await startHarness({ config });
  b = await startHarness({ config });
  for (const h of [a, b]) {
    h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
    for (const p of ['web-0', 'web-1']) putPod(h, p);
  }
});
t.teardown(async () => {
  await a?.close();
  await b?.close();
  await moto?.close();
});

t.test('refused on one instance, approved through the other, the retry passes on the first', async (t) => {
  const devA = kc(a, 'dev-token', 'dev-a');
  const refused = await deletePod(devA, 'web-0');
  t.equal(refused.code, 1);
  t.match(refused.stderr, /requires approval .*approval id ap-/);
  const id = approvalIdIn(refused.stderr);

  const listed = await api(b, '');
  t.equal(listed.status, 200, listed.body);
  t.match(JSON.parse(listed.body), { items: [{ id, status: 'pending', user: 'dana' }] }, 'the other instance lists the request');
  const cli = await cliFromSource([['approvals', 'approve', id, '--once', '--kubeconfig', kc(b, 'sre-token', 'sre-b')]]);
  t.equal(cli[0].code, 0, cli[0].stderr);
  t.match(cli[0].stdout.toString(), `approved ${id} for dana`);

  const retry = await deletePod(devA, 'web-0');
  t.equal(retry.code, 0, retry.stderr);
  t.match(retry.stdout, 'pod "web-0" deleted');
  t.notOk(a.api.objects.get('pods', 'prod', 'web-0'), 'the delete reached the first instance’s cluster');

  t.notOk(existsSync(join(a.dataDir, 'approvals.ndjson')) || existsSync(join(b.dataDir, 'approvals.ndjson')), 'no approval state in the data dirs');
  const items = await partitionItems(TABLE, APPROVALS_PK);
  const kinds = items
    .map((i) => JSON.parse((i['entry'] as { S?: string } | undefined)?.S ?? '{}') as { type?: string; id?: string })
    .filter((e) => e.id === id)
    .map((e) => e.type);
  t.same(kinds, ['request', 'decision', 'use'], 'request, decision and use are items in the table, in order');
  t.ok(
    items.every((i) => (i['expiresAt'] as { N?: string } | undefined)?.N),
    'every approval item carries the TTL attribute',
  );
});

t.test('a one-time grant used on one instance is refused on the other', async (t) => {
  const devA = kc(a, 'dev-token', 'dev-a2');
  const devB = kc(b, 'dev-token', 'dev-b2');
  const refused = await deletePod(devB, 'web-1');
  t.equal(refused.code, 1);
  const id = approvalIdIn(refused.stderr);
  const ok = await api(a, `/${id}/approve`, { once: true });
  t.equal(ok.status, 200, ok.body);
  t.match(JSON.parse(ok.body), { id, status: 'approved', grant: { once: true, uses: 0 } });

  // Both instances read the grant as usable (b's cache is warmed right before the race).
  const [onA, onB] = await Promise.all([deletePod(devA, 'web-1'), deletePod(devB, 'web-1')]);
  t.same([onA.code, onB.code].sort(), [0, 1], 'exactly one of two simultaneous uses passes');
  const loser = onA.code === 1 ? onA : onB;
  t.match(loser.stderr, `approval id ${id}`);

  putPod(a, 'web-1');
  putPod(b, 'web-1');
  const again = await deletePod(devA, 'web-1');
  t.equal(again.code, 1, 'the grant stays used up');
  const b2 = await deletePod(devB, 'web-1');
  t.equal(b2.code, 1, 'on both instances');
  const items = await partitionItems(TABLE, APPROVALS_PK);
  t.equal(items.filter((i) => (i['sk'] as { S?: string }).S?.startsWith('use#')).length, 2, 'one claim item per one-time grant taken');
});

t.test('two replicas racing for one one-time grant: the conditional write lets one win', async (t) => {
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { DynamoApprovalStore } = await import('../src/authorize/approvals/dynamo-store.js');
  const clients = [new DynamoDBClient({}), new DynamoDBClient({})];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  const [one, two] = clients.map((client) => new DynamoApprovalStore({ client, table: TABLE, retentionDays: 1 }));
  const id = 'ap-race00000000';
  await one.request({ id, user: 'dana', cluster: 'fake', what: 'delete pods "x"', rule: 'r', approvers: ['sre'], maxGrantMs: 60_000 });
  await two.approve(id, { user: 'sue', groups: ['sre'] }, { once: true });
  // Both caches now hold the grant as unused, as two busy replicas would.
  t.equal((await one.get(id, true))?.grant?.uses, 0);
  t.equal((await two.get(id, true))?.grant?.uses, 0);
  const got = await Promise.all([one.useGrant(id), two.useGrant(id)]);
  t.equal(got.filter(Boolean).length, 1, 'one replica gets the grant, the other is refused');
  t.equal((await one.get(id, true))?.grant?.uses, 1, 'one use in the log');
});
