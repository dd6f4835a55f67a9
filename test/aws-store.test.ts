// The AWS store against moto_server: sessions recorded through kubetape with
// the real kubectl land in DynamoDB and S3 and read back exactly as recorded;
// listing by user, cluster and time pages through the indexes; `verify`
// catches chunks edited, removed or reordered in S3, and edited lines in the
// local store.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startHarness } from './helpers/harness.js';
import { kubectl } from './helpers/kubectl.js';
import { cliFromSource } from './helpers/streams.js';
import { awsEnv, awsRecording, partitionItems, provision, startMotoServer, TeeStore, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { newSessionId } from '../src/store/store.js';
import { emptyCounts, type RecordEvent, type SessionStartEvent } from '../src/model/recording.js';
import { LocalStore } from '../src/store/local/local-store.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const TABLE = 'kubetape-sessions';
const BUCKET = 'kubetape-recordings-test';

let moto: MotoServer;
t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision(TABLE, BUCKET);
});
t.teardown(() => moto.close());

async function events(store: { readSession(id: string): AsyncIterable<RecordEvent> }, id: string): Promise<RecordEvent[]> {
  const out: RecordEvent[] = [];
  for await (const ev of store.readSession(id)) out.push(ev);
  return out;
}

function writeConfig(dir: string, extra = ''): string {
  const cfg = join(dir, 'kubetape.yaml');
  writeFileSync(
    cfg,
    `dataDir: ${join(dir, 'data')}\nrecording:\n  store: aws\n  table: ${TABLE}\n  bucket: ${BUCKET}\n  prefix: recordings/\n  s3ForcePathStyle: true\n${extra}`,
  );
  return cfg;
}

t.test('kubectl sessions land in DynamoDB and S3 and read back exactly as recorded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-aws-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const recording = awsRecording(TABLE, BUCKET, { chunkBytes: 16 * 1024 });
  const aws = await AwsStore.open({
    settings: awsStoreSettings(recording),
    writable: { dataDir: join(dir, 'spool-owner'), failMode: 'closed' },
    log: () => undefined,
  });
  const tee = new TeeStore(aws);
  const h = await startHarness({ config: { recording }, start: { store: tee } });
  t.teardown(() => h.close());
  const k = (args: string[]) => kubectl(args, { kubeconfig: h.kubeconfig });

  t.equal((await k(['create', 'configmap', 'settings', '--from-literal=size=xl'])).code, 0);
  const got = await k(['get', 'configmap', 'settings', '-o', 'json']);
  t.equal(got.code, 0, got.stderr);
  t.equal((await k(['get', 'pods'])).code, 0);

  // Sessions end after 1 s idle; then everything is uploaded and finished.
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(await aws.uploaded(20_000), 'the spool drained');
  t.ok(tee.written.size >= 3, 'three kubectl invocations: at least three sessions');

  for (const [id, lines] of tee.written) {
    const back = (await events(aws, id)).map((e) => JSON.stringify(e));
    t.same(back, lines, `session ${id}: every event read back from S3 as written`);
    t.equal(sha(back.join('\n')), sha(lines.join('\n')), `session ${id}: same SHA-256`);
    const v = await aws.verify(id);
    t.ok(v.ok, `session ${id} verifies: ${v.problem ?? ''}`);
    t.equal(v.events, lines.length);
  }

  const list = await aws.listSessions();
  t.same(new Set(list.map((s) => s.id)), new Set(tee.written.keys()), 'listed from the time index');
  const getSession = list.find((s) => s.command === 'kubectl get' && s.resources.includes('configmaps'))!;
  t.ok(getSession, 'the get session is listed with its summary');
  t.equal(getSession.state, 'ended');
  t.equal(getSession.cluster, 'fake');
  t.ok(getSession.requests >= 1);

  // The DynamoDB layout: a session item, request + response items, chunk items; objects under prefix/YYYY/MM/DD/ID/.
  const items = await partitionItems(TABLE, `session#${getSession.id}`);
  const kinds = items.map((i) => (i['kind'] as { S: string }).S);
  t.equal(kinds.filter((k) => k === 'session').length, 1);
  t.ok(
    kinds.filter((k) => k === 'request').length >= 1 && kinds.filter((k) => k === 'request').length === kinds.filter((k) => k === 'response').length,
    'a response item for every request item',
  );
  t.ok(kinds.includes('chunk'));
  const sessionItem = items.find((i) => (i['kind'] as { S: string }).S === 'session')!;
  t.match((sessionItem['s3Prefix'] as { S: string }).S, new RegExp(`^recordings/\\d{4}/\\d{2}/\\d{2}/${getSession.id}/$`));
  t.ok(Number((sessionItem['expiresAt'] as { N: string }).N) > Date.now() / 1000 + 364 * 86400, 'TTL from retentionDays (365)');
  for (const i of items) t.ok(JSON.stringify(i).length < 40_000, 'items stay far below 400 KB');

  // The response body kubectl printed is the body recorded.
  const evs = await events(aws, getSession.id);
  const resp = evs.find((e) => e.type === 'response' && e.status === 200 && e.body?.data.includes('"settings"'));
  t.ok(resp, 'the configmap GET response is recorded');
  if (resp?.type === 'response') t.same(JSON.parse(resp.body!.data).data, JSON.parse(got.stdout).data);

  // The CLI reads the configured store: sessions list / show / verify with a config file.
  const cfg = writeConfig(dir);
  const [lst, show, ver] = await cliFromSource([
    ['sessions', 'list', '--json', '--config', cfg],
    ['sessions', 'show', getSession.id.slice(0, 14), '--json', '--config', cfg],
    ['verify', '--all', '--config', cfg],
  ]);
  t.equal(lst.code, 0, lst.stderr);
  t.same(new Set((JSON.parse(lst.stdout.toString()) as Array<{ id: string }>).map((s) => s.id)), new Set(tee.written.keys()));
  t.equal(show.code, 0, show.stderr);
  const shown = JSON.parse(show.stdout.toString()) as { session: { id: string; state: string }; events: RecordEvent[] };
  t.equal(shown.session.id, getSession.id);
  t.equal(shown.events.length, tee.written.get(getSession.id)!.length, 'show --json prints every event');
  t.equal(ver.code, 0, ver.stderr);
  t.match(ver.stdout.toString(), new RegExp(`all ${tee.written.size} recordings intact`));
});

