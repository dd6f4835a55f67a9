// exec, attach, cp and port-forward against the fake API server's default
// stream handler, driven by the real kubectl (1.32 speaks WebSocket, 1.29 and
// KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false speak SPDY) with no proxy in
// between, plus the older protocols other clients use, spoken by hand.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { DEFAULT_MAIN_PROCESS, startFakeApiServer, type FakeApiServer, type FakeApiServerOptions, type StreamSessionLog } from './fake-apiserver/index.js';
import { runInTerminal } from './fake-apiserver/terminal.js';
import { kubectl, spawnKubectl, writeKubeconfig, type KubectlResult } from './helpers/kubectl.js';
import { dialSpdy, type SpdyStream } from '../src/forward/spdy/index.js';

const dir = mkdtempSync(join(tmpdir(), 'fake-streams-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'default' },
  spec: { containers: [{ name: 'app', image: 'busybox:1.36', stdin: true, stdinOnce: true }] },
};
const TTY_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'console', namespace: 'default' },
  spec: { containers: [{ name: 'shell', image: 'busybox:1.36', stdin: true, stdinOnce: true, tty: true }] },
};

async function cluster(t: Test, opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const s = await startFakeApiServer(opts);
  t.teardown(() => s.close());
  s.objects.put(POD);
  s.objects.put(TTY_POD);
  return s;
}

const kc = (s: FakeApiServer): string => writeKubeconfig(dir, { server: s.url, ca: s.ca, token: 'admin-token', namespace: 'default' });

interface Client {
  name: string;
  minor: string;
  env: NodeJS.ProcessEnv;
  transport: StreamSessionLog['transport'];
}

const WS_1_32: Client = { name: 'kubectl 1.32 (WebSocket)', minor: '32', env: {}, transport: 'websocket' };
const SPDY_1_29: Client = { name: 'kubectl 1.29 (SPDY)', minor: '29', env: {}, transport: 'spdy' };
const SPDY_1_32: Client = {
  name: 'kubectl 1.32, KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false',
  minor: '32',
  env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' },
  transport: 'spdy',
};

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const last = (s: FakeApiServer): StreamSessionLog => s.streams[s.streams.length - 1];
const exitsWith = (t: Test, r: KubectlResult, code: number, what: string): void => {
  t.equal(r.code, code, `${what} exits ${code}${r.code !== code ? `: ${r.stderr}` : ''}`);
};

/** The protocol the client listed first (WebSocket subprotocol or X-Stream-Protocol-Version) on its last upgrade. */
function firstOffered(s: FakeApiServer): string {
  const up = [...s.received].reverse().find((r) => r.status === 101)!;
  const raw = up.headers['x-stream-protocol-version'] ?? up.headers['sec-websocket-protocol'];
  return String(Array.isArray(raw) ? raw[0] : raw)
    .split(',')[0]
    .trim();
}

async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('exec: output, stderr, exit codes, 1 MB of stdin, a missing command', async (t) => {
  const input = randomBytes(768 * 1024).toString('base64'); // 1 MiB of text
  await Promise.all(
    [WS_1_32, SPDY_1_29, SPDY_1_32].map(async (c) => {
      const s = await cluster(t, { minor: c.minor });
      const k = kc(s);
      const env = c.env;
      const r = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { kubeconfig: k, env });
      exitsWith(t, r, 3, `${c.name}: exec`);
      t.equal(r.stdout, 'out\n', `${c.name}: stdout`);
      t.match(r.stderr, /^err$/m, `${c.name}: stderr stays separate`);
      await s.streamsSettled();
      let log = last(s);
      t.match(
        log,
        {
          subresource: 'exec',
          transport: c.transport,
          protocol: firstOffered(s),
          container: 'app',
          user: 'admin',
          tty: false,
          stdout: true,
          stderr: true,
          exitCode: 3,
          stdoutBytes: 4,
          stderrBytes: 4,
          end: 'completed',
        },
        `${c.name}: session log`,
      );
      t.same(log.command, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      t.match(log.status, { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });

      const cat = await kubectl(['exec', '-i', 'web-0', '--', 'cat'], { kubeconfig: k, env, input });
      exitsWith(t, cat, 0, `${c.name}: exec -i cat`);
      t.equal(sha(cat.stdout), sha(input), `${c.name}: 1 MiB through stdin and back, byte for byte`);
      await s.streamsSettled();
      log = last(s);
      t.match(
        log,
        { stdin: true, stdinBytes: input.length, stdoutBytes: input.length, stdinClosed: true, exitCode: 0, status: { status: 'Success' } },
        `${c.name}: stdin EOF arrived`,
      );

      const missing = await kubectl(['exec', 'web-0', '--', 'no-such-command'], { kubeconfig: k, env });
      exitsWith(t, missing, 1, `${c.name}: missing command`);
      t.match(missing.stderr, /exec: "no-such-command": executable file not found in \$PATH/, `${c.name}: the runtime's message`);
    }),
  );
});

