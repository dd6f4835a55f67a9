// Issue 12 item 2 for the AWS store (moto_server): checkpoints of the chain
// heads, MAC'd with a KMS HMAC key and written into an Object Lock bucket,
// anchor what the table and the bucket alone cannot: a session deleted whole
// (its DynamoDB items, and its objects behind delete markers) is named by the
// checkpoint that recorded it; a recording rewritten with its chain, its
// DynamoDB hashes and its manifest recomputed (which passes the per-session
// check) fails against the head a checkpoint recorded; a checkpoint deleted,
// overwritten, or forged with another KMS key is reported. Each tampering is
// undone before the next. And crash recovery with a zombie owner: the next
// kubetape takes the spool over and the checkpoint chain carries on.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DeleteItemCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { awsEnv, awsRecording, partitionItems, startMotoServer, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import { ensureTable } from '../src/store/aws/create-table.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { kmsCall, kmsMac } from '../src/store/aws/kms-mac.js';
import { signedBytes, type Checkpoint } from '../src/store/aws/checkpoints.js';
import { md5Base64, sha256Hex } from '../src/store/aws/chunk-format.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { newSessionId } from '../src/store/store.js';
import { countEvent, emptyCounts, type RecordEvent } from '../src/model/recording.js';
import { bootId, processStartTime, processState } from '../src/store/process-identity.js';

const TABLE = 'kubetape-anchored';
const BUCKET = 'kubetape-anchored-test';

let moto: MotoServer;
let store: AwsStore;
let dynamo: DynamoDBClient;
let s3: S3Client;
let keyId = '';
const dir = mkdtempSync(join(tmpdir(), 'kubetape-anchored-'));

t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  dynamo = new DynamoDBClient({});
  s3 = new S3Client({ forcePathStyle: true });
  await ensureTable(dynamo, TABLE);
  // The bucket as infra/ makes it: versioned, Object Lock, a default retention.
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }));
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket: BUCKET,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } },
    }),
  );
  const key = await kmsCall(dynamo, 'CreateKey', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'kubetape checkpoints' });
  keyId = String((key['KeyMetadata'] as { KeyId: string }).KeyId);
  store = await AwsStore.open({
    settings: awsStoreSettings(awsRecording(TABLE, BUCKET, { chunkBytes: 2048, checkpointKmsKeyId: keyId, checkpointSeconds: 1 })),
    writable: { dataDir: dir, failMode: 'closed' },
    log: () => undefined,
  });
});
t.teardown(async () => {
  await store?.close();
  dynamo?.destroy();
  s3?.destroy();
  await moto?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One ended session: a request, its response, and an exec's output over several chunks. */
async function record(user: string): Promise<string> {
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
  });
  const now = () => new Date().toISOString();
  const attrs = {
    isResourceRequest: true,
    verb: 'create',
    apiGroup: '',
    apiVersion: 'v1',
    resource: 'pods',
    subresource: 'exec',
    namespace: 'default',
    name: 'web-0',
  };
  const evs: RecordEvent[] = [
    {
      type: 'request',
      session: id,
      seq: 1,
      time: now(),
      method: 'POST',
      uri: '/api/v1/namespaces/default/pods/web-0/exec',
      attrs,
      headers: {},
      streaming: true,
    },
  ];
  for (let i = 0; i < 8; i++)
    evs.push({ type: 'stream', session: id, seq: 1, offsetMs: i, channel: 'stdout', encoding: 'utf8', data: `output ${i} `.padEnd(500, '.') });
  evs.push({ type: 'response', session: id, seq: 1, time: now(), status: 101, durationMs: 40, bytesIn: 0, bytesOut: 4000, exitCode: 0 });
  const counts = emptyCounts();
  for (const ev of evs) {
    countEvent(counts, ev);
    await w.append(ev, { durable: ev.type === 'request' });
  }
  await w.close({ type: 'session.end', session: id, time: now(), reason: 'idle', summary: counts });
  if (!(await store.uploaded(20_000))) throw new Error(`session ${id} was not uploaded and checkpointed in 20 s`);
  return id;
}