function start(id: string, user: string, cluster: string, time: string): SessionStartEvent {
  return { type: 'session.start', session: id, time, user, groups: ['dev'], authMethod: 'token-file', cluster, source: '127.0.0.1' };
}

t.test('listing by user, cluster and time pages through the indexes, across months', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-aws-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const table = 'paging';
  await provision(table, 'paging-bucket');
  const settings = awsStoreSettings(awsRecording(table, 'paging-bucket'));
  const store = await AwsStore.open({ settings, writable: { dataDir: dir, failMode: 'closed' }, pageSize: 2, log: () => undefined });
  t.teardown(() => store.close());
  const now = Date.now();
  const made: Array<{ id: string; user: string; cluster: string; at: number }> = [];
  const users = ['alice', 'bob', 'carol'];
  for (let i = 0; i < 14; i++) {
    // Two of them 40 and 70 days ago: other months of the time index.
    const at = i === 0 ? now - 70 * 86400_000 : i === 1 ? now - 40 * 86400_000 : now - (14 - i) * 60_000;
    const s = { id: newSessionId(at), user: users[i % 3], cluster: i % 2 ? 'prod' : 'dev', at };
    made.push(s);
    const w = await store.openSession(start(s.id, s.user, s.cluster, new Date(at).toISOString()));
    await w.close({ type: 'session.end', session: s.id, time: new Date(at + 1000).toISOString(), reason: 'idle', summary: emptyCounts() });
  }
  t.ok(await store.uploaded(20_000));
  const newest = (xs: typeof made) => [...xs].sort((a, b) => b.at - a.at).map((x) => x.id);

  t.same(
    (await store.listSessions()).map((s) => s.id),
    newest(made),
    'all 14, newest first, over 3 months and 8 shards, 2 items a page',
  );
  t.same(
    (await store.listSessions({ user: 'alice' })).map((s) => s.id),
    newest(made.filter((m) => m.user === 'alice')),
    'by user',
  );
  t.same(
    (await store.listSessions({ cluster: 'prod' })).map((s) => s.id),
    newest(made.filter((m) => m.cluster === 'prod')),
    'by cluster',
  );
  t.same(
    (await store.listSessions({ user: 'bob', limit: 2 })).map((s) => s.id),
    newest(made.filter((m) => m.user === 'bob')).slice(0, 2),
    'by user with a limit',
  );
  t.same(
    (await store.listSessions({ limit: 5 })).map((s) => s.id),
    newest(made).slice(0, 5),
    'by time with a limit',
  );
  const since = new Date(now - 30 * 86400_000);
  t.same(
    (await store.listSessions({ since })).map((s) => s.id),
    newest(made.filter((m) => m.at >= since.getTime())),
    'since a time: older months skipped',
  );
  t.same(
    (await store.listSessions({ cluster: 'dev', since: new Date(now - 5 * 60_000) })).map((s) => s.id),
    newest(made.filter((m) => m.cluster === 'dev' && m.at >= now - 5 * 60_000)),
    'by cluster since',
  );

  const old = made[0];
  t.equal(await store.resolveId(old.id.slice(0, 12)), old.id, 'a unique prefix resolves');
  t.equal(await store.resolveId(old.id.toLowerCase()), old.id, 'ids are case-insensitive');
  await t.rejects(store.resolveId(made[5].id.slice(0, 3)), /matches more than one session/, 'an ambiguous prefix is an error');
  t.equal(await store.resolveId('00000000'), undefined);
});

