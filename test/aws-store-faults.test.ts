// The AWS store when things go wrong: the backend frozen (moto_server
// SIGSTOPped) under concurrent exec sessions, kubetape SIGKILLed mid-session
// and restarted, and the spool full with failMode closed and open. In every
// case: nothing recorded is lost, and nothing is forwarded unrecorded unless
// failMode open says so (and a metric counts it).
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHarness } from './helpers/harness.js';
import { kubectl, spawnKubectl, writeKubeconfig } from './helpers/kubectl.js';
import { kubectlBinary, recorded, startStreamHarness, streamExchanges } from './helpers/streams.js';
import { runningPod, startStreamUpstream } from './helpers/stream-upstream.js';
import { startFakeApiServer } from './fake-apiserver/index.js';
import { awsEnv, awsRecording, provision, startMotoServer, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { mapLimit } from '../src/store/aws/retry.js';
import type { Metrics } from '../src/admin/metrics.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const BIN = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../bin/kubetape.js');
const TABLE = 'kubetape-sessions';
const BUCKET = 'kubetape-faults';

let moto: MotoServer;
t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision(TABLE, BUCKET);
});
t.teardown(() => moto.close());

async function metric(m: Metrics, name: string): Promise<number> {
  const text = await m.registry.metrics();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  return sum;
}

t.test('backend frozen under 20 concurrent exec sessions: every byte recorded, uploaded after the thaw', async (t) => {
  const s = await startStreamHarness({ config: { recording: awsRecording(TABLE, BUCKET, { chunkBytes: 32 * 1024 }) } });
  t.teardown(() => s.close());
  const store = s.h.kt.store as AwsStore;
  const payloads = Array.from({ length: 20 }, () => randomBytes(48 * 1024));

  const frozenAt = Date.now();
  moto.freeze();
  let thawed = false;
  t.teardown(() => {
    if (!thawed) moto.thaw();
  });
  const runs = await mapLimit(payloads, 10, (p) => kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'cat'], { input: p }));
  for (const [i, r] of runs.entries()) {
    t.equal(r.code, 0, `exec ${i} ran while the backend was frozen: ${r.stderr}`);
    t.equal(sha(r.stdout), sha(payloads[i]), `exec ${i}: kubectl got its bytes back`);
  }
  const during = store.spoolStats();
  t.ok(during.bytes > 20 * 48 * 1024, `the spool holds the recordings meanwhile (${during.bytes} bytes)`);
  // The 30 s freeze: long enough for upload calls to time out (10 s) and be retried twice.
  await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - frozenAt))));
  t.ok(store.spoolStats().oldestAgeSeconds >= 25, 'the oldest unuploaded event is reported as old');
  moto.thaw();
  thawed = true;

  await new Promise((r) => setTimeout(r, 1200)); // sessions end after 1 s idle
  t.ok(await store.uploaded(40_000), 'the spool drained after the thaw');
  t.ok((await metric(s.h.kt.metrics, 'kubetape_upload_failures_total')) > 0, 'failed upload calls were counted');
  t.ok((await metric(s.h.kt.metrics, 'kubetape_upload_retries_total')) > 0, 'and retried');
  t.equal(await metric(s.h.kt.metrics, 'kubetape_spool_pending_events'), 0);

  const xs = (await streamExchanges(store)).filter((x) => x.request.exec?.command.join(' ') === 'cat');
  t.equal(xs.length, 20, 'all 20 exec exchanges are in DynamoDB and S3');
  const wanted = new Set(payloads.map(sha));
  for (const x of xs) {
    const out = recorded(x, 'stdout');
    const inp = recorded(x, 'stdin');
    t.ok(wanted.has(sha(out)), `session ${x.session}: stdout recorded byte for byte`);
    t.equal(sha(inp), sha(out), `session ${x.session}: stdin recorded byte for byte`);
    wanted.delete(sha(out));
    t.equal(x.response?.exitCode, 0);
  }
  t.equal(wanted.size, 0, 'every payload accounted for');
  for (const x of xs) t.ok((await store.verify(x.session)).ok, `session ${x.session} verifies`);
  t.equal(
    readdirSync(join(s.h.dataDir, 'spool')).filter((f) => f.endsWith('.ndjson')).length,
    1,
    'uploaded segments were deleted (only the one being written is left)',
  );
});

