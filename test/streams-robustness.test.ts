// The edges: a client that sends malformed SPDY, a client that goes away
// mid-exec, a cluster that dies mid-exec, client libraries that speak the
// older WebSocket protocols (v4, channel.k8s.io, base64, the bearer token in
// a subprotocol) and the kubelet's WebSocket port-forward framing, and a
// cluster refusal passed on as the cluster said it.
import t from 'tap';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { kubectlBinary, recorded, settledStreamExchanges, startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let ws32: StreamHarness;
let spdyOnly: StreamHarness;
t.before(async () => {
  ws32 = await startStreamHarness({ minor: '32', upstream: { webSocket: true } });
  spdyOnly = await startStreamHarness({ minor: '32', upstream: { webSocket: false } });
});
t.teardown(async () => {
  await ws32.close();
  await spdyOnly.close();
});

function wsUrl(s: StreamHarness, path: string): string {
  return s.h.kt.url.replace(/^https:/, 'wss:') + path;
}

/** A WebSocket client the way client libraries open exec and port-forward. */
function openWs(
  s: StreamHarness,
  path: string,
  protocols: string[],
  auth: 'header' | 'subprotocol' = 'header',
): Promise<{ ws: WebSocket; messages: Buffer[]; closed: Promise<number> }> {
  const token = s.h.kt.localToken!;
  const all = auth === 'subprotocol' ? [...protocols, `base64url.bearer.authorization.k8s.io.${Buffer.from(token).toString('base64url')}`] : protocols;
  const ws = new WebSocket(wsUrl(s, path), all, { ca: s.h.kt.ca, headers: auth === 'header' ? { Authorization: `Bearer ${token}` } : {} });
  const messages: Buffer[] = [];
  ws.on('message', (d: Buffer) => messages.push(Buffer.from(d)));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('error', reject);
  });
}

t.test('malformed SPDY from a client: protocol error for that connection, kubetape keeps serving', async (t) => {
  const s = ws32;
  const before = s.up.running();
  const sock = tlsConnect({ host: '127.0.0.1', port: Number(new URL(s.h.kt.url).port), ca: s.h.kt.ca });
  await new Promise((r) => sock.once('secureConnect', r));
  const received: Buffer[] = [];
  sock.on('data', (c: Buffer) => received.push(c));
  const closed = new Promise((r) => sock.on('close', r));
  sock.write(
    [
      'POST /api/v1/namespaces/default/pods/web-0/exec?command=sleep&command=30&stdout=true HTTP/1.1',
      'Host: kubetape',
      `Authorization: Bearer ${s.h.kt.localToken}`,
      'Connection: Upgrade',
      'Upgrade: SPDY/3.1',
      'X-Stream-Protocol-Version: v4.channel.k8s.io',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  for (let i = 0; i < 100 && !Buffer.concat(received).includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(Buffer.concat(received).toString('latin1'), /^HTTP\/1\.1 101 /, 'the upgrade was accepted');
  const headEnd = Buffer.concat(received).indexOf('\r\n\r\n') + 4;
  // A SYN_STREAM claiming SPDY version 2 and a length that does not fit its content.
  sock.write(Buffer.from([0x80, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]));
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  t.ok(sock.destroyed || sock.readableEnded, 'kubetape closed the connection');
  const frames = Buffer.concat(received).subarray(headEnd);
  const goaway = frames.indexOf(Buffer.from([0x80, 0x03, 0x00, 0x07]));
  t.ok(goaway >= 0, 'a GOAWAY came first');
  t.equal(frames.readUInt32BE(goaway + 12), 1, 'with status PROTOCOL_ERROR');

  const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command.join(' ') === 'sleep 30');
  t.match(x.response?.error, /SPDY|protocol/i, 'the recording says why it ended');
  for (let i = 0; i < 100 && s.up.running() > before; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(s.up.running(), before, 'nothing was left running in the pod');
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'echo', 'still serving']);
  t.equal(r.stdout.toString(), 'still serving\n', 'the next exec works');
});

for (const [name, pick] of [
  ['WebSocket cluster', () => ws32],
  ['SPDY-only cluster', () => spdyOnly],
] as const) {
  t.test(`a client that goes away mid-exec ends the exec on the ${name}`, async (t) => {
    const s = pick();
    const home = mkdtempSync(join(tmpdir(), 'kt-gone-'));
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
    const before = s.up.running();
    const child = spawn(
      'kubectl',
      ['--kubeconfig', s.h.kubeconfig, '--cache-dir', join(home, 'c'), 'exec', '-i', 'web-0', '--', 'sh', '-c', 'echo started; sleep 60'],
      { env: { ...process.env, HOME: home } },
    );
    await new Promise<void>((r) => child.stdout.on('data', (c: Buffer) => c.toString().includes('started') && r()));
    child.kill('SIGKILL');
    const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command[2] === 'echo started; sleep 60' && x.response !== undefined, 1);
    t.match(x.response?.error, /client closed/, 'recorded as ended by the client');
    t.equal(recorded(x, 'stdout').toString(), 'started\n');
    for (let i = 0; i < 100 && s.up.running() > before; i++) await new Promise((r) => setTimeout(r, 50));
    t.equal(s.up.running(), before, 'the process in the pod was stopped: the upstream session was closed');
  });

  t.test(`the ${name} dying mid-exec ends kubectl with an error Status`, async (t) => {
    const s = pick();
    const run = kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'sh', '-c', 'echo dying; sleep 60']);
    for (let i = 0; i < 200 && s.up.running() === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 300));
    s.up.killAll();
    const r = await run;
    t.equal(r.code, 1, 'kubectl fails');
    t.match(r.stderr, /kubetape: the connection to the cluster ended/, "with kubetape's explanation");
    const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command[2] === 'echo dying; sleep 60');
    t.match(x.response?.error, /connection to the cluster ended/);
    t.equal(recorded(x, 'stdout').toString(), 'dying\n');
  });
}

