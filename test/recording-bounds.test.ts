// Issue 12 item 5: bounded recordings. A raw WebSocket exec client sends
// 100,000 one-byte stdin frames and 20,000 empty ones: the recording stays
// under the bound the README states (stored bytes <= 2 x frame bytes +
// 256 KiB + 8 KiB per second), every frame is accounted for, and the
// container received exactly what was recorded. In failMode closed
// maxStreamEvents and maxStreamBytes stop a stream (the client and the
// container got exactly what was recorded); in open they cut its recording
// and it goes on. The per-user daily budget stops a running exec (507
// on its error channel, nothing unrecorded forwarded) and refuses the
// user's next requests, and a restart does not reset it; the disk reserve refuses new work (507) and fails
// /readyz; on a tmpfs filled below half the reserve, a running exec stops.
import t from 'tap';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlBinary, recorded, settledStreamExchanges, startStreamHarness, streamExchanges } from './helpers/streams.js';
import { mountTmpfs, openRawExec, readyz, sessionLines, until } from './helpers/raw-exec.js';
import type { RecordingConfig } from '../src/store/settings.js';
import type { RecordEvent, RequestEvent, ResponseChunkEvent, ResponseEvent, StreamEvent } from '../src/model/recording.js';
import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { PACING } from '../src/record/stream-pacing.js';
import { RecordingLimits, USAGE_FILE } from '../src/record/limits.js';

const BASE: RecordingConfig = { maxBodyBytes: 1024 * 1024, maxStreamBytes: 64 * 1024 * 1024, sessionIdleSeconds: 30, failMode: 'closed' };
const outside = mkdtempSync(join(tmpdir(), 'kt-bounds-'));
t.teardown(() => rmSync(outside, { recursive: true, force: true }));

/** The close code, or -1 when the stream did not close in time. */
const closedWithin = (p: Promise<number>, ms = 10_000): Promise<number> => Promise.race([p, new Promise<number>((r) => setTimeout(() => r(-1), ms))]);

const readOr = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

t.test('100,000 one-byte stdin frames and 20,000 empty frames stay under the stated bound', async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: BASE } });
  t.teardown(() => s.close());
  const received = join(outside, 'amplified');
  const exec = await openRawExec(s, ['sh', '-c', `cat > '${received}'`]);
  const started = Date.now();
  for (let i = 0; i < 100_000; i++) exec.send(0, String.fromCharCode(97 + (i % 26)));
  for (let i = 0; i < 20_000; i++) exec.send(0);
  exec.send(255, Buffer.from([0])); // v5: stdin is over
  t.equal(await closedWithin(exec.closed, 90_000), 1000, 'the exec ended normally');
  const seconds = (Date.now() - started) / 1000;
  t.match(JSON.parse(exec.received(3).toString()), { status: 'Success' });

  const [x] = await settledStreamExchanges(s.h.kt.store, (e) => e.request.exec?.command[2] === `cat > '${received}'`, 1, 30_000);
  const sent = readFileSync(received, 'utf8');
  t.equal(sent.length, 100_000, 'the container received every byte');
  t.equal(recorded(x, 'stdin').toString(), sent, 'the recording holds exactly what the container received');
  const stdin = x.streams.filter((e) => e.channel === 'stdin');
  t.equal(
    stdin.reduce((n, e) => n + (e.frames ?? 1), 0),
    120_000,
    'every frame, empty ones too, is accounted for in the recorded events',
  );
  t.ok(stdin.length < 20_000, `far fewer events than frames (${stdin.length})`);

  // The stored bytes of this exec's stream events, as they are in the session file (envelope and chain field included).
  const lines = sessionLines(s.h.dataDir, x.session).lines.filter((l) => {
    const ev = JSON.parse(l) as StreamEvent;
    return ev.type === 'stream' && ev.seq === x.request.seq;
  });
  const stored = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  // Frame bytes as the README counts them: payload + 1 per frame, both ways.
  const frameBytes = x.streams.reduce((n, e) => n + (e.frames ?? 1), 0) + Object.values(x.response!.streamBytes ?? {}).reduce((n, b) => n + b, 0);
  const bound = PACING.perWireByte * frameBytes + PACING.burstBytes + PACING.bytesPerSecond * (seconds + 1);
  t.ok(stored <= bound, `stored ${stored} B <= 2 x ${frameBytes} + 256 KiB + 8 KiB/s x ${seconds.toFixed(1)} s = ${Math.round(bound)} B`);
  t.ok(
    stored <= 2 * exec.wireBytesSent(),
    `stored ${stored} B is under twice what the client put on the wire (${exec.wireBytesSent()} B), not the 20 MB it made before`,
  );
});

