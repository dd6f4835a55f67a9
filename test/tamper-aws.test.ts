// Issue 12 items 1 and 6 for the AWS store (moto_server): the DynamoDB items
// readers trust without fetching chunks (the session item's user and summary
// counts, a request item's verb, a response item's exit code) are checked
// against the S3 chunks, a session whose items were deleted is found by its
// objects in the bucket, and a live session that a crash left with chunks in
// S3 not yet indexed (or indexed chunks whose items are not written yet)
// reads as "pending upload", not as tampered. Each tampering is applied to
// DynamoDB and undone before the next.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { awsEnv, awsRecording, partitionItems, provision, startMotoServer, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { newSessionId } from '../src/store/store.js';
import { emptyCounts, type RecordEvent, type SessionSummaryCounts } from '../src/model/recording.js';

const TABLE = 'kubetape-tamper';
const BUCKET = 'kubetape-tamper-test';

let moto: MotoServer;
let store: AwsStore;
let dynamo: DynamoDBClient;
const dir = mkdtempSync(join(tmpdir(), 'kubetape-tamper-aws-'));
t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision(TABLE, BUCKET);
  dynamo = new DynamoDBClient({});
  store = await AwsStore.open({
    settings: awsStoreSettings(awsRecording(TABLE, BUCKET, { chunkBytes: 2048 })),
    writable: { dataDir: dir, failMode: 'closed' },
    log: () => undefined,
  });
});
t.teardown(async () => {
  await store?.close();
  dynamo?.destroy();
  await moto?.close();
  rmSync(dir, { recursive: true, force: true });
});

const attrs = (verb: string, resource: string, namespace: string) => ({
  isResourceRequest: true,
  verb,
  apiGroup: '',
  apiVersion: 'v1',
  resource,
  subresource: '',
  namespace,
  name: '',
});

/** alice lists pods, tries to delete namespace prod (denied by policy) and execs (exit 3): ended. */
async function record(user: string, end = true): Promise<string> {
  const id = newSessionId();
  const w = await store.openSession({
    type: 'session.start',
    session: id,
    time: new Date().toISOString(),
    user,
    groups: ['dev'],
    authMethod: 'token-file',
    cluster: 'prod',
    source: '10.0.0.1',
    command: 'kubectl get',
  });
  const now = () => new Date().toISOString();
  const evs: RecordEvent[] = [
    {
      type: 'request',
      session: id,
      seq: 1,
      time: now(),
      method: 'GET',
      uri: '/api/v1/namespaces/default/pods',
      attrs: attrs('list', 'pods', 'default'),
      headers: {},
      streaming: false,
    },
    { type: 'response', session: id, seq: 1, time: now(), status: 200, durationMs: 3, bytesIn: 0, bytesOut: 100 },
    {
      type: 'request',
      session: id,
      seq: 2,
      time: now(),
      method: 'DELETE',
      uri: '/api/v1/namespaces/prod',
      attrs: { ...attrs('delete', 'namespaces', 'prod'), name: 'prod' },
      headers: {},
      streaming: false,
      policy: { action: 'deny', rule: 'no-namespace-deletion', index: 0 },
    },
    { type: 'response', session: id, seq: 2, time: now(), status: 403, durationMs: 0, bytesIn: 0, bytesOut: 200 },
    {
      type: 'request',
      session: id,
      seq: 3,
      time: now(),
      method: 'POST',
      uri: '/api/v1/namespaces/default/pods/web-0/exec?command=sh',
      attrs: { ...attrs('create', 'pods', 'default'), subresource: 'exec', name: 'web-0' },
      headers: {},
      streaming: true,
      exec: { command: ['sh'], container: 'main', tty: false, stdin: true, stdout: true, stderr: true },
    },
  ];
  for (let i = 0; i < 8; i++)
    evs.push({ type: 'stream', session: id, seq: 3, offsetMs: i, channel: 'stdout', encoding: 'utf8', data: `output ${i} `.padEnd(500, '.') });
  evs.push({ type: 'response', session: id, seq: 3, time: now(), status: 101, durationMs: 40, bytesIn: 10, bytesOut: 4000, exitCode: 3 });
  const counts: SessionSummaryCounts = emptyCounts();
  const { countEvent } = await import('../src/model/recording.js');
  for (const ev of evs) {
    countEvent(counts, ev);
    await w.append(ev, { durable: ev.type === 'request' });
  }
  if (end) await w.close({ type: 'session.end', session: id, time: now(), reason: 'idle', summary: counts });
  if (!(await store.uploaded(20_000))) throw new Error(`session ${id} was not uploaded in 20 s`);
  return id;
}

const key = (id: string, sk: string) => ({ pk: { S: `session#${id}` }, sk: { S: sk } });
async function getItem(id: string, sk: string): Promise<Record<string, AttributeValue>> {
  return (await dynamo.send(new GetItemCommand({ TableName: TABLE, Key: key(id, sk), ConsistentRead: true }))).Item!;
}
const putItem = (item: Record<string, AttributeValue>) => dynamo.send(new PutItemCommand({ TableName: TABLE, Item: item }));

interface Case {
  name: string;
  /** Changes DynamoDB; returns what puts it back. */
  tamper: (id: string) => Promise<() => Promise<void>>;
  says: RegExp;
}

/** Edits one item, returning its restore. */
async function edit(id: string, sk: string, f: (it: Record<string, AttributeValue>) => void): Promise<() => Promise<void>> {
  const before = await getItem(id, sk);
  const after = structuredClone(before);
  f(after);
  await putItem(after);
  return async () => void (await putItem(before));
}