const get = async (key: string, versionId?: string): Promise<Buffer> =>
  Buffer.from(
    await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...(versionId ? { VersionId: versionId } : {}) }))).Body!.transformToByteArray(),
  );
const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentMD5: md5Base64(body) }));
async function versions(prefix: string) {
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return { versions: r.Versions ?? [], markers: r.DeleteMarkers ?? [] };
}
/** Removes what a tampering added: delete markers, and versions newer than the first (as an administrator bypassing governance could). */
async function undoVersions(prefix: string): Promise<void> {
  const { versions: vs, markers } = await versions(prefix);
  for (const m of markers) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: m.Key, VersionId: m.VersionId }));
  const byKey = new Map<string, typeof vs>();
  for (const v of vs) byKey.set(v.Key!, [...(byKey.get(v.Key!) ?? []), v]);
  for (const [key, list] of byKey) {
    const sorted = [...list].sort((a, b) => a.LastModified!.getTime() - b.LastModified!.getTime());
    for (const v of sorted.slice(1))
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: v.VersionId, BypassGovernanceRetention: true }));
  }
}
const prefixOf = async (id: string): Promise<string> =>
  (await partitionItems(TABLE, `session#${id}`)).map((i) => i['s3Prefix'] as { S: string } | undefined).find(Boolean)!.S;

let A = '';
let B = '';
let C = '';

t.test('recorded sessions verify clean, anchored by signed checkpoints under Object Lock', async (t) => {
  A = await record('alice');
  B = await record('bob');
  C = await record('carol');
  const r = await store.verifyAll();
  t.ok(r.ok, `intact: ${[...r.problems, ...r.sessions.map((s) => s.problem ?? 'ok')].join('; ')}`);
  t.same(
    [A, B, C].map((id) => r.sessions.find((s) => s.id === id)?.ok),
    [true, true, true],
  );
  t.match(r.anchor, new RegExp(`anchored by \\d+ checkpoints? in s3://${BUCKET}/recordings/checkpoints/, signed with the KMS key ${keyId}`));
  t.match(r.anchor, /under Object Lock \(GOVERNANCE, the newest until \S+\)/);
  const { versions: cps } = await versions('recordings/checkpoints/');
  t.ok(cps.length >= 1, `checkpoint objects in the bucket (${cps.length})`);
  const first = JSON.parse((await get(cps[0].Key!)).toString()) as Checkpoint;
  t.ok(await kmsMac(keyId, dynamo).verify(signedBytes(first), first.mac!), 'its MAC verifies with the KMS key');
});

t.test('a whole session deleted (its DynamoDB items and its objects) is named by the checkpoint that recorded it', async (t) => {
  const items = await partitionItems(TABLE, `session#${B}`);
  for (const it of items)
    await dynamo.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: it['pk'] as AttributeValue, sk: it['sk'] as AttributeValue } }));
  const prefix = await prefixOf(A).then(() => (items.find((i) => i['s3Prefix'])!['s3Prefix'] as { S: string }).S);
  for (const v of (await versions(prefix)).versions) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: v.Key }));
  const listed = await store.listSessions();
  t.notOk(
    listed.some((s) => s.id === B),
    'sessions list no longer shows it',
  );
  const r = await store.verifyAll();
  t.notOk(r.ok, 'verify --all fails');
  t.match(
    r.sessions.find((s) => s.id === B)?.problem,
    new RegExp(
      `session ${B} is missing: checkpoint [0-9a-f]+/\\d+ of \\S+ names it \\(ended, \\d+ chunks, head [0-9a-f]{12}…\\), and neither its DynamoDB items nor its S3 objects remain \\(deleted\\)`,
    ),
  );
  t.ok(r.sessions.find((s) => s.id === A)?.ok, 'the other sessions still verify');
  for (const it of items) await dynamo.send(new PutItemCommand({ TableName: TABLE, Item: it as Record<string, AttributeValue> }));
  await undoVersions(prefix);
  t.ok((await store.verifyAll()).ok, 'restored: intact again');
});