t.test('exec -it: a real terminal, its size, a resize, the exit code', async (t) => {
  for (const c of [WS_1_32, SPDY_1_29]) {
    const s = await cluster(t, { minor: c.minor });
    const term = runInTerminal(['kubectl', '--kubeconfig', kc(s), '--cache-dir', join(dir, `cache-tty-${c.minor}`), 'exec', '-it', 'web-0', '--', 'sh'], {
      env: { ...process.env, HOME: dir },
      cols: 100,
      rows: 30,
    });
    t.teardown(() => term.kill());
    await term.waitFor(/# $/);
    term.type('stty size\r');
    await term.waitFor(/30 100/);
    term.resize(120, 40);
    await until(() => last(s).resizes.length >= 2, 5000, 'the resize to arrive');
    term.type('stty size\r');
    await term.waitFor(/40 120/);
    term.type('exit 4\r');
    t.equal(await term.exited, 4, `${c.name}: kubectl exits with the shell's code`);
    await s.streamsSettled();
    const log = last(s);
    t.match(log, { transport: c.transport, tty: true, stdin: true, stderr: false, exitCode: 4 }, `${c.name}: tty session`);
    t.same(
      log.resizes.slice(0, 2),
      [
        { Width: 100, Height: 30 },
        { Width: 120, Height: 40 },
      ],
      `${c.name}: resizes seen`,
    );
  }
});

t.test('kubectl cp both ways (tar over exec)', async (t) => {
  const src = join(dir, 'cp-src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  const blob = randomBytes(300 * 1024);
  writeFileSync(join(src, 'blob.bin'), blob);
  writeFileSync(join(src, 'sub', 'note.txt'), 'hello from the client\n');
  for (const c of [WS_1_32, SPDY_1_29]) {
    const s = await cluster(t, { minor: c.minor });
    const k = kc(s);
    const up = await kubectl(['cp', src, 'web-0:upload'], { kubeconfig: k, env: c.env });
    exitsWith(t, up, 0, `${c.name}: cp to the pod`);
    const inPod = join(s.podDir('default', 'web-0'), 'upload');
    t.equal(sha(readFileSync(join(inPod, 'blob.bin'))), sha(blob), `${c.name}: the binary file arrived intact`);
    t.equal(readFileSync(join(inPod, 'sub', 'note.txt'), 'utf8'), 'hello from the client\n');

    writeFileSync(join(inPod, 'made-in-pod.txt'), 'hello from the pod\n');
    const back = join(dir, `cp-back-${c.minor}`);
    const down = await kubectl(['cp', 'web-0:upload', back], { kubeconfig: k, env: c.env });
    exitsWith(t, down, 0, `${c.name}: cp from the pod`);
    t.same(readdirSync(back).sort(), ['blob.bin', 'made-in-pod.txt', 'sub']);
    t.equal(sha(readFileSync(join(back, 'blob.bin'))), sha(blob), `${c.name}: and back again intact`);
    t.equal(readFileSync(join(back, 'made-in-pod.txt'), 'utf8'), 'hello from the pod\n');
    await s.streamsSettled();
    t.ok(
      s.streams.some((x) => x.command[0] === 'tar' && x.stdinBytes > blob.length),
      `${c.name}: the upload was tar on stdin`,
    );
    t.ok(
      s.streams.some((x) => x.command[0] === 'tar' && x.stdoutBytes > blob.length),
      `${c.name}: the download was tar on stdout`,
    );
  }
});

t.test('attach: the container main process, shared and logged', async (t) => {
  for (const c of [WS_1_32, SPDY_1_29]) {
    const s = await cluster(t, { minor: c.minor });
    const r = await kubectl(['attach', '-i', 'web-0', '-c', 'app'], { kubeconfig: kc(s), env: c.env, input: 'hello\nworld\n' });
    exitsWith(t, r, 0, `${c.name}: attach -i`);
    t.equal(r.stdout, '> HELLO\n> WORLD\n> ', `${c.name}: the main process answered`);
    await s.streamsSettled();
    t.match(last(s), { subresource: 'attach', transport: c.transport, stdinBytes: 12, stdinClosed: true, status: { status: 'Success' } });
    t.same(last(s).command, DEFAULT_MAIN_PROCESS);
    t.same(s.logs.lines('default', 'web-0', 'app'), ['> HELLO', '> WORLD'], `${c.name}: its output is in the container log`);
  }

  const s = await cluster(t);
  const term = runInTerminal(['kubectl', '--kubeconfig', kc(s), '--cache-dir', join(dir, 'cache-attach-tty'), 'attach', '-it', 'console'], {
    env: { ...process.env, HOME: dir },
  });
  t.teardown(() => term.kill());
  await until(() => s.streams.length > 0, 10_000, 'the attach');
  term.type('shout\r');
  await term.waitFor(/SHOUT/);
  term.type('\x04'); // Ctrl-D: EOF for the main process on its terminal
  t.equal(await term.exited, 0, 'attach -it ends when the main process does');
  await s.streamsSettled();
  t.match(last(s), { subresource: 'attach', tty: true, stderr: false });
});

/** Forwards through kubectl and echoes `data` over `count` concurrent local connections. */
async function forwardAndEcho(t: Test, s: FakeApiServer, env: NodeJS.ProcessEnv, what: string, count = 2): Promise<void> {
  const pf = spawnKubectl(['port-forward', 'pod/web-0', ':80', ':8080'], { kubeconfig: kc(s), env, timeoutMs: 30_000 });
  t.teardown(() => pf.child.kill('SIGKILL'));
  const ports = new Map<string, number>();
  for await (const line of pf.lines) {
    const m = /127\.0\.0\.1:(\d+) -> (\d+)/.exec(line);
    if (m) ports.set(m[2], Number(m[1]));
    if (ports.size === 2) break;
  }
  const payloads = Array.from({ length: count }, () => randomBytes(1024 * 1024));
  const echoed = await Promise.all(payloads.map((p, i) => echoThrough(ports.get(i % 2 ? '8080' : '80')!, p)));
  echoed.forEach((e, i) => t.equal(sha(e), sha(payloads[i]), `${what}: connection ${i + 1} echoed 1 MiB intact`));
  pf.child.kill('SIGINT');
  await pf.done.catch(() => undefined);
}

function echoThrough(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got = 0;
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) sock.end();
    });
    sock.on('close', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    sock.write(data);
  });
}