interface Serve {
  child: ChildProcess;
  kubeconfig: string;
  exited: Promise<void>;
}

async function serve(cfg: string, env: NodeJS.ProcessEnv): Promise<Serve> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kubeconfig = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 20_000);
    child.stdout.on('data', (c: string) => {
      out += c;
      const m = /export KUBECONFIG=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
  });
  return { child, kubeconfig, exited };
}

t.test('kubetape SIGKILLed mid-session: the restart uploads the spool and marks the session interrupted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-kill-'));
  const up = await startStreamUpstream();
  const api = await startFakeApiServer({ minor: '32', upgradeHandler: up.handler });
  api.objects.put(runningPod('web-0') as never);
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await api.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const upstream = writeKubeconfig(dir, { server: api.url, ca: api.ca, token: 'admin-token', name: 'kill-cluster' });
  const cfg = join(dir, 'kubetape.yaml');
  writeFileSync(
    cfg,
    [
      `kubeconfig: ${upstream}`,
      `dataDir: ${join(dir, 'data')}`,
      'listen: 127.0.0.1:0',
      'adminListen: 127.0.0.1:0',
      'recording:',
      '  sessionIdleSeconds: 1',
      '  store: aws',
      `  table: ${TABLE}`,
      `  bucket: ${BUCKET}`,
      '  s3ForcePathStyle: true',
      '  flushSeconds: 0.5',
      '',
    ].join('\n'),
  );
  const env = awsEnv({ endpoint: moto.url });

  // Freeze the backend so nothing of this session is uploaded before the kill: all of it must come from the spool.
  const first = await serve(cfg, env);
  children.push(first.child);
  moto.freeze();
  t.teardown(() => moto.thaw());
  const exec = spawnKubectl(['exec', '-i', 'web-0', '--', 'cat'], { kubeconfig: first.kubeconfig, timeoutMs: 60_000 });
  let received = '';
  exec.child.stdout!.on('data', (c: Buffer) => (received += c.toString()));
  for (let i = 0; i < 20; i++) {
    const line = `line ${i} ${'x'.repeat(200)}\n`;
    exec.child.stdin!.write(line);
    const deadline = Date.now() + 10_000;
    while (!received.includes(`line ${i} `) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
  t.match(received, /line 19 /, 'kubectl saw its 20 lines echoed before the kill');
  first.child.kill('SIGKILL');
  await first.exited;
  const r = await exec.done;
  t.not(r.code, 0, 'kubectl lost its connection');
  moto.thaw();

  const second = await serve(cfg, env);
  children.push(second.child);
  const reader = await AwsStore.open({ settings: awsStoreSettings(awsRecording(TABLE, BUCKET)) });
  t.teardown(() => reader.close());
  let session: import('../src/model/recording.js').SessionSummary | undefined;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    // The exec's session: /usr/bin/kubectl (a dispatcher) first asks /version in a session of its own, interrupted too.
    session = (await reader.listSessions({ cluster: 'kill-cluster' })).find((s) => s.state === 'interrupted' && s.command === 'kubectl exec');
    if (session) break;
  }
  t.ok(session, 'the session is in DynamoDB, marked interrupted');
  const [x] = (await streamExchanges(reader)).filter((e) => e.session === session?.id && e.request.exec);
  t.ok(x, 'its exec request was uploaded from the spool');
  const out = recorded(x, 'stdout').toString();
  t.ok(received.length > 0 && out.startsWith(received), `every byte kubectl received is recorded (${received.length} received, ${out.length} recorded)`);
  t.ok(recorded(x, 'stdin').toString().startsWith(received), 'and every byte it sent');
  const v = await reader.verify(session!.id);
  t.ok(v.ok, v.problem ?? 'verifies');
  t.match(v.state, 'interrupted');

  second.child.kill('SIGTERM');
  await second.exited;
});

