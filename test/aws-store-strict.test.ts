// The AWS store against dynalite (DynamoDB) and s3rver (S3), in-process,
// reached through the per-service endpoint variables. Both validate more
// strictly than moto: dynalite rejects a BatchWriteItem of 26 items and
// malformed keys, s3rver checks signatures and Content-MD5. Also: a store
// stopped with events not yet uploaded and sessions still open (as a crash
// leaves them) is resumed by the next one, chain and all.
import t from 'tap';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { awsEnv, awsRecording, provision, TeeStore, useAwsEnv } from './helpers/aws-store.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { newSessionId } from '../src/store/store.js';
import { countEvent, emptyCounts, type RequestEvent, type ResponseEvent, type SessionStartEvent } from '../src/model/recording.js';

const TABLE = 'strict';
const BUCKET = 'strict-bucket';
const dir = mkdtempSync(join(tmpdir(), 'kubetape-strict-'));

const ddb = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
let s3: S3rver;
t.before(async () => {
  await new Promise<void>((r) => ddb.listen(0, '127.0.0.1', () => r()));
  mkdirSync(join(dir, 's3'));
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(dir, 's3'), resetOnClose: true });
  const a = await s3.run();
  useAwsEnv(
    awsEnv({ dynamodb: `http://127.0.0.1:${(ddb.address() as AddressInfo).port}`, s3: `http://127.0.0.1:${a.port}`, accessKey: 'S3RVER', secretKey: 'S3RVER' }),
  );
  await provision(TABLE, BUCKET, { ttl: false }); // dynalite has no UpdateTimeToLive
});
t.teardown(async () => {
  await s3.close();
  await new Promise<void>((r) => ddb.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const settings = () => awsStoreSettings(awsRecording(TABLE, BUCKET, { chunkBytes: 8 * 1024 }));

function start(id: string, user: string): SessionStartEvent {
  return {
    type: 'session.start',
    session: id,
    time: new Date().toISOString(),
    user,
    groups: ['ops'],
    authMethod: 'token-file',
    cluster: 'strict',
    source: '10.0.0.1',
    command: 'kubectl get',
  };
}

function exchange(id: string, seq: number): [RequestEvent, ResponseEvent] {
  const attrs = {
    isResourceRequest: true,
    verb: 'get',
    apiGroup: '',
    apiVersion: 'v1',
    resource: 'pods',
    subresource: '',
    namespace: 'default',
    name: `web-${seq}`,
  };
  return [
    {
      type: 'request',
      session: id,
      seq,
      time: new Date().toISOString(),
      method: 'GET',
      uri: `/api/v1/namespaces/default/pods/web-${seq}`,
      attrs,
      headers: { accept: 'application/json' },
      streaming: false,
    },
    {
      type: 'response',
      session: id,
      seq,
      time: new Date().toISOString(),
      status: 200,
      durationMs: 3,
      bytesIn: 0,
      bytesOut: 120,
      body: { encoding: 'utf8', data: `{"kind":"Pod","metadata":{"name":"web-${seq}"}}`, size: 44, truncated: false },
    },
  ];
}

async function readAll(store: AwsStore, id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of store.readSession(id)) out.push(JSON.stringify(ev));
  return out;
}

t.test('hundreds of index items in BatchWrite groups dynalite accepts; read back exactly', async (t) => {
  const store = await AwsStore.open({ settings: settings(), writable: { dataDir: join(dir, 'a'), failMode: 'closed' }, log: () => undefined });
  t.teardown(() => store.close());
  const tee = new TeeStore(store);
  const ids = ['ann', 'ben', 'cid'].map(() => newSessionId());
  await Promise.all(
    ids.map(async (id, i) => {
      const w = await tee.openSession(start(id, ['ann', 'ben', 'cid'][i]));
      const counts = emptyCounts(); // what the recorder counts: verify checks the end summary against the events
      for (let seq = 1; seq <= 60; seq++) {
        const [rq, rs] = exchange(id, seq);
        countEvent(counts, rq);
        countEvent(counts, rs);
        await w.append(rq, { durable: true });
        await w.append(rs);
      }
      await w.close({ type: 'session.end', session: id, time: new Date().toISOString(), reason: 'idle', summary: counts });
    }),
  );
  t.ok(await store.uploaded(20_000), 'uploaded');
  for (const id of ids) {
    t.same(await readAll(store, id), tee.written.get(id), `session ${id} reads back event for event`);
    const v = await store.verify(id);
    t.ok(v.ok, v.problem ?? 'verifies');
  }
  const bens = await store.listSessions({ user: 'ben' });
  t.same(
    bens.map((s) => s.id),
    [ids[1]],
    'the user index works on dynalite',
  );
  t.equal(bens[0]?.requests, 60);
  t.same(bens[0]?.verbs, ['get']);
});

t.test('a store stopped mid-upload with sessions open: the next one finishes them as interrupted', async (t) => {
  const data = join(dir, 'b');
  const lines = new Map<string, string[]>();
  const first = await AwsStore.open({ settings: settings(), writable: { dataDir: data, failMode: 'closed' }, log: () => undefined, closeGraceMs: 0 });
  const tee = new TeeStore(first);
  const id = newSessionId();
  const w = await tee.openSession(start(id, 'dora'));
  for (let seq = 1; seq <= 20; seq++) for (const ev of exchange(id, seq)) await w.append(ev, { durable: ev.type === 'request' });
  t.ok(await first.uploaded(10_000), 'part of the session is uploaded by the first store');
  const partial = await readAll(first, id);
  t.ok(partial.length > 0 && partial.length < 60, `${partial.length} events in AWS so far`);
  for (let seq = 21; seq <= 30; seq++) for (const ev of exchange(id, seq)) await w.append(ev, { durable: ev.type === 'request' });
  lines.set(id, tee.written.get(id)!);
  await first.close(); // grace 0: stops at once, the rest stays in the spool, the session never ended

  const logs: string[] = [];
  const second = await AwsStore.open({ settings: settings(), writable: { dataDir: data, failMode: 'closed' }, log: (l) => logs.push(l) });
  t.teardown(() => second.close());
  t.ok(await second.uploaded(20_000), 'the second store uploaded what was left');
  t.same(await readAll(second, id), lines.get(id), 'every event, in order, across both runs');
  const s = await second.summary(id);
  t.equal(s?.state, 'interrupted');
  t.equal(s?.requests, 30, 'counts from the uploaded events');
  const v = await second.verify(id);
  t.ok(v.ok, v.problem ?? 'the chain continues across the restart');
  t.ok(
    logs.some((l) => l.includes(`session ${id} was interrupted`)),
    'the interruption is logged',
  );
});