t.test('a recording rewritten with its chain, DynamoDB hashes and manifest recomputed fails against the checkpoint', async (t) => {
  const prefix = await prefixOf(A);
  const items = await partitionItems(TABLE, `session#${A}`);
  const chunks = items
    .filter((i) => (i['sk'] as AttributeValue).S!.startsWith('chunk#'))
    .sort((a, b) => ((a['sk'] as AttributeValue).S! < (b['sk'] as AttributeValue).S! ? -1 : 1));
  const texts = await Promise.all(chunks.map(async (c) => gunzipSync(await get((c['key'] as AttributeValue).S!)).toString('utf8')));
  const edited = texts.findIndex((x) => x.includes('output 5'));
  t.ok(edited > 0, `chunk ${edited} holds an output line`);
  // What an attacker with the table and the bucket (not the KMS key) would do: edit, then recompute every hash after it.
  let prev = (chunks[edited]['prev'] as AttributeValue).S!;
  for (let i = edited; i < chunks.length; i++) {
    const [header, ...rest] = texts[i].split('\n');
    const h = JSON.parse(header) as { prev: string };
    h.prev = prev;
    const body = Buffer.from([JSON.stringify(h), ...rest].join('\n').replace('output 5', 'OUTPUT 5'));
    const sha = sha256Hex(body);
    await put((chunks[i]['key'] as AttributeValue).S!, gzipSync(body));
    await dynamo.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { pk: chunks[i]['pk'] as AttributeValue, sk: chunks[i]['sk'] as AttributeValue },
        UpdateExpression: 'SET sha256 = :s, prev = :p',
        ExpressionAttributeValues: { ':s': { S: sha }, ':p': { S: prev } },
      }),
    );
    prev = sha;
  }
  await dynamo.send(
    new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: `session#${A}` }, sk: { S: 'session' } },
      UpdateExpression: 'SET headHash = :s',
      ExpressionAttributeValues: { ':s': { S: prev } },
    }),
  );
  const manifest = JSON.parse((await get(`${prefix}manifest.json`)).toString()) as { head: string };
  manifest.head = prev;
  await put(`${prefix}manifest.json`, Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));

  const alone = await store.verify(A);
  t.ok(alone.ok, `the session's own chain and items are consistent again: ${alone.problem ?? 'intact'}`);
  const r = await store.verifyAll();
  t.notOk(r.ok, 'verify --all fails');
  t.match(
    r.sessions.find((s) => s.id === A)?.problem,
    /chunk \d+ is not the one checkpoint [0-9a-f]+\/\d+ of \S+ recorded \(its hash differs\): the recording was rewritten, its chain recomputed/,
  );
  await undoVersions(prefix);
  for (const it of items) await dynamo.send(new PutItemCommand({ TableName: TABLE, Item: it as Record<string, AttributeValue> }));
  t.ok((await store.verifyAll()).ok, 'restored: intact again');
});

t.test('a checkpoint deleted, overwritten, or forged with another KMS key is reported', async (t) => {
  const { versions: cps } = await versions('recordings/checkpoints/');
  const key = cps[0].Key!;

  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  let r = await store.verifyAll();
  t.notOk(r.ok);
  t.match(r.problems.join('\n'), new RegExp(`checkpoint ${key} was deleted: a delete marker hides it`));
  await undoVersions('recordings/checkpoints/');

  // Forged: the checkpoint rewritten to drop a session, MAC'd with the attacker's own KMS key.
  const other = String(
    ((await kmsCall(dynamo, 'CreateKey', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))['KeyMetadata'] as { KeyId: string }).KeyId,
  );
  const cp = JSON.parse((await get(key)).toString()) as Checkpoint;
  cp.sessions = cp.sessions.slice(1);
  cp.mac = await kmsMac(other, dynamo).generate(signedBytes(cp));
  await put(key, Buffer.from(JSON.stringify(cp)));
  r = await store.verifyAll();
  t.notOk(r.ok);
  t.match(r.problems.join('\n'), new RegExp(`checkpoint ${key} was overwritten: the bucket holds 2 versions of it`));
  await undoVersions('recordings/checkpoints/');

  // Forged as the next checkpoint (a new key, no overwrite): its MAC is not the KMS key's.
  const next = key.replace(/(\d{10})\.json$/, (_m, n: string) => `${String(Number(n) + 1000).padStart(10, '0')}.json`);
  const fake = { ...cp, seq: cp.seq + 1000, sessions: [] };
  fake.mac = await kmsMac(other, dynamo).generate(signedBytes(fake));
  await put(next, Buffer.from(JSON.stringify(fake)));
  r = await store.verifyAll();
  t.notOk(r.ok);
  t.match(r.problems.join('\n'), /does not verify with the KMS key/);
  t.match(r.problems.join('\n'), /checkpoint [0-9a-f]+\/\d+ is missing/, 'the gap before it is named too');
  await s3.send(
    new DeleteObjectCommand({ Bucket: BUCKET, Key: next, VersionId: (await versions(next)).versions[0].VersionId, BypassGovernanceRetention: true }),
  );
  t.ok((await store.verifyAll()).ok, 'restored: intact again');
});