async function bigConfigMap(h: Awaited<ReturnType<typeof startHarness>>): Promise<void> {
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: 'default' }, data: { blob: 'b'.repeat(8000) } });
}

t.test('spool full, failMode closed: new requests get 503 until the upload catches up', async (t) => {
  const h = await startHarness({ config: { recording: awsRecording(TABLE, BUCKET, { spoolMaxBytes: 4096 }) } });
  t.teardown(() => h.close());
  await bigConfigMap(h);
  const get = () => kubectl(['get', '--raw', '/api/v1/namespaces/default/configmaps/big'], { kubeconfig: h.kubeconfig });
  moto.freeze();
  let thawed = false;
  t.teardown(() => {
    if (!thawed) moto.thaw();
  });
  const ok = await get();
  t.equal(ok.code, 0, 'the first request fits');
  const refused = await get();
  t.not(refused.code, 0, 'the next one is refused');
  t.match(refused.stderr, /recording spool full/, refused.stderr);
  t.equal(await metric(h.kt.metrics, 'kubetape_spool_full'), 1);
  t.ok((await metric(h.kt.metrics, 'kubetape_spool_full_refusals_total')) >= 1);
  const ready = await fetch(`${h.kt.adminUrl}/readyz`);
  t.equal(ready.status, 503, 'not ready while refusing');
  moto.thaw();
  thawed = true;
  const store = h.kt.store as AwsStore;
  for (const deadline = Date.now() + 20_000; store.spoolStats().full && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
  const again = await get();
  t.equal(again.code, 0, 'accepted again once the spool drained');
  await new Promise((r) => setTimeout(r, 1200));
  t.ok(await store.uploaded(20_000));
  const since = new Date(Date.now() - 60_000);
  let recordedGets = 0;
  for (const s of await store.listSessions({ since })) {
    const seqs = new Set<number>();
    for await (const ev of store.readSession(s.id)) {
      if (ev.type === 'request' && ev.uri.includes('/configmaps/big')) seqs.add(ev.seq);
      if (ev.type === 'response' && seqs.has(ev.seq) && ev.status === 200 && ev.body?.data.includes('bbbb')) recordedGets++;
    }
  }
  t.equal(recordedGets, 2, 'both forwarded requests are recorded with their responses; the refused one was never forwarded');
  t.equal(h.api.received.filter((r) => r.path.includes('/configmaps/big')).length, 2, 'the cluster saw exactly the two recorded requests');
});

t.test('spool full, failMode open: requests proceed, the loss is counted and logged', async (t) => {
  const lines: string[] = [];
  const h = await startHarness({
    config: { recording: { ...awsRecording(TABLE, BUCKET, { spoolMaxBytes: 4096 }), failMode: 'open' } },
    start: { log: (l) => lines.push(l) },
  });
  t.teardown(() => h.close());
  await bigConfigMap(h);
  const get = () => kubectl(['get', '--raw', '/api/v1/namespaces/default/configmaps/big'], { kubeconfig: h.kubeconfig });
  moto.freeze();
  let thawed = false;
  t.teardown(() => {
    if (!thawed) moto.thaw();
  });
  for (let i = 0; i < 3; i++) t.equal((await get()).code, 0, `request ${i} went through`);
  t.ok((await metric(h.kt.metrics, 'kubetape_spool_dropped_events_total')) > 0, 'unrecorded events are counted');
  t.ok((await metric(h.kt.metrics, 'kubetape_recording_failures_total')) > 0, 'as recording failures too');
  t.ok(
    lines.some((l) => /RECORDING SPOOL FULL \(failMode open\)/.test(l)),
    'and logged',
  );
  t.equal(await metric(h.kt.metrics, 'kubetape_spool_full_refusals_total'), 0, 'nothing refused');
  moto.thaw();
  thawed = true;
  await new Promise((r) => setTimeout(r, 1200));
  t.ok(await (h.kt.store as AwsStore).uploaded(20_000), 'what was recorded is uploaded');
});