const TWENTY_LINES = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo line-$i; sleep 0.02; done';

t.test('failMode closed: maxStreamEvents stops the stream; the client got exactly what was recorded', async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: { ...BASE, maxStreamEvents: 10 } } });
  t.teardown(() => s.close());
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'sh', '-c', TWENTY_LINES]);
  t.not(r.code, 0, 'the exec failed');
  t.match(r.stderr, /kubetape stopped the exec: its recording holds the 10 events a stream may keep \(recording.maxStreamEvents\)/);
  t.notMatch(r.stdout.toString(), /line-20/, 'the client did not get the rest');
  const [x] = await settledStreamExchanges(s.h.kt.store, (e) => e.request.exec?.command[2] === TWENTY_LINES);
  t.ok(x.streams.length <= 10, `at most 10 events are kept (${x.streams.length})`);
  t.equal(recorded(x, 'stdout').toString(), r.stdout.toString(), 'every byte the client got is in the recording, and nothing more');
  t.notOk(
    x.streams.some((e) => e.truncated),
    'nothing was cut: the stream stopped instead',
  );
  t.match(x.response?.error, /kubetape stopped (it|the exec): its recording holds the 10 events/, 'the recording says why it ended');
});

t.test('failMode closed: maxStreamBytes stops the stream before a byte the recording would not hold is forwarded', async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: { ...BASE, maxStreamBytes: 4000 } } });
  t.teardown(() => s.close());
  const received = join(outside, 'max-stream-bytes');
  const exec = await openRawExec(s, ['sh', '-c', `cat > '${received}'`]);
  let sent = 0;
  for (; sent < 40 && exec.received(3).length === 0; sent++) {
    exec.send(0, `chunk-${String(sent).padStart(2, '0')} `.padEnd(200, '.'));
    const want = (sent + 1) * 200;
    await until(() => readOr(received).length >= want || exec.received(3).length > 0, 'the chunk to arrive or the exec to stop');
  }
  t.ok(sent < 40, `stopped after ${sent} chunks`);
  t.equal(await closedWithin(exec.closed), 1000, 'the stream closed');
  const status = JSON.parse(exec.received(3).toString() || '{}') as { code?: number; message?: string };
  t.match(status, { status: 'Failure', code: 507 });
  t.match(status.message, /kubetape stopped the exec: its recording reached the 4000 bytes a stream may keep \(recording.maxStreamBytes\)/);
  const [x] = await settledStreamExchanges(s.h.kt.store, (e) => e.request.exec?.command[2] === `cat > '${received}'`);
  t.equal(recorded(x, 'stdin').toString(), readOr(received), 'the container received exactly the recorded stdin');
  t.ok(readOr(received).length < sent * 200, 'the chunk past the limit was not forwarded');
  t.notOk(
    x.streams.some((e) => e.truncated),
    'nothing was cut',
  );
});

t.test('failMode open: maxStreamEvents cuts the recording of a stream, marks the cut, and the stream goes on', async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: { ...BASE, failMode: 'open', maxStreamEvents: 10 } } });
  t.teardown(() => s.close());
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'sh', '-c', TWENTY_LINES]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout.toString(), /line-20\n$/, 'the client got everything');
  const [x] = await settledStreamExchanges(s.h.kt.store, (e) => e.request.exec?.command[2] === TWENTY_LINES);
  t.ok(x.streams.length <= 10, `at most 10 events are kept (${x.streams.length})`);
  t.equal(x.streams.filter((e) => e.truncated).length, 1, 'the last one kept marks the cut');
  t.equal(x.response?.truncated, true);
  t.equal(x.response?.exitCode, 0, 'the exit code is kept after the cut');
});