const CASES: Case[] = [
  {
    name: "the session item's user",
    tamper: (id) => edit(id, 'session', (it) => (it['user'] = { S: 'mallory' })),
    says: /the session item differs from the recording's session start: user is "mallory" in DynamoDB, "alice" in the recording/,
  },
  {
    name: 'the summary counts (the refusal disappears from --refused)',
    tamper: (id) => edit(id, 'session', (it) => (it['guardrails'].M!['denied'] = { N: '0' })),
    says: /the session item's summary differs from the recording: guardrails is \{.*"denied":0.*\} in DynamoDB/,
  },
  {
    name: "a request item's verb",
    tamper: (id) => edit(id, 'request#00000002', (it) => (it['verb'] = { S: 'get' })),
    says: /DynamoDB item request#00000002 differs from the recording \(chunk \d+\): verb is "get" in DynamoDB, "delete" in the recording/,
  },
  {
    name: "a response item's exitCode",
    tamper: (id) => edit(id, 'request#00000003#response', (it) => (it['exitCode'] = { N: '0' })),
    says: /DynamoDB item request#00000003#response differs from the recording \(chunk \d+\): exitCode is 0 in DynamoDB, 3 in the recording/,
  },
  {
    name: 'a request item deleted',
    tamper: async (id) => {
      const before = await getItem(id, 'request#00000002');
      await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key: key(id, 'request#00000002') }));
      return async () => void (await putItem(before));
    },
    says: /DynamoDB item request#00000002 is missing \(deleted\): the recording holds it in chunk \d+/,
  },
  {
    name: 'the session item deleted',
    tamper: async (id) => {
      const before = await getItem(id, 'session');
      await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key: key(id, 'session') }));
      return async () => void (await putItem(before));
    },
    says: /its session item is missing from DynamoDB \(deleted\): S3 holds \d+ objects of it under recordings\//,
  },
  {
    name: "the whole session's DynamoDB items deleted",
    tamper: async (id) => {
      const items = await partitionItems(TABLE, `session#${id}`);
      for (const it of items)
        await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: it['pk'] as AttributeValue, sk: it['sk'] as AttributeValue } }));
      return async () => {
        for (const it of items) await putItem(it as Record<string, AttributeValue>);
      };
    },
    says: /its session item is missing from DynamoDB \(deleted\): S3 holds \d+ objects of it/,
  },
];

t.test('every tampering of the DynamoDB items is named by verify --all', async (t) => {
  const id = await record('alice');
  const other = await record('bob');
  const clean = await store.verifyAll();
  t.ok(clean.ok, `intact: ${clean.sessions.map((s) => s.problem ?? 'ok').join('; ')}`);
  t.same(clean.sessions.map((s) => s.id).filter((x) => x === id || x === other).length, 2, 'both sessions checked');
  for (const c of CASES) {
    const restore = await c.tamper(id);
    const r = await store.verifyAll();
    const mine = r.sessions.find((s) => s.id === id);
    t.notOk(r.ok, `${c.name}: the store does not verify`);
    t.match(mine?.problem, c.says, `${c.name}: ${mine?.problem ?? 'not reported'}`);
    t.ok(r.sessions.find((s) => s.id === other)?.ok, `${c.name}: the other session still verifies`);
    await restore();
  }
  t.ok((await store.verifyAll()).ok, 'restored: intact again');
});

t.test('a crash that left a live session half uploaded reads as pending upload, not as tampering', async (t) => {
  const id = await record('carol', false); // live: the session never ends
  const chunks = (await partitionItems(TABLE, `session#${id}`)).filter((i) => (i['sk'] as AttributeValue).S!.startsWith('chunk#'));
  t.ok(chunks.length >= 2, `several chunks (${chunks.length})`);
  const live = await store.verify(id);
  t.ok(live.ok, live.problem ?? 'intact');
  t.equal(live.state, 'live');

  // The last chunk was put to S3, then kubetape was killed before it was indexed and its items were written.
  const last = chunks.sort((a, b) => ((a['sk'] as AttributeValue).S! < (b['sk'] as AttributeValue).S! ? -1 : 1))[chunks.length - 1];
  const lastSeq = Number((last['seq'] as AttributeValue).N);
  const itemsOfLast = (await partitionItems(TABLE, `session#${id}`)).filter((i) => (i['chunk'] as AttributeValue | undefined)?.N === String(lastSeq));
  for (const it of [last, ...itemsOfLast])
    await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: it['pk'] as AttributeValue, sk: it['sk'] as AttributeValue } }));
  const pending = await store.verify(id);
  t.ok(pending.ok, `not BROKEN: ${pending.problem ?? ''}`);
  t.equal(pending.state, 'live, pending upload');
  t.match(pending.notes.join(' '), new RegExp(`pending upload: chunk ${lastSeq} in S3, not yet indexed`));

  // The same state on a finished session is tampering: its items must all be there.
  const id2 = await record('dave');
  const c2 = (await partitionItems(TABLE, `session#${id2}`)).filter((i) => (i['sk'] as AttributeValue).S!.startsWith('chunk#'));
  const l2 = c2.sort((a, b) => ((a['sk'] as AttributeValue).S! < (b['sk'] as AttributeValue).S! ? -1 : 1))[c2.length - 1];
  await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: l2['pk'] as AttributeValue, sk: l2['sk'] as AttributeValue } }));
  const broken = await store.verify(id2);
  t.notOk(broken.ok, 'a finished session missing its last chunk item is BROKEN');
  t.match(broken.problem, /manifest counts \d+ chunks, the index \d+|unexpected object/);
});
