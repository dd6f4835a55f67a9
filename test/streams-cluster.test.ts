// End to end against the shared fake API server's own exec/attach/
// port-forward (test/fake-apiserver/streams: API server + kubelet behaviour,
// real processes, a real pty), with kubetape in front: what kubectl sees,
// what reached the cluster (its session log) and what kubetape recorded must
// agree.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { runningPod } from './helpers/stream-upstream.js';
import { kubectlBinary, kubectlOnPty, recorded, settledStreamExchanges } from './helpers/streams.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function cluster(t: { teardown(fn: () => unknown): void }, minor: string, websocket: boolean): Promise<Harness> {
  const h = await startHarness({ api: { minor, streamProtocols: { websocket } } });
  t.teardown(() => h.close());
  const pod = runningPod('web-0') as { spec: { containers: Array<Record<string, unknown>> } };
  pod.spec.containers[0]['stdin'] = true;
  pod.spec.containers[0]['stdinOnce'] = true;
  h.api.objects.put(pod as never);
  return h;
}

for (const run of [
  { name: 'kubectl 1.32 -> cluster with WebSocket', minor: '32', websocket: true, upstream: 'websocket' },
  { name: 'kubectl 1.32 -> SPDY-only cluster', minor: '32', websocket: false, upstream: 'spdy' },
  { name: 'kubectl 1.29 -> cluster with WebSocket', minor: '29', websocket: true, upstream: 'websocket' },
  { name: 'kubectl 1.29 -> SPDY-only cluster', minor: '29', websocket: false, upstream: 'spdy' },
] as const) {
  t.test(`exec -i with 256 KiB and exit code 3: ${run.name}`, async (t) => {
    const h = await cluster(t, run.minor, run.websocket);
    const payload = randomBytes(256 * 1024);
    const r = await kubectlBinary(h.kubeconfig, ['exec', '-i', 'web-0', '--', 'sh', '-c', 'cat; exit 3'], { input: payload });
    t.equal(r.code, 3, r.stderr);
    t.equal(sha(r.stdout), sha(payload), 'stdout is stdin, byte for byte');
    await h.api.streamsSettled();
    const log = h.api.streams.at(-1)!;
    t.equal(log.transport, run.upstream, `the cluster was reached over ${run.upstream}`);
    t.equal(log.stdinBytes, payload.length, 'the cluster got every stdin byte');
    t.ok(log.stdinClosed, 'and the stdin EOF');
    t.equal(log.exitCode, 3);
    const [x] = await settledStreamExchanges(h.kt.store, (x) => x.request.exec?.command.join(' ') === 'sh -c cat; exit 3');
    t.equal(sha(recorded(x, 'stdin')), sha(payload), 'recorded stdin');
    t.equal(sha(recorded(x, 'stdout')), sha(payload), 'recorded stdout');
    t.equal(x.response?.exitCode, 3);
  });
}

t.test('exec -it on the cluster pty: typing, resize, exit', async (t) => {
  const h = await cluster(t, '32', false);
  const term = kubectlOnPty(h.kubeconfig, ['exec', '-it', 'web-0', '--', 'sh'], { width: 90, height: 25 });
  await term.waitFor(/[#$] $/);
  term.send('stty size\r');
  await term.waitFor(/\r\n25 90\r\n/);
  term.resize(132, 43);
  for (let i = 0; i < 100 && !h.api.streams.at(-1)?.resizes.some((s) => s.Width === 132); i++) await new Promise((r) => setTimeout(r, 50));
  term.send('stty size\r');
  await term.waitFor(/\r\n43 132\r\n/);
  term.send('exit 0\r');
  const done = await term.done;
  t.equal(done.code, 0, done.output);
  await h.api.streamsSettled();
  t.match(h.api.streams.at(-1), { transport: 'spdy', tty: true, exitCode: 0 });
  const [x] = await settledStreamExchanges(h.kt.store, (x) => x.request.exec?.tty === true);
  t.match(recorded(x, 'stdin').toString(), /stty size\r[\s\S]*exit 0\r/);
  t.same(
    x.streams.filter((e) => e.channel === 'resize').map((e) => JSON.parse(e.data) as unknown),
    [
      { Width: 90, Height: 25 },
      { Width: 132, Height: 43 },
    ],
  );
});

t.test("attach -i to the container's main process", async (t) => {
  const h = await cluster(t, '32', true);
  const r = await kubectlBinary(h.kubeconfig, ['attach', '-i', 'web-0'], { input: 'hello cluster\n' });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout.toString(), /HELLO CLUSTER/);
  const [x] = await settledStreamExchanges(h.kt.store, (x) => x.request.attrs.subresource === 'attach');
  t.equal(recorded(x, 'stdin').toString(), 'hello cluster\n');
  t.match(recorded(x, 'stdout').toString(), /HELLO CLUSTER/);
});

for (const run of [
  { name: 'kubectl 1.32 tunnel -> cluster with WebSocket', websocket: true, transport: 'websocket-tunnel' },
  { name: 'kubectl 1.32 tunnel -> SPDY-only cluster', websocket: false, transport: 'spdy' },
] as const) {
  t.test(`port-forward, two concurrent connections: ${run.name}`, async (t) => {
    const h = await cluster(t, '32', run.websocket);
    const home = mkdtempSync(join(tmpdir(), 'kt-pfc-'));
    const child = spawn('kubectl', ['--kubeconfig', h.kubeconfig, '--cache-dir', join(home, 'c'), 'port-forward', '--address', '127.0.0.1', 'web-0', ':80'], {
      env: { ...process.env, HOME: home },
    });
    t.teardown(() => {
      child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    });
    const localPort = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /127\.0\.0\.1:(\d+) ->/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('close', () => reject(new Error('port-forward exited')));
    });
    const echo = (payload: Buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const s = net.connect(localPort, '127.0.0.1');
        const got: Buffer[] = [];
        s.on('data', (c: Buffer) => got.push(c));
        s.on('end', () => resolve(Buffer.concat(got)));
        s.on('error', reject);
        s.end(payload);
      });
    const a = randomBytes(256 * 1024);
    const b = randomBytes(256 * 1024);
    const [ea, eb] = await Promise.all([echo(a), echo(b)]);
    t.equal(sha(ea), sha(a));
    t.equal(sha(eb), sha(b));
    child.kill('SIGINT');
    await h.api.streamsSettled();
    const log = h.api.streams.at(-1)!;
    t.equal(log.transport, run.transport);
    t.equal(log.connections.length, 2, 'the cluster saw two connections');
    const [x] = await settledStreamExchanges(h.kt.store, (x) => x.request.portForward !== undefined);
    t.same([1, 2].map((n) => sha(recorded(x, 'out', n))).sort(), [sha(a), sha(b)].sort(), 'recorded per connection');
  });
}
