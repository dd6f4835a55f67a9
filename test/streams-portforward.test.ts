// kubectl port-forward and kubectl cp through kubetape. port-forward: the
// WebSocket tunnel (kubectl 1.32) and SPDY (1.29, or 1.32 with
// KUBECTL_PORT_FORWARD_WEBSOCKETS=false) against a cluster that speaks the
// tunnel and one that speaks only SPDY; two concurrent connections with 1 MB
// each way, recorded per connection; the cluster's error text passed on.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliFromSource, kubectlBinary, recorded, settledStreamExchanges, startStreamHarness, streamExchanges, type StreamHarness } from './helpers/streams.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Scope {
  teardown(fn: () => unknown): void;
}

interface PortForward {
  localPort: number;
  stderr: () => string;
  /** Ends kubectl as a user does (Ctrl-C). */
  stop: () => Promise<void>;
}

function startPortForward(t: Scope, s: StreamHarness, port: number, env: NodeJS.ProcessEnv): Promise<PortForward> {
  const home = mkdtempSync(join(tmpdir(), 'kt-pf-'));
  const child = spawn(
    'kubectl',
    ['--kubeconfig', s.h.kubeconfig, '--cache-dir', join(home, 'cache'), 'port-forward', '--address', '127.0.0.1', 'web-0', `:${port}`],
    {
      env: { ...process.env, HOME: home, ...env },
    },
  );
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const stop = async (): Promise<void> => {
    child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    child.kill('SIGKILL');
  };
  t.teardown(async () => {
    await stop();
    rmSync(home, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ localPort: Number(m[1]), stderr: () => stderr, stop });
      }
    });
    void exited.then(() => reject(new Error(`port-forward exited: ${stderr}`)));
  });
}

function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    sock.end(payload);
  });
}

const RUNS = [
  {
    name: 'kubectl 1.32 tunnel -> tunnel cluster',
    minor: '32',
    env: {},
    webSocket: true,
    client: 'websocket SPDY/3.1+portforward.k8s.io',
    upstream: 'websocket SPDY/3.1+portforward.k8s.io',
  },
  {
    name: 'kubectl 1.32 tunnel -> SPDY-only cluster',
    minor: '32',
    env: {},
    webSocket: false,
    client: 'websocket SPDY/3.1+portforward.k8s.io',
    upstream: 'spdy portforward.k8s.io',
  },
  {
    name: 'kubectl 1.32 SPDY -> tunnel cluster',
    minor: '32',
    env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' },
    webSocket: true,
    client: 'spdy portforward.k8s.io',
    upstream: 'websocket SPDY/3.1+portforward.k8s.io',
  },
  {
    name: 'kubectl 1.29 SPDY -> SPDY-only cluster',
    minor: '29',
    env: {},
    webSocket: false,
    client: 'spdy portforward.k8s.io',
    upstream: 'spdy portforward.k8s.io',
  },
] as const;

for (const run of RUNS) {
  t.test(`port-forward, two concurrent connections of 1 MB each way: ${run.name}`, async (t) => {
    const s = await startStreamHarness({ minor: run.minor, upstream: { webSocket: run.webSocket } });
    t.teardown(() => s.close());
    const pf = await startPortForward(t, s, 80, run.env);
    const a = randomBytes(1024 * 1024);
    const b = randomBytes(1024 * 1024);
    const [ea, eb] = await Promise.all([echoThrough(pf.localPort, a), echoThrough(pf.localPort, b)]);
    t.equal(sha(ea), sha(a), 'first connection: every byte echoed');
    t.equal(sha(eb), sha(b), 'second connection: every byte echoed');
    const small = await echoThrough(pf.localPort, Buffer.from('third, after the others'));
    t.equal(small.toString(), 'third, after the others', 'a later connection works: the earlier ones were ended properly');
    t.notMatch(pf.stderr(), /error|Error/, 'kubectl reported no error');

    // The session is recorded when kubectl stops; until then its connections are.
    const deadline = Date.now() + 5000;
    let x = (await streamExchanges(s.h.kt.store)).find((e) => e.request.portForward);
    while ((!x || x.streams.filter((e) => e.channel === 'close').length < 3) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      x = (await streamExchanges(s.h.kt.store)).find((e) => e.request.portForward);
    }
    t.ok(x, 'the port-forward is recorded');
    const opens = x!.streams.filter((e) => e.channel === 'open');
    t.equal(opens.length, 3, 'three connections recorded');
    t.ok(
      opens.every((e) => e.port === 80),
      'each with its port',
    );
    const hashes = [1, 2].map((n) => sha(recorded(x!, 'in', n))).sort();
    t.same(hashes, [sha(a), sha(b)].sort(), 'client-to-pod bytes recorded per connection');
    t.same([1, 2].map((n) => sha(recorded(x!, 'out', n))).sort(), [sha(a), sha(b)].sort(), 'pod-to-client bytes recorded per connection');
    t.equal(recorded(x!, 'in', 3).toString(), 'third, after the others');

    await pf.stop();
    const [ended] = await settledStreamExchanges(s.h.kt.store, (e) => e.request.portForward !== undefined);
    t.equal(ended.response?.status, 101);
    t.notOk(ended.response?.error, `ending kubectl is the normal end of a port-forward: ${ended.response?.error}`);
    t.equal(ended.response?.streamProtocol?.client, run.client, 'client protocol');
    t.equal(ended.response?.streamProtocol?.upstream, run.upstream, 'cluster protocol');
    t.equal(ended.response?.streamBytes?.in, a.length + b.length + 23, 'bytes in counted');
  });
}

