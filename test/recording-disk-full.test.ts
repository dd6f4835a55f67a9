// Issue 12 item 4: when the disk fills under an exec that is already open,
// the exec is stopped at once. The data dir is on a 2 MiB tmpfs made by the
// test; an exec runs `cat > FILE` (FILE outside the tmpfs: what the
// container received), the test fills the tmpfs to its last byte and sends
// more stdin. That stdin must never reach the container (FILE holds exactly
// the recorded stdin), the client gets a Failure Status saying the recording
// failed and the stream closes, the session file holds no torn line and
// still verifies, /readyz is 503, and once space is freed /readyz is 200
// again and recording works. A watch is stopped the same way.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { request } from 'node:https';
import WebSocket from 'ws';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlBinary, recorded, startStreamHarness, streamExchanges, type StreamHarness } from './helpers/streams.js';
import { mountTmpfs, openRawExec, readyz, sessionLines, until, type Tmpfs } from './helpers/raw-exec.js';
import type { RecordingConfig } from '../src/store/settings.js';
import { LocalStore } from '../src/store/local/local-store.js';
import type { AwsStore } from '../src/store/aws/aws-store.js';
import { awsEnv, awsRecording, provision, startMotoServer, useAwsEnv } from './helpers/aws-store.js';
import { newSessionId } from '../src/store/store.js';
import type { RecordEvent } from '../src/model/recording.js';

const fs = mountTmpfs('2m');
if (typeof fs === 'string') {
  t.skip(`disk-full tests: ${fs}`, () => undefined);
} else {
  run(fs);
}