t.test('verify catches a chunk edited, removed or reordered in S3, and a changed manifest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-aws-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const settings = awsStoreSettings(awsRecording(TABLE, BUCKET, { chunkBytes: 2048 }));
  const store = await AwsStore.open({ settings, writable: { dataDir: dir, failMode: 'closed' }, log: () => undefined });
  t.teardown(() => store.close());
  const id = newSessionId();
  const w = await store.openSession(start(id, 'mallory', 'prod', new Date().toISOString()));
  for (let seq = 1; seq <= 12; seq++) {
    await w.append({ type: 'stream', session: id, seq: 1, offsetMs: seq, channel: 'stdout', encoding: 'utf8', data: `line ${seq} `.padEnd(400, '.') });
  }
  await w.close({ type: 'session.end', session: id, time: new Date().toISOString(), reason: 'idle', summary: emptyCounts() });
  t.ok(await store.uploaded(20_000));
  const intact = await store.verify(id);
  t.ok(intact.ok, intact.problem ?? 'intact');
  t.ok(intact.chunks >= 4, `several chunks (${intact.chunks})`);

  const s3 = new S3Client({ forcePathStyle: true });
  t.teardown(() => s3.destroy());
  const prefix = (await partitionItems(TABLE, `session#${id}`)).map((i) => i['s3Prefix'] as { S: string } | undefined).find(Boolean)!.S;
  const key = (n: number) => `${prefix}${String(n).padStart(8, '0')}.ndjson.gz`;
  const get = async (k: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: k }))).Body!.transformToByteArray());
  const put = (k: string, b: Buffer) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: b }));
  const original = new Map<string, Buffer>();
  for (const o of (await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []) original.set(o.Key!, await get(o.Key!));
  const restore = async () => {
    for (const [k, b] of original) await put(k, b);
    t.ok((await store.verify(id)).ok, 'restored: intact again');
  };

  // Edited: one character of one event in chunk 1, re-gzipped.
  const text = gunzipSync(original.get(key(1))!).toString('utf8');
  await put(key(1), gzipSync(Buffer.from(text.replace('line', 'LINE'))));
  let v = await store.verify(id);
  t.notOk(v.ok);
  t.match(v.problem, new RegExp(`chunk 1 \\(${key(1)}\\) was changed`), v.problem ?? '');
  await restore();

  // Removed.
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key(2) }));
  v = await store.verify(id);
  t.match(v.problem, new RegExp(`missing object ${key(2)}`), v.problem ?? '');
  await restore();

  // Reordered: chunks 1 and 2 swapped.
  await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: key(1), CopySource: `${BUCKET}/${key(2)}` }));
  await put(key(2), original.get(key(1))!);
  v = await store.verify(id);
  t.match(v.problem, /chunk 1 .* holds chunk 2 \(chunks reordered or replaced\)/, v.problem ?? '');
  await restore();

  // The last chunk dropped together with its index entry would still leave the manifest and session item disagreeing;
  // here the manifest is rewritten to hide an edit.
  const manifestKey = `${prefix}manifest.json`;
  const m = JSON.parse(original.get(manifestKey)!.toString()) as { head: string };
  await put(manifestKey, Buffer.from(JSON.stringify({ ...m, head: 'f'.repeat(64) })));
  v = await store.verify(id);
  t.match(v.problem, /manifest's head hash/, v.problem ?? '');
  await restore();

  // An object slipped in under the session's prefix.
  await put(key(99), original.get(key(0))!);
  v = await store.verify(id);
  t.match(v.problem, new RegExp(`unexpected object ${key(99)}`), v.problem ?? '');
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key(99) }));

  // The CLI: exit 2 naming the first broken chunk.
  await put(
    key(3),
    gzipSync(
      Buffer.from(
        gunzipSync(original.get(key(3))!)
          .toString()
          .replace('line', 'LiNe'),
      ),
    ),
  );
  const cfg = writeConfig(dir);
  const [bad] = await cliFromSource([['verify', id, '--config', cfg]]);
  t.equal(bad.code, 2, 'verify exits 2');
  t.match(bad.stdout.toString(), new RegExp(`${id}  BROKEN  chunk 3 \\(${key(3)}\\) was changed`));
  t.match(bad.stderr, /1 of 1 recording failed verification/);
  await restore();
});