t.test('the cluster error text for a connection reaches kubectl and the recording', async (t) => {
  const s = await startStreamHarness({ minor: '32', upstream: { webSocket: true } });
  t.teardown(() => s.close());
  const pf = await startPortForward(t, s, 9, {});
  await echoThrough(pf.localPort, Buffer.from('x')).catch(() => Buffer.alloc(0));
  for (let i = 0; i < 100 && !/connection refused/.test(pf.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(pf.stderr(), /error forwarding port 9 to pod: connection refused/, 'kubectl printed the cluster error');
  const x = (await streamExchanges(s.h.kt.store)).find((e) => e.request.portForward);
  t.match(recorded(x!, 'error', 1).toString(), /connection refused/, 'the error text is recorded for that connection');
  await pf.stop();
  await settledStreamExchanges(s.h.kt.store, (e) => e.request.portForward !== undefined);
  const [show] = await cliFromSource([['sessions', 'show', x!.session, '--data-dir', s.h.dataDir]]);
  t.match(
    show.stdout.toString(),
    /port-forward ports 9\s+1 connection\s+in 1 B, out 0 B, error \d+ B\s+\(websocket SPDY\/3\.1\+portforward\.k8s\.io -> websocket SPDY\/3\.1\+portforward\.k8s\.io\)/,
    'sessions show summarises the port-forward',
  );
});

t.test('kubectl cp both ways is tar over exec, recorded', async (t) => {
  const s = await startStreamHarness({ minor: '32', upstream: { webSocket: true } });
  t.teardown(() => s.close());
  const dir = mkdtempSync(join(tmpdir(), 'kt-cp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The fake pod's filesystem is this machine's: "remote" paths are local ones.
  const local = join(dir, 'local');
  mkdirSync(local);
  const data = randomBytes(300 * 1024);
  writeFileSync(join(local, 'blob.bin'), data);
  writeFileSync(join(local, 'note.txt'), 'copied through kubetape\n');
  const remote = join(dir, 'in-pod');
  mkdirSync(remote);
  const up = await kubectlBinary(s.h.kubeconfig, ['cp', local, `web-0:${join(remote, 'dest')}`]);
  t.equal(up.code, 0, up.stderr);
  t.equal(sha(readFileSync(join(remote, 'dest', 'blob.bin'))), sha(data), 'copied into the pod byte for byte');

  const back = join(dir, 'back');
  const down = await kubectlBinary(s.h.kubeconfig, ['cp', `web-0:${join(remote, 'dest')}`, back]);
  t.equal(down.code, 0, down.stderr);
  t.equal(sha(readFileSync(join(back, 'blob.bin'))), sha(data), 'copied out of the pod byte for byte');
  t.equal(readFileSync(join(back, 'note.txt'), 'utf8'), 'copied through kubetape\n');

  const execs = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command[0] === 'tar', 2);
  const into = execs.find((x) => x.request.exec!.stdin)!;
  const outOf = execs.find((x) => !x.request.exec!.stdin)!;
  t.ok(recorded(into, 'stdin').includes(data), 'the tar stream sent into the pod is recorded with the file in it');
  t.ok(recorded(outOf, 'stdout').includes(data), 'the tar stream read from the pod is recorded with the file in it');
});