t.test("a user's daily budget stops their running exec and refuses their next requests with 507", async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: { ...BASE, userDailyBytes: 96 * 1024 } } });
  t.teardown(() => s.close());
  const received = join(outside, 'budget');
  const exec = await openRawExec(s, ['sh', '-c', `cat > '${received}'`]);
  const chunk = 'y'.repeat(8 * 1024);
  let sentChunks = 0;
  for (; sentChunks < 40 && exec.received(3).length === 0; sentChunks++) {
    exec.send(0, chunk);
    const want = (sentChunks + 1) * chunk.length;
    await until(() => readOr(received).length >= want || exec.received(3).length > 0, 'the chunk to arrive or the exec to stop');
  }
  t.ok(sentChunks < 40, `the exec was stopped after ${sentChunks} chunks`);
  t.equal(await closedWithin(exec.closed), 1000, 'the stream closed');
  const status = JSON.parse(exec.received(3).toString() || '{}') as { code?: number; reason?: string; message?: string };
  t.match(status, { status: 'Failure', code: 507, reason: 'InsufficientStorage' });
  t.match(status.message, /kubetape stopped the exec: .* recorded today \(UTC\), the daily budget is 96 KiB \(recording.userDailyBytes\)/);
  await new Promise((r) => setTimeout(r, 300));
  const [x] = (await streamExchanges(s.h.kt.store)).filter((e) => e.request.exec?.command[2] === `cat > '${received}'`);
  t.equal(recorded(x, 'stdin').toString(), readOr(received), 'the container received exactly the recorded stdin');
  t.ok(readOr(received).length < sentChunks * chunk.length, 'the chunk that went over the budget was not forwarded');

  const next = await kubectlBinary(s.h.kubeconfig, ['get', 'pods']);
  t.not(next.code, 0, 'the next request is refused');
  t.match(next.stderr, /kubetape refuses new requests of \S+: .*daily budget is 96 KiB/);
});

t.test('below the disk reserve new work is refused with 507 and /readyz fails', async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: { ...BASE, diskReserveBytes: 2 ** 50 } } });
  t.teardown(() => s.close());
  const r = await kubectlBinary(s.h.kubeconfig, ['get', 'pods', '-v=6']);
  t.not(r.code, 0);
  t.match(r.stderr, /507/, 'HTTP 507');
  t.match(
    r.stderr,
    /kubetape refuses new requests: the recording disk \(.*\) has .* free, below the .* kubetape keeps in reserve \(recording.diskReserveBytes\)/,
  );
  const ready = await readyz(s);
  t.equal(ready.status, 503);
  t.match(ready.body, /keeps in reserve/);
  const before = s.up.seen.length;
  const exec = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'true']);
  t.not(exec.code, 0, 'an exec is refused too');
  t.equal(s.up.seen.length, before, 'and never reached the cluster');
});

t.test('a disk filling below half the reserve stops a running exec (507), and new work waits for space', async (t) => {
  const tmpfs = mountTmpfs('4m');
  if (typeof tmpfs === 'string') {
    t.skip(tmpfs, () => undefined);
    return;
  }
  const received = join(outside, 'reserve');
  const s = await startStreamHarness({ minor: '32', config: { dataDir: join(tmpfs.dir, 'data'), recording: { ...BASE, diskReserveBytes: 1024 * 1024 } } });
  t.teardown(async () => {
    await s.close();
    tmpfs.unmount();
  });
  const exec = await openRawExec(s, ['sh', '-c', `cat > '${received}'`]);
  exec.send(0, 'before\n');
  await until(() => readOr(received) === 'before\n', 'the first line to arrive');
  // Leave about 256 KiB: below half the 1 MiB reserve.
  const st = statfsSync(tmpfs.dir);
  const fd = openSync(join(tmpfs.dir, 'big'), 'w');
  writeSync(fd, Buffer.alloc(Math.max(0, st.bavail * st.bsize - 256 * 1024), 1));
  closeSync(fd);
  await new Promise((r) => setTimeout(r, 1500)); // free space is read every second
  exec.send(0, 'after\n');
  t.equal(await closedWithin(exec.closed), 1000, 'the stream closed');
  const status = JSON.parse(exec.received(3).toString() || '{}') as { code?: number; message?: string };
  t.match(status, { code: 507, reason: 'InsufficientStorage' });
  t.match(status.message, /kubetape stopped the exec: the recording disk .* below the 1.0 MiB kubetape keeps in reserve/);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(readOr(received), 'before\n', 'nothing sent after the reserve was crossed reached the container');
  const refused = await kubectlBinary(s.h.kubeconfig, ['get', 'pods']);
  t.not(refused.code, 0, 'new requests are refused');
  t.match(refused.stderr, /keeps in reserve/);
  await until(async () => {
    const [x] = (await streamExchanges(s.h.kt.store)).filter((e) => e.request.exec?.command[2] === `cat > '${received}'`);
    return x?.response !== undefined;
  }, 'the stopped exec to be recorded as ended (the reserve is there for it)');
  const [x] = (await streamExchanges(s.h.kt.store)).filter((e) => e.request.exec?.command[2] === `cat > '${received}'`);
  t.match(x.response?.error, /kubetape stopped the exec: the recording disk/, 'the recording says why it ended');
  unlinkSync(join(tmpfs.dir, 'big'));
  await until(async () => (await readyz(s)).status === 200, '/readyz once space is back', 5000);
  const ok = await kubectlBinary(s.h.kubeconfig, ['get', 'pods']);
  t.equal(ok.code, 0, ok.stderr);
});