t.test('verify on the local store: an edited, removed or added line is named', async (t) => {
  const h = await startHarness({
    config: { recording: { maxBodyBytes: 1024 * 1024, maxStreamBytes: 1024 * 1024, sessionIdleSeconds: 1, failMode: 'closed' } },
  });
  t.teardown(() => h.close());
  t.equal((await kubectl(['get', 'namespaces'], { kubeconfig: h.kubeconfig })).code, 0);
  await new Promise((r) => setTimeout(r, 1500)); // the session ends (idle 1 s) and the index records its head
  const store = h.kt.store as LocalStore;
  const [s] = await store.listSessions();
  t.equal(s?.state, 'ended');
  const id = s.id;
  t.ok((await store.verify(id)).ok, 'intact');
  const day = readdirSync(join(h.dataDir, 'recordings', 'sessions'))[0];
  const file = join(h.dataDir, 'recordings', 'sessions', day, `${id}.ndjson`);
  const original = readFileSync(file, 'utf8');
  t.match(original.split('\n')[0], /"prevSha256":"0{64}"}$/, "each line ends with the previous line's hash: still readable with cat");
  const lines = original.split('\n');

  writeFileSync(file, original.replace('kube-system', 'kube-systen'));
  const edited = lines.findIndex((l) => l.includes('kube-system'));
  let v = await store.verify(id);
  t.notOk(v.ok);
  t.match(v.problem, edited === lines.length - 2 ? /was changed/ : new RegExp(`line ${edited + 2} does not follow line ${edited + 1}`), v.problem ?? '');

  writeFileSync(file, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'));
  v = await store.verify(id);
  t.match(v.problem, /line 3 does not follow line 2/, 'a removed line');

  writeFileSync(file, original + lines[1] + '\n');
  v = await store.verify(id);
  t.match(v.problem, /follows the session's end|does not follow/, 'an added line');

  writeFileSync(file, original);
  const [ok, bad] = await cliFromSource([
    ['verify', '--all', '--data-dir', h.dataDir],
    ['verify', id.slice(0, 12), '--data-dir', h.dataDir],
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout.toString(), /all \d+ recordings intact/);
  t.equal(bad.code, 0);
  // Now break it and ask the CLI.
  writeFileSync(file, original.replace('kube-system', 'kube-systen'));
  const [broken] = await cliFromSource([['verify', id, '--data-dir', h.dataDir]]);
  t.equal(broken.code, 2);
  t.match(broken.stdout.toString(), /BROKEN/);
});