t.test('port-forward: two concurrent connections, 1 MiB each way', async (t) => {
  const variants: Array<Client & { pfTransport: StreamSessionLog['transport'] }> = [
    { ...WS_1_32, name: 'kubectl 1.32 (SPDY in WebSocket)', pfTransport: 'websocket-tunnel' },
    { ...SPDY_1_29, pfTransport: 'spdy' },
    { ...WS_1_32, name: 'kubectl 1.32, KUBECTL_PORT_FORWARD_WEBSOCKETS=false', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, pfTransport: 'spdy' },
  ];
  for (const c of variants) {
    const s = await cluster(t, { minor: c.minor });
    await forwardAndEcho(t, s, c.env, c.name);
    await s.streamsSettled();
    const log = last(s);
    t.match(
      log,
      { subresource: 'portforward', transport: c.pfTransport, protocol: c.pfTransport === 'spdy' ? 'portforward.k8s.io' : 'SPDY/3.1+portforward.k8s.io' },
      `${c.name}: session`,
    );
    t.same(log.connections.map((x) => [x.port, x.bytesFromClient, x.bytesToClient]).sort(), [
      [80, 1024 * 1024, 1024 * 1024],
      [8080, 1024 * 1024, 1024 * 1024],
    ]);
  }
});

t.test('port-forward to a port nothing listens on', async (t) => {
  const s = await cluster(t, { portForwardTarget: () => undefined });
  const pf = spawnKubectl(['port-forward', 'pod/web-0', ':81'], { kubeconfig: kc(s), timeoutMs: 30_000 });
  t.teardown(() => pf.child.kill('SIGKILL'));
  let port = 0;
  for await (const line of pf.lines) {
    const m = /127\.0\.0\.1:(\d+) -> 81/.exec(line);
    if (m) port = Number(m[1]);
    if (port) break;
  }
  const got = await echoThrough(port, Buffer.from('ping'));
  t.equal(got.length, 0, 'the connection closes without data');
  await until(() => last(s).connections.length === 1 && last(s).connections[0].endedAt !== undefined, 5000, 'the failed connection');
  t.match(last(s).connections[0].error, /^error forwarding port 81 to pod [0-9a-f]{64}, uid : .*connect: connection refused/);
  pf.child.kill('SIGKILL');
  const r = await pf.done.catch(() => undefined);
  t.match(r?.stderr ?? '', /error forwarding port 81/, 'kubectl reports the kubelet error text');
});