t.test('the daily budget survives a restart: the day’s counts are kept in the data dir, other days’ are not', async (t) => {
  const dataDir = mkdtempSync(join(outside, 'usage-'));
  const limit = 96 * 1024;
  const o = { dataDir, diskReserveBytes: 0, userDailyBytes: limit, failMode: 'closed' as const };
  const first = new RecordingLimits(o);
  first.charge('alice', limit + 1);
  first.charge('bob', 1024);
  t.throws(() => first.admitNew('alice'), /daily budget is 96 KiB/);
  first.close(); // a restart: kubetape stops ...
  const second = new RecordingLimits(o); // ... and starts again on the same data dir
  t.teardown(() => second.close());
  t.throws(
    () => second.admitNew('alice'),
    /kubetape refuses new requests of alice: 96 KiB recorded today \(UTC\), the daily budget is 96 KiB/,
    'alice is still refused',
  );
  t.doesNotThrow(() => second.admitNew('bob'), 'bob still has room');
  second.charge('bob', limit);
  t.throws(() => second.admitNew('bob'), /daily budget/, "bob's earlier bytes counted toward his budget");

  // Yesterday's counts do not carry over.
  const file = join(dataDir, USAGE_FILE);
  writeFileSync(file, JSON.stringify({ day: '2000-01-01', users: { alice: limit * 10 } }));
  const third = new RecordingLimits(o);
  t.teardown(() => third.close());
  t.doesNotThrow(() => third.admitNew('alice'), 'a new day, a new budget');
});

t.test('failMode closed: a watch whose recording reaches maxStreamBytes is ended; the event past it never reaches the client', async (t) => {
  const s = await startStreamHarness({ minor: '32', config: { recording: { ...BASE, maxStreamBytes: 6000 } } });
  t.teardown(() => s.close());
  s.h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'small', namespace: 'default' }, data: { k: 'v' } });
  const url = new URL(`${s.h.kt.url}/api/v1/namespaces/default/configmaps?watch=1`);
  let body = '';
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { ca: s.h.kt.ca, headers: { Authorization: `Bearer ${s.h.kt.localToken}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
  t.equal(res.statusCode, 200);
  res.on('data', (c: Buffer) => (body += c.toString()));
  res.on('error', () => undefined);
  const ended = new Promise<boolean>((r) => res.on('close', () => r(true)));
  await until(() => body.includes('"small"'), 'the watch to show the first configmap');
  s.h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'too-big', namespace: 'default' }, data: { k: 'v'.repeat(8000) } });
  t.ok(await Promise.race([ended, new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]), 'the watch was ended');
  t.notMatch(body, /too-big/, 'the event the recording could not hold was not sent');
  // The watch's recording: its response chunks and its response event.
  const watchRecord = async (): Promise<{ response?: ResponseEvent; chunks: ResponseChunkEvent[] }> => {
    for (const sum of await s.h.kt.store.listSessions()) {
      const evs: RecordEvent[] = [];
      for await (const ev of s.h.kt.store.readSession(sum.id)) evs.push(ev);
      const req = evs.find((e): e is RequestEvent => e.type === 'request' && e.uri.includes('configmaps?watch=1'));
      if (!req) continue;
      return {
        response: evs.find((e): e is ResponseEvent => e.type === 'response' && e.seq === req.seq),
        chunks: evs.filter((e): e is ResponseChunkEvent => e.type === 'response.chunk' && e.seq === req.seq),
      };
    }
    return { chunks: [] };
  };
  await until(async () => (await watchRecord()).response !== undefined, 'the watch to be recorded as ended');
  const x = await watchRecord();
  t.match(x.response?.error, /its recording reached the 6000 bytes a stream may keep \(recording.maxStreamBytes\)/, 'the recording says why it ended');
  const kept = x.chunks.map((c) => Buffer.from(c.data, c.encoding === 'base64' ? 'base64' : 'utf8').toString()).join('');
  t.equal(kept, body, 'the client got exactly what was recorded');
});