t.test(
  'after a kill -9 whose pid is left a zombie, the next kubetape takes the spool over, finishes the session and carries the checkpoint chain on',
  async (t) => {
    const data = mkdtempSync(join(tmpdir(), 'kubetape-anchored-crash-'));
    t.teardown(() => rmSync(data, { recursive: true, force: true }));
    const settings = awsStoreSettings(awsRecording(TABLE, BUCKET, { chunkBytes: 2048, checkpointKmsKeyId: keyId, checkpointSeconds: 1 }));
    // A session left live: its events spooled and uploaded, never ended (the first kubetape died).
    const first = await AwsStore.open({ settings, writable: { dataDir: data, failMode: 'closed' }, log: () => undefined });
    const id = newSessionId();
    const w = await first.openSession({
      type: 'session.start',
      session: id,
      time: new Date().toISOString(),
      user: 'erin',
      groups: [],
      authMethod: 'token-file',
      cluster: 'prod',
      source: '10.0.0.2',
    });
    for (let i = 0; i < 6; i++)
      await w.append({ type: 'stream', session: id, seq: 1, offsetMs: i, channel: 'stdout', encoding: 'utf8', data: `crash ${i} `.padEnd(600, '.') });
    await first.close();

    // The spool's owner was a process now a zombie: killed, its parent not reaping it (its pid and start time still match).
    const holder = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.teardown(() => void holder.kill('SIGKILL'));
    const zombie = await new Promise<number>((res) => holder.stdout.once('data', (c: Buffer) => res(Number(c.toString().trim()))));
    for (let i = 0; i < 200 && processState(zombie) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(processState(zombie), 'Z', `pid ${zombie} is a zombie`);
    const owner = join(data, 'spool', 'owner.json');
    const identity = (pid: number) => ({ pid, startTime: processStartTime(pid), bootId: bootId() });
    // A live owner is respected (the check is real) ...
    writeFileSync(owner, JSON.stringify(identity(holder.pid!)));
    await t.rejects(AwsStore.open({ settings, writable: { dataDir: data, failMode: 'closed' }, log: () => undefined }), /in use by another kubetape/);
    // ... a zombie is not.
    writeFileSync(owner, JSON.stringify(identity(zombie)));
    const second = await AwsStore.open({ settings, writable: { dataDir: data, failMode: 'closed' }, log: () => undefined });
    t.ok(await second.uploaded(20_000), 'the restart finishes what the dead one left');
    await second.close();
    const r = await store.verifyAll();
    t.ok(r.ok, `intact: ${[...r.problems, ...r.sessions.map((s) => s.problem ?? 'ok')].join('; ')}`);
    t.match(
      r.sessions.find((s) => s.id === id),
      { ok: true, state: 'interrupted' },
    );
    const { versions: cps } = await versions('recordings/checkpoints/');
    const named = await Promise.all(cps.map(async (v) => JSON.parse((await get(v.Key!)).toString()) as Checkpoint));
    t.ok(
      named.some((cp) => cp.sessions.some((s) => s.id === id && s.state === 'interrupted')),
      'a checkpoint names it, interrupted',
    );
    const writers = new Set(named.filter((cp) => cp.sessions.some((s) => s.id === id)).map((cp) => cp.writer));
    t.equal(writers.size, 1, 'one writer chain across the restart (the data dir keeps its place in it)');
  },
);