t.test('WebSocket refused: kubectl 1.32 falls back to SPDY', async (t) => {
  const s = await cluster(t, { streamProtocols: { websocket: false } });
  const r = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo fell back; exit 2'], { kubeconfig: kc(s) });
  exitsWith(t, r, 2, 'exec');
  t.equal(r.stdout, 'fell back\n');
  const upgrades = s.received.filter((x) => x.path.includes('/exec')).map((x) => [x.method, String(x.headers.upgrade).toLowerCase(), x.status]);
  t.same(upgrades, [
    ['GET', 'websocket', 400],
    ['POST', 'spdy/3.1', 101],
  ]);
  await forwardAndEcho(t, s, {}, 'port-forward after fallback', 1);
  await s.streamsSettled();
  t.same(
    s.streams.map((x) => [x.subresource, x.transport]),
    [
      ['exec', 'spdy'],
      ['portforward', 'spdy'],
    ],
  );

  s.streamProtocols.spdy = false;
  const none = await kubectl(['exec', 'web-0', '--', 'true'], { kubeconfig: kc(s) });
  t.equal(none.code, 1, 'with neither protocol exec fails');
});

t.test('close() kills running commands and ends their sessions', async (t) => {
  const s = await startFakeApiServer();
  s.objects.put(POD);
  const run = spawnKubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo $$; exec sleep 60'], { kubeconfig: kc(s) });
  const it = run.lines[Symbol.asyncIterator]();
  const pid = Number((await it.next()).value);
  t.ok(pid > 0, 'the command runs');
  await s.close();
  const r = await run.done;
  t.not(r.code, 0, 'kubectl sees the session end');
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the process is gone');
  t.match(s.streams[0], { end: 'aborted' });
});

t.test('a client that goes away: the command is killed, the session marked', async (t) => {
  for (const c of [WS_1_32, SPDY_1_29]) {
    const s = await cluster(t, { minor: c.minor });
    const run = spawnKubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo $$; exec sleep 60'], { kubeconfig: kc(s) });
    const pid = Number((await run.lines[Symbol.asyncIterator]().next()).value);
    t.ok(pid > 0, `${c.name}: the command runs`);
    run.child.kill('SIGKILL');
    await run.done;
    await s.streamsSettled();
    t.match(last(s), { end: 'client-closed', transport: c.transport }, `${c.name}: session ended by the client`);
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `${c.name}: the process is gone`);
  }
});

// ---------- the protocols other clients use, spoken by hand ----------

interface WsResult {
  protocol: string;
  messages: Array<{ channel: number; data: Buffer }>;
  closeCode: number;
}