const EXEC =
  '/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=read%20line%3B%20echo%20got%20%24line%3B%20echo%20oops%20%3E%262%3B%20exit%202&stdin=true&stdout=true&stderr=true';

for (const c of [
  { protocol: 'v4.channel.k8s.io', binary: true, json: true, cluster: 'SPDY-only', auth: 'header' },
  { protocol: 'channel.k8s.io', binary: true, json: false, cluster: 'WebSocket', auth: 'subprotocol' },
  { protocol: 'base64.channel.k8s.io', binary: false, json: false, cluster: 'SPDY-only', auth: 'header' },
  { protocol: 'v4.base64.channel.k8s.io', binary: false, json: true, cluster: 'WebSocket', auth: 'header' },
] as const) {
  t.test(`client library over ${c.protocol} to the ${c.cluster} cluster (token in ${c.auth})`, async (t) => {
    const s = c.cluster === 'WebSocket' ? ws32 : spdyOnly;
    const seen = s.up.seen.length;
    const { ws, messages, closed } = await openWs(s, EXEC, [c.protocol], c.auth);
    t.equal(ws.protocol, c.protocol, 'kubetape chose the protocol the client offered');
    const encode = (ch: number, data: string): Buffer | string =>
      c.binary ? Buffer.concat([Buffer.from([ch]), Buffer.from(data)]) : String(ch) + Buffer.from(data).toString('base64');
    ws.send(encode(0, 'hello\n'));
    const code = await closed;
    t.equal(code, 1000, 'closed normally');
    const byChannel = new Map<number, string>();
    for (const m of messages) {
      const ch = c.binary ? m[0] : m[0] - 48;
      const data = c.binary ? m.subarray(1) : Buffer.from(m.subarray(1).toString(), 'base64');
      byChannel.set(ch, (byChannel.get(ch) ?? '') + data.toString());
    }
    t.equal(byChannel.get(1), 'got hello\n', 'stdout');
    t.equal(byChannel.get(2), 'oops\n', 'stderr');
    const status = byChannel.get(3) ?? '';
    if (c.json)
      t.match(
        JSON.parse(status),
        { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } },
        'v4: a Status with the exit code',
      );
    else t.match(status, /^command terminated with non-zero exit code: .*exit code 2$/, 'before v4: the message as text');
    t.equal(s.up.seen[seen]?.authorization, 'Bearer admin-token', 'the cluster saw kubetape, not the caller');
    const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.response?.streamProtocol?.client === `websocket ${c.protocol}`);
    t.equal(x.response?.exitCode, 2, 'the exit code is recorded either way');
    t.equal(recorded(x, 'stdin').toString(), 'hello\n');
  });
}