function run(tmpfs: Tmpfs): void {
  const outside = mkdtempSync(join(tmpdir(), 'kt-diskfull-'));
  const recording: RecordingConfig = {
    maxBodyBytes: 1024 * 1024,
    maxStreamBytes: 64 * 1024 * 1024,
    sessionIdleSeconds: 30,
    failMode: 'closed',
    diskReserveBytes: 0,
  };
  let s: StreamHarness;
  t.before(async () => {
    s = await startStreamHarness({ minor: '32', config: { dataDir: join(tmpfs.dir, 'data'), recording } });
  });
  t.teardown(async () => {
    await s?.close();
    tmpfs.unmount();
    rmSync(outside, { recursive: true, force: true });
  });

  t.test('a full disk stops an open exec: nothing unrecorded reaches the container, the client is told, readyz fails and recovers', async (t) => {
    const received = join(outside, 'received');
    const exec = await openRawExec(s, ['sh', '-c', `cat > '${received}'`]);
    exec.send(0, 'line 1\n');
    await until(() => {
      try {
        return readFileSync(received, 'utf8') === 'line 1\n';
      } catch {
        return false;
      }
    }, 'the container to receive line 1');
    t.equal((await readyz(s)).status, 200, 'ready while recording works');

    const filler = tmpfs.fill();
    // More than the page left in the session file: the record's write is cut short, then fails.
    exec.send(0, 'line 2 ' + 'x'.repeat(20_000) + '\n');
    exec.send(0, 'line 3\n');
    const code = await Promise.race([exec.closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    t.equal(code, 1000, 'the stream closed');
    const status = JSON.parse(exec.received(3).toString() || '{}') as { status?: string; code?: number; reason?: string; message?: string };
    t.match(status, { status: 'Failure', code: 503, reason: 'ServiceUnavailable' }, 'a Failure Status on the error channel');
    t.match(status.message, /kubetape stopped the exec: its recording failed: .*ENOSPC/, 'saying the recording failed, and why');

    await new Promise((r) => setTimeout(r, 300));
    const inContainer = readFileSync(received, 'utf8');
    const [x] = (await streamExchanges(s.h.kt.store)).filter((e) => e.request.exec?.command[2] === `cat > '${received}'`);
    t.ok(x, 'the exec is recorded');
    t.equal(recorded(x, 'stdin').toString(), inContainer, 'the container received exactly the recorded stdin');
    t.equal(inContainer, 'line 1\n', 'nothing sent after the disk filled reached the container');

    const file = sessionLines(join(tmpfs.dir, 'data'), x.session);
    t.ok(file.text.endsWith('\n'), 'the session file ends on a whole line');
    t.same(
      file.lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      }),
      [],
      'no torn line anywhere in it',
    );
    const report = await s.h.kt.store.verify!(x.session);
    t.ok(report.ok, `the session still verifies: ${report.problem ?? ''}`);

    const failing = await readyz(s);
    t.equal(failing.status, 503, '/readyz fails while recording fails');
    t.match(failing.body, /recording: recording fails: .*ENOSPC/);

    unlinkSync(filler);
    await until(async () => (await readyz(s)).status === 200, '/readyz to recover once space is free');
    const again = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'cat'], { input: 'recording again\n' });
    t.equal(again.stdout.toString(), 'recording again\n', 'execs work again');
    await until(
      async () => (await streamExchanges(s.h.kt.store)).some((e) => recorded(e, 'stdin').toString() === 'recording again\n' && e.response?.exitCode === 0),
      'the new exec to be recorded',
    );
  });

  t.test('a failed append leaves the session file and its chain as if it had not been tried', async (t) => {
    const store = new LocalStore(join(tmpfs.dir, 'store-only'), { writable: true });
    const w = await store.openSession({
      type: 'session.start',
      session: newSessionId(),
      time: new Date().toISOString(),
      user: 'alice',
      groups: [],
      authMethod: 'token-file',
      cluster: 'c',
      source: '127.0.0.1',
    });
    const ev = (data: string): RecordEvent => ({ type: 'stream', session: w.id, seq: 1, offsetMs: 0, channel: 'stdin', encoding: 'utf8', data });
    await w.append(ev('before the disk filled\n'), { durable: true });
    const filler = tmpfs.fill();
    const path = sessionLines(join(tmpfs.dir, 'store-only'), w.id).path;
    const sizeBefore = readFileSync(path).length;
    t.throws(() => void w.append(ev('y'.repeat(50_000))), /ENOSPC/, 'the append fails at once, before it returns');
    t.equal(readFileSync(path).length, sizeBefore, 'what part of the line reached the file was cut off again');
    unlinkSync(filler);
    await w.append(ev('after space was freed\n'), { durable: true });
    await w.close({
      type: 'session.end',
      session: w.id,
      time: new Date().toISOString(),
      reason: 'idle',
      summary: { requests: 0, bytesIn: 0, bytesOut: 0, verbs: [], namespaces: [], resources: [], errors: 0 },
    });
    const file = sessionLines(join(tmpfs.dir, 'store-only'), w.id);
    t.equal(file.lines.length, 4, 'start, the two events written, end');
    const report = await store.verify(w.id);
    t.ok(report.ok, `the chain runs on from the last line written: ${report.problem ?? ''}`);
    await store.close();
  });

  t.test('the AWS store: a spool that cannot be written stops an open exec the same way', async (t) => {
    const spoolFs = mountTmpfs('2m');
    if (typeof spoolFs === 'string') return t.skip(spoolFs, () => undefined);
    const moto = await startMotoServer();
    useAwsEnv(awsEnv({ endpoint: moto.url }));
    await provision('kubetape-sessions', 'kubetape-diskfull');
    const a = await startStreamHarness({
      minor: '32',
      config: { dataDir: join(spoolFs.dir, 'data'), recording: awsRecording('kubetape-sessions', 'kubetape-diskfull', { diskReserveBytes: 0 }) },
    });
    t.teardown(async () => {
      await a.close();
      await moto.close();
      spoolFs.unmount();
    });
    const received = join(outside, 'received-aws');
    const exec = await openRawExec(a, ['sh', '-c', `cat > '${received}'`]);
    exec.send(0, 'spooled\n');
    await until(() => {
      try {
        return readFileSync(received, 'utf8') === 'spooled\n';
      } catch {
        return false;
      }
    }, 'the container to receive the first line');
    const filler = spoolFs.fill();
    exec.send(0, 'not spooled ' + 'z'.repeat(20_000) + '\n');
    t.equal(await Promise.race([exec.closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]), 1000, 'the stream closed');
    t.match(JSON.parse(exec.received(3).toString() || '{}'), {
      status: 'Failure',
      code: 503,
      message: /kubetape stopped the exec: its recording failed: .*ENOSPC/,
    });
    await new Promise((r) => setTimeout(r, 300));
    t.equal(readFileSync(received, 'utf8'), 'spooled\n', 'nothing unspooled reached the container');
    t.equal((await readyz(a)).status, 503, '/readyz fails');
    unlinkSync(filler);
    await until(async () => (await readyz(a)).status === 200, '/readyz to recover');
    t.ok(await (a.h.kt.store as AwsStore).uploaded(20_000), 'the spool drains to AWS');
    const [x] = (await streamExchanges(a.h.kt.store)).filter((e) => e.request.exec?.command[2] === `cat > '${received}'`);
    t.equal(recorded(x, 'stdin').toString(), 'spooled\n', 'what reached AWS is what the container received');
  });

  t.test('a full disk stops a port-forward: its connection hears why on the error channel', async (t) => {
    const url = s.h.kt.url.replace(/^https:/, 'wss:') + '/api/v1/namespaces/default/pods/web-0/portforward?ports=80';
    const ws = new WebSocket(url, ['v4.channel.k8s.io'], { ca: s.h.kt.ca, headers: { Authorization: `Bearer ${s.h.kt.localToken}` } });
    const messages: Buffer[] = [];
    ws.on('message', (d: Buffer) => messages.push(Buffer.from(d)));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await new Promise((r, j) => (ws.on('open', r), ws.on('error', j)));
    // Each channel starts with the port (2 bytes); then data on 0, errors on 1.
    const channel = (ch: number): string =>
      Buffer.concat(messages.filter((m) => m[0] === ch).map((m) => m.subarray(1)))
        .subarray(2)
        .toString();
    await until(() => messages.length >= 2, 'the port prefixes');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping 1')]));
    await until(() => channel(0) === 'ping 1', 'the echo of ping 1');
    const filler = tmpfs.fill();
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping 2 ' + 'p'.repeat(20_000))]));
    t.equal(await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]), 1000, 'the port-forward closed');
    t.match(channel(1), /kubetape stopped the port-forward: its recording failed: .*ENOSPC/, 'the error channel says why');
    t.equal(channel(0), 'ping 1', 'nothing sent after the disk filled came back from the pod');
    const [x] = (await streamExchanges(s.h.kt.store)).filter((e) => e.request.portForward?.ports[0] === 80);
    t.equal(recorded(x, 'in', 1).toString(), 'ping 1', 'the recording holds what was forwarded to the pod');
    unlinkSync(filler);
    await until(async () => (await readyz(s)).status === 200, '/readyz to recover');
  });

  t.test('failMode open: a full disk stops nothing; the failures are counted', async (t) => {
    const o = await startStreamHarness({ minor: '32', config: { dataDir: join(tmpfs.dir, 'open'), recording: { ...recording, failMode: 'open' } } });
    t.teardown(() => o.close());
    const received = join(outside, 'received-open');
    const exec = await openRawExec(o, ['sh', '-c', `cat > '${received}'`]);
    const inContainer = (): string => {
      try {
        return readFileSync(received, 'utf8');
      } catch {
        return '';
      }
    };
    exec.send(0, 'first\n');
    await until(() => inContainer() === 'first\n', 'the first line');
    const filler = tmpfs.fill();
    exec.send(0, 'second ' + 'w'.repeat(20_000) + '\n');
    await until(() => inContainer().endsWith('w\n'), 'the second line to be forwarded although it could not be recorded');
    const failures = (await o.h.kt.metrics.registry.getSingleMetricAsString('kubetape_recording_failures_total')).match(
      /^kubetape_recording_failures_total (\d+)/m,
    );
    t.ok(Number(failures?.[1]) >= 1, 'the failure is counted');
    t.equal(exec.received(3).length, 0, 'no error was sent: the exec goes on');
    t.equal((await readyz(o)).status, 200, 'failMode open stays ready');
    unlinkSync(filler);
    exec.send(255, Buffer.from([0]));
    t.equal(await exec.closed, 1000, 'it ends normally');
  });

  t.test('a full disk stops a watch: the event that could not be recorded never reaches the client', async (t) => {
    s.h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before-full', namespace: 'default' }, data: { k: 'v' } });
    const url = new URL(`${s.h.kt.url}/api/v1/namespaces/default/configmaps?watch=1`);
    let body = '';
    let ended = false;
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(url, { ca: s.h.kt.ca, headers: { Authorization: `Bearer ${s.h.kt.localToken}` } }, resolve);
      req.on('error', reject);
      req.end();
    });
    t.equal(res.statusCode, 200);
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('error', () => undefined);
    const done = new Promise<void>((r) => res.on('close', () => ((ended = true), r())));
    await until(() => body.includes('before-full'), 'the watch to show the first configmap');

    const filler = tmpfs.fill();
    s.h.api.objects.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'after-full', namespace: 'default' },
      data: { k: 'v'.repeat(8000) },
    });
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    t.ok(ended, 'the watch was ended');
    t.notMatch(body, /after-full/, 'the event that could not be recorded was not sent');
    unlinkSync(filler);
    await until(async () => (await readyz(s)).status === 200, '/readyz to recover');
  });
}