function wsExec(s: FakeApiServer, path: string, protocols: string[], base64 = false, send: Buffer[] = []): Promise<WsResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${s.port}${path}`, protocols, { ca: s.ca, headers: { Authorization: 'Bearer admin-token' } });
    const messages: WsResult['messages'] = [];
    ws.on('open', () => send.forEach((m) => ws.send(m)));
    ws.on('message', (m: Buffer) => {
      if (base64) messages.push({ channel: m[0] - 48, data: Buffer.from(m.subarray(1).toString(), 'base64') });
      else messages.push({ channel: m[0], data: m.subarray(1) });
    });
    ws.on('close', (code) => resolve({ protocol: ws.protocol, messages, closeCode: code }));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

const channelText = (r: WsResult, ch: number): string => Buffer.concat(r.messages.filter((m) => m.channel === ch).map((m) => m.data)).toString();
const EXEC_5 =
  '/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=echo%20hi%3B%20echo%20err%20%3E%262%3B%20exit%205&stdout=true&stderr=true';

t.test('WebSocket exec for other clients: v4, channel.k8s.io, base64, negotiation', async (t) => {
  const s = await cluster(t);
  const v4 = await wsExec(s, EXEC_5, ['v4.channel.k8s.io']);
  t.equal(v4.protocol, 'v4.channel.k8s.io');
  t.same(v4.messages[0], { channel: 1, data: Buffer.alloc(0) }, 'first an empty stdout message: connection established');
  t.equal(channelText(v4, 1), 'hi\n');
  t.equal(channelText(v4, 2), 'err\n');
  t.same(
    JSON.parse(channelText(v4, 3)),
    {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c echo hi; echo err >&2; exit 5], exit code 5',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '5' }] },
    },
    'v4: the kubelet Status as JSON',
  );
  t.equal(v4.closeCode, 1000);

  const v1 = await wsExec(s, EXEC_5, ['channel.k8s.io']);
  t.equal(
    channelText(v1, 3),
    'command terminated with non-zero exit code: error executing command [sh -c echo hi; echo err >&2; exit 5], exit code 5',
    'v1: bare error text',
  );
  const b64 = await wsExec(s, EXEC_5, ['base64.channel.k8s.io'], true);
  t.equal(b64.protocol, 'base64.channel.k8s.io');
  t.same([channelText(b64, 1), channelText(b64, 2)], ['hi\n', 'err\n'], 'base64: decoded output');

  const preferV5 = await wsExec(s, EXEC_5.replace('exit%205', 'exit%200'), ['v4.channel.k8s.io', 'v5.channel.k8s.io']);
  t.equal(preferV5.protocol, 'v5.channel.k8s.io', 'an offer including v5 goes to the API server translator');
  t.same(JSON.parse(channelText(preferV5, 3)), { metadata: {}, status: 'Success' });
  const firstListed = await wsExec(s, EXEC_5, ['base64.channel.k8s.io', 'v4.channel.k8s.io'], true);
  t.equal(firstListed.protocol, 'base64.channel.k8s.io', "without v5 the client's first supported protocol wins");
  await t.rejects(wsExec(s, EXEC_5, ['v3.channel.k8s.io']), /HTTP 403/, 'v3 exists only on SPDY');

  // v5 stdin close: [255, 0] ends stdin.
  const stdinPath = '/api/v1/namespaces/default/pods/web-0/exec?command=wc&command=-c&stdin=true&stdout=true';
  const closed = await wsExec(s, stdinPath, ['v5.channel.k8s.io'], false, [Buffer.from([0, 97, 98, 99]), Buffer.from([255, 0])]);
  t.equal(channelText(closed, 1).trim(), '3', 'v5 close on stdin is EOF for the command');
  await s.streamsSettled();
  t.match(last(s), { stdinClosed: true, stdinBytes: 3 });
});

t.test('WebSocket port-forward with v4 channel framing', async (t) => {
  const s = await cluster(t);
  const ws = new WebSocket(`wss://127.0.0.1:${s.port}/api/v1/namespaces/default/pods/web-0/portforward?ports=80`, ['v4.channel.k8s.io'], {
    ca: s.ca,
    headers: { Authorization: 'Bearer admin-token' },
  });
  const messages: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (m: Buffer) => {
      messages.push(m);
      if (messages.length === 2) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('echo me')]));
      if (
        Buffer.concat(
          messages
            .slice(2)
            .filter((x) => x[0] === 0)
            .map((x) => x.subarray(1)),
        ).toString() === 'echo me'
      )
        resolve();
    });
    ws.on('error', reject);
  });
  t.same(messages.slice(0, 2), [Buffer.from([0, 80, 0]), Buffer.from([1, 80, 0])], 'the port, little-endian, first on data and error channels');
  ws.close();
  await s.streamsSettled();
  t.match(last(s), { transport: 'websocket', protocol: 'v4.channel.k8s.io', ports: [80], connections: [{ port: 80, bytesFromClient: 7, bytesToClient: 7 }] });
});

t.test('SPDY exec with v2: no resize, errors as text', async (t) => {
  const s = await cluster(t);
  const { connection, protocol } = await dialSpdy(`${s.url}${EXEC_5}`, {
    ca: s.ca,
    headers: { Authorization: 'Bearer admin-token' },
    protocols: ['v2.channel.k8s.io'],
  });
  t.equal(protocol, 'v2.channel.k8s.io');
  const open = (type: string): Promise<SpdyStream> => connection.openStream({ streamtype: type });
  const [error, stdout, stderr] = await Promise.all([open('error'), open('stdout'), open('stderr')]);
  const read = (x: SpdyStream): Promise<string> =>
    new Promise((resolve) => {
      let text = '';
      x.on('data', (c: Buffer) => (text += c.toString()));
      x.on('end', () => resolve(text));
      x.on('close', () => resolve(text));
    });
  for (const x of [error, stdout, stderr]) x.end();
  const [err, out, errOut] = await Promise.all([read(error), read(stdout), read(stderr)]);
  t.equal(out, 'hi\n');
  t.equal(errOut, 'err\n');
  t.equal(err, 'command terminated with non-zero exit code: error executing command [sh -c echo hi; echo err >&2; exit 5], exit code 5');
  connection.destroy();
});