t.test("the kubelet's WebSocket port-forward framing, per-port channels with the port prefix", async (t) => {
  for (const s of [ws32, spdyOnly]) {
    const { ws, messages, closed } = await openWs(s, '/api/v1/namespaces/default/pods/web-0/portforward?ports=80', ['v4.channel.k8s.io']);
    for (let i = 0; i < 100 && messages.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    t.same(
      messages.slice(0, 2).map((m) => [...m]),
      [
        [0, 80, 0],
        [1, 80, 0],
      ],
      'data and error channels start with port 80, little-endian',
    );
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping through the framing')]));
    for (let i = 0; i < 100 && Buffer.concat(messages.slice(2).map((m) => m.subarray(1))).length < 24; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(
      Buffer.concat(
        messages
          .slice(2)
          .filter((m) => m[0] === 0)
          .map((m) => m.subarray(1)),
      ).toString(),
      'ping through the framing',
      'echoed on the data channel',
    );
    ws.close(1000);
    await closed;
    const [x] = await settledStreamExchanges(
      s.h.kt.store,
      (x) => x.request.portForward?.ports[0] === 80 && x.response?.streamProtocol?.client === 'websocket v4.channel.k8s.io',
    );
    t.same(x.request.portForward, { ports: [80] });
    t.equal(recorded(x, 'in', 1).toString(), 'ping through the framing');
  }
});

t.test("the cluster's refusal is passed on as the cluster said it", async (t) => {
  const s = ws32;
  const err = await new Promise<{ status: number; body: string }>((resolve) => {
    const ws = new WebSocket(wsUrl(s, '/api/v1/namespaces/default/pods/missing/exec?command=true&stdout=true'), ['v5.channel.k8s.io'], {
      ca: s.h.kt.ca,
      headers: { Authorization: `Bearer ${s.h.kt.localToken}` },
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', () => undefined);
  });
  t.equal(err.status, 404);
  t.match(JSON.parse(err.body), { kind: 'Status', reason: 'NotFound' });
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '-c', 'nope', '--', 'true']);
  t.not(r.code, 0);
  t.match(r.stderr, /nope/, 'kubectl shows the cluster message');
});

t.test('a cluster that completes the WebSocket upgrade without a subprotocol gets SPDY instead', async (t) => {
  const s = await startStreamHarness({ minor: '32', upstream: { webSocket: 'no-subprotocol' } });
  t.teardown(() => s.close());
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'cat'], { input: 'fell back\n' });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.toString(), 'fell back\n');
  t.equal(s.up.seen.at(-1)?.transport, 'spdy', 'the exec ran over SPDY');
});

t.test('failMode open: the recording stops at maxStreamBytes, marks the cut, and still counts every byte', async (t) => {
  const s = await startStreamHarness({
    minor: '32',
    config: { recording: { maxBodyBytes: 1024 * 1024, maxStreamBytes: 1000, sessionIdleSeconds: 30, failMode: 'open' } },
  });
  t.teardown(() => s.close());
  const input = Buffer.alloc(5000, 'a');
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'cat'], { input });
  t.equal(r.stdout.length, 5000, 'the client still gets everything');
  const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command[0] === 'cat');
  const kept = recorded(x, 'stdin').length + recorded(x, 'stdout').length;
  t.ok(kept <= 1000, `at most the limit is kept (${kept})`);
  t.equal(x.streams.filter((e) => e.truncated).length, 1, 'one event marks the cut');
  t.equal(x.response?.truncated, true, 'the response says the stream was truncated');
  t.equal(x.response?.streamBytes?.stdin, 5000, 'bytes are counted past the limit');
  t.equal(x.response?.streamBytes?.stdout, 5000);
  t.equal(x.response?.exitCode, 0, 'the exit code is kept after the cut');
});
