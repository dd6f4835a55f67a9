// SPDY/3.1: framing and compression on their own, our client against our
// server, and our server against the real kubectl (exec and port-forward).
import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { createLoopbackTls } from '../src/listen/tls.js';
import { SPDY3_DICTIONARY } from '../src/forward/spdy/dictionary.js';
import { GoAwayStatus, RstStatus, decodeFrame, decodeFrameHead, encodeFrame, type SpdyFrame } from '../src/forward/spdy/frames.js';
import { FrameParser } from '../src/forward/spdy/parser.js';
import { HeaderCompressor, HeaderDecompressor, decodeHeaderBlock, encodeHeaderBlock } from '../src/forward/spdy/header-codec.js';
import { SpdyConnection, SpdyStreamResetError, type GoAwayInfo } from '../src/forward/spdy/connection.js';
import type { SpdyStream } from '../src/forward/spdy/stream.js';
import { acceptSpdyUpgrade, dialSpdy, negotiateStreamProtocol, refuseSpdyUpgrade, SpdyUpgradeError } from '../src/forward/spdy/upgrade.js';

// ---------- small helpers ----------

function frameRoundTrip(frame: SpdyFrame): SpdyFrame | undefined {
  const bytes = encodeFrame(frame);
  return decodeFrame(decodeFrameHead(bytes), bytes.subarray(8));
}

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function once<T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (v: T) => resolve(v)));
}

/** A connected pair of TCP sockets on loopback. */
async function socketPair(t: Scope): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = once<net.Socket>(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const serverSide = await accepted;
  server.close();
  // Without this, Nagle and delayed ACKs add 40 ms to every small round trip.
  client.setNoDelay(true);
  t.teardown(() => {
    client.destroy();
    serverSide.destroy();
  });
  return [client, serverSide];
}

async function connectionPair(t: Scope): Promise<{ client: SpdyConnection; server: SpdyConnection }> {
  const [a, b] = await socketPair(t);
  const client = new SpdyConnection(a, { role: 'client' });
  const server = new SpdyConnection(b, { role: 'server' });
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

/** The part of a tap test the helpers need. */
interface Scope {
  teardown(fn: () => unknown): void;
}

// ---------- 1. units ----------

t.test('dictionary is the SPDY/3 one', async (t) => {
  t.equal(SPDY3_DICTIONARY.length, 1423);
  t.same([...SPDY3_DICTIONARY.subarray(0, 11)], [0, 0, 0, 7, ...Buffer.from('options')]);
  t.equal(SPDY3_DICTIONARY.subarray(-6).toString(), 'enq=0.');
  // The zlib header carries the dictionary's Adler-32; Go's spdystream (kubectl) expects this id.
  const dictId = zlib.deflateSync(Buffer.from('x'), { dictionary: SPDY3_DICTIONARY }).readUInt32BE(2);
  t.equal(dictId.toString(16), 'e3c6a7c2');
});

t.test('frames round-trip', async (t) => {
  const block = Buffer.from([1, 2, 3, 4, 5]);
  const frames: SpdyFrame[] = [
    { type: 'data', streamId: 7, fin: true, data: Buffer.from('hello') },
    { type: 'data', streamId: 0x7fffffff, fin: false, data: Buffer.alloc(0) },
    { type: 'syn_stream', streamId: 3, associatedStreamId: 1, priority: 5, slot: 0, fin: false, unidirectional: true, headerBlock: block },
    { type: 'syn_reply', streamId: 3, fin: true, headerBlock: block },
    { type: 'headers', streamId: 3, fin: false, headerBlock: block },
    { type: 'rst_stream', streamId: 9, status: RstStatus.CANCEL },
    {
      type: 'settings',
      clearSettings: true,
      entries: [
        { flags: 1, id: 7, value: 65536 },
        { flags: 0, id: 4, value: 100 },
      ],
    },
    { type: 'ping', id: 0xfffffffe },
    { type: 'goaway', lastGoodStreamId: 11, status: GoAwayStatus.PROTOCOL_ERROR },
    { type: 'window_update', streamId: 0, delta: 0x7fffffff },
  ];
  for (const f of frames) t.same(frameRoundTrip(f), f, f.type);

  // Byte layout of a control frame header: control bit + version 3, type, flags, 24-bit length.
  const ping = encodeFrame({ type: 'ping', id: 1 });
  t.equal(ping.toString('hex'), '80030006000000040000000' + '1');
  const data = encodeFrame({ type: 'data', streamId: 1, fin: true, data: Buffer.from('ab') });
  t.equal(data.toString('hex'), '00000001' + '01000002' + '6162');

  // Unknown control types (e.g. SPDY/3 CREDENTIAL, type 10) are skipped, not errors.
  t.equal(decodeFrame({ control: true, version: 3, controlType: 10, flags: 0, length: 4 }, Buffer.alloc(4)), undefined);
  t.throws(() => encodeFrame({ type: 'data', streamId: 0, fin: false, data: Buffer.alloc(0) }), RangeError);
});

t.test('header blocks: encoding and one compression context per direction', async (t) => {
  const plain = encodeHeaderBlock({ StreamType: 'data', port: '8080', multi: ['a', 'b'] });
  t.same(decodeHeaderBlock(plain), { streamtype: 'data', port: '8080', multi: 'a\0b' });
  t.equal(plain.readUInt32BE(0), 3, '32-bit pair count');
  t.equal(plain.readUInt32BE(4), 'streamtype'.length, '32-bit name length');

  const deflate = new HeaderCompressor();
  const inflate = new HeaderDecompressor();
  t.teardown(() => {
    deflate.close();
    inflate.close();
  });
  // Compress many blocks concurrently: the results must come back in order
  // and decode in order through one inflate context.
  const inputs = Array.from({ length: 40 }, (_, i) => ({ streamtype: i % 2 ? 'stdout' : 'stderr', requestid: String(i), port: '80' }));
  const blocks = await Promise.all(inputs.map((h) => deflate.compress(h)));
  t.ok(blocks[1].length < blocks[0].length, 'the second block is smaller: it refers to the first');
  for (let i = 0; i < blocks.length; i++) t.same(await inflate.decompress(blocks[i]), inputs[i]);

  // Proof that the context persists: block 2 alone, in a fresh context, is undecodable.
  const fresh = new HeaderDecompressor();
  t.teardown(() => fresh.close());
  await t.rejects(fresh.decompress(blocks[1]), { name: 'SpdyProtocolError' });

  t.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 9, 0, 0])), { name: 'SpdyProtocolError' }, 'count larger than block');
  t.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 1, 0, 0, 0, 50, 0, 0, 0, 0])), { name: 'SpdyProtocolError' }, 'name overruns');
});

t.test('parser: frames fed one byte at a time', async (t) => {
  const frames: SpdyFrame[] = [
    { type: 'syn_stream', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headerBlock: Buffer.from('xyz') },
    { type: 'data', streamId: 1, fin: false, data: randomBytes(70_000) },
    { type: 'ping', id: 1 },
    { type: 'data', streamId: 1, fin: true, data: Buffer.alloc(0) },
    { type: 'goaway', lastGoodStreamId: 0, status: 0 },
  ];
  const wire = Buffer.concat(frames.map(encodeFrame));
  const parser = new FrameParser();
  const got: SpdyFrame[] = [];
  const errors: unknown[] = [];
  for (let i = 0; i < wire.length; i++) {
    const r = parser.push(wire.subarray(i, i + 1));
    if (r.error) errors.push(r.error);
    got.push(...r.frames);
  }
  t.same(errors, []);
  t.same(got, frames);
  t.equal(parser.pendingBytes, 0);
});

t.test('parser: malformed input is an error result, never a throw', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['SPDY/2', Buffer.from('8002000600000004000000001', 'hex')],
    ['garbage', Buffer.alloc(16, 0xff)],
    ['huge control frame', Buffer.from('80030001ffffffff', 'hex')],
    ['RST status 0', Buffer.from('80030003000000080000000100000000', 'hex')],
    ['short PING', Buffer.from('800300060000000200ff', 'hex')],
    ['SETTINGS count lies', Buffer.from('800300040000000400000005', 'hex')],
    ['DATA on stream 0', Buffer.from('0000000000000001ff', 'hex')],
  ];
  for (const [name, bytes] of cases) {
    const parser = new FrameParser();
    const r = parser.push(bytes);
    t.equal(r.error?.name, 'SpdyProtocolError', name);
    t.equal(parser.push(Buffer.from([0])).error, r.error, `${name}: stays failed`);
  }
  // A huge DATA frame is refused from its header alone when limits are set.
  const small = new FrameParser({ maxDataPayload: 1024 });
  t.match(small.push(Buffer.from('0000000100100000', 'hex')).error?.message, /exceeds/);
});

t.test('connection: a malformed frame gives GOAWAY(PROTOCOL_ERROR) and an error event', async (t) => {
  const bad = {
    'SPDY/2 frame': Buffer.from('8002000100000000', 'hex'),
    garbage: Buffer.alloc(12, 0xff),
    '16 MiB control frame': Buffer.from('80030001ffffffff', 'hex'),
  };
  for (const [what, bytes] of Object.entries(bad)) {
    const [raw, serverSide] = await socketPair(t);
    const server = new SpdyConnection(serverSide, { role: 'server' });
    const error = once<Error>(server, 'error');
    const closed = once<Error | undefined>(server, 'close');
    const replies = readAll(raw);
    // A valid PING first, so we can see the connection worked until the fault.
    raw.write(encodeFrame({ type: 'ping', id: 1 }));
    raw.end(bytes);
    t.equal((await error).name, 'SpdyProtocolError', what);
    t.ok(await closed, `${what}: close carries the error`);
    const parser = new FrameParser();
    const frames = parser.push(await replies).frames;
    t.same(frames[0], { type: 'ping', id: 1 }, `${what}: the ping before it was echoed`);
    t.same(frames.at(-1), { type: 'goaway', lastGoodStreamId: 0, status: GoAwayStatus.PROTOCOL_ERROR }, `${what}: GOAWAY`);
  }

  // A corrupt compressed header block (zlib error) is a protocol error too.
  const [raw, serverSide] = await socketPair(t);
  const server = new SpdyConnection(serverSide, { role: 'server' });
  server.on('stream', (s) => s.reply());
  const error = once<Error>(server, 'error');
  raw.write(
    encodeFrame({
      type: 'syn_stream',
      streamId: 1,
      associatedStreamId: 0,
      priority: 0,
      slot: 0,
      fin: false,
      unidirectional: false,
      headerBlock: Buffer.from('not zlib at all'),
    }),
  );
  t.match((await error).message, /header compression/);
});

// ---------- 2. our client against our server ----------

function echoServer(server: SpdyConnection): void {
  server.on('stream', (s) => {
    if (s.headers.mode === 'refuse') {
      s.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    s.reply({ accepted: 'yes' });
    s.pipe(s);
  });
}

t.test('client and server: streams both ways, 1 MiB each way, RST, GOAWAY, PING', async (t) => {
  const { client, server } = await connectionPair(t);
  echoServer(server);

  const payload = randomBytes(1024 * 1024);
  const stream = await client.openStream({ streamtype: 'data', mode: 'echo' });
  t.equal(stream.id, 1, 'client stream ids are odd');
  t.equal(stream.replyHeaders.accepted, 'yes');
  const echoed = readAll(stream);
  stream.end(payload);
  t.equal(sha(await echoed), sha(payload), '1 MiB went there and back');
  await new Promise((r) => setImmediate(r));
  t.equal(client.activeStreams, 0, 'FIN both ways: the client forgot the stream');
  t.equal(server.activeStreams, 0, 'FIN both ways: the server forgot the stream');

  // Server-initiated stream (even id) carrying 1 MiB to the client.
  const fromServer = randomBytes(1024 * 1024 + 17);
  client.on('stream', (s) => {
    s.reply();
    readAll(s).then((b) => s.end(`got ${sha(b)}`));
  });
  const down = await server.openStream({ streamtype: 'push' });
  t.equal(down.id % 2, 0, 'server stream ids are even');
  const ack = readAll(down);
  down.end(fromServer);
  t.equal((await ack).toString(), `got ${sha(fromServer)}`);

  t.ok((await client.ping()) >= 0, 'client ping answered');
  t.ok((await server.ping()) >= 0, 'server ping answered');

  // RST before reply: openStream rejects with the status.
  const refused = await client.openStream({ mode: 'refuse' }).catch((e: unknown) => e);
  t.ok(refused instanceof SpdyStreamResetError);
  t.equal((refused as SpdyStreamResetError).status, RstStatus.REFUSED_STREAM);

  // RST mid-stream: the peer's stream closes, no 'error' listener needed.
  const serverSide = once<SpdyStream>(server, 'stream');
  const victim = await client.openStream({ mode: 'echo' });
  const peer = await serverSide;
  const peerReset = once<number>(peer, 'reset');
  const peerClosed = once<void>(peer, 'close');
  victim.reset();
  t.equal(await peerReset, RstStatus.CANCEL);
  await peerClosed;
  t.ok(peer.destroyed);
  t.equal(peer.write('late'), false, 'writing to a reset stream is harmless');

  // GOAWAY: no new streams, open ones keep working, then both sides close.
  const survivor = await client.openStream({ mode: 'echo' });
  const goaway = once<GoAwayInfo>(client, 'goaway');
  server.goAway();
  t.same(await goaway, { lastGoodStreamId: survivor.id, status: GoAwayStatus.OK });
  await t.rejects(client.openStream({ mode: 'echo' }), /going away/);
  const survivorData = readAll(survivor);
  survivor.end('still here');
  t.equal((await survivorData).toString(), 'still here');
  const closes = Promise.all([once(client, 'close'), once(server, 'close')]);
  await closes;
  t.equal(client.isOpen, false);
  await t.rejects(client.openStream({}), /closed/);
});

t.test('server sends WINDOW_UPDATEs: a window-honouring sender never stalls', async (t) => {
  // A hand-made client that only sends within its window, like a strict
  // SPDY/3 implementation; if we never acknowledged data it would stop at 64 KiB.
  const [raw, serverSide] = await socketPair(t);
  const server = new SpdyConnection(serverSide, { role: 'server' });
  t.teardown(() => server.destroy());
  const total = 1024 * 1024;
  const received = new Promise<Buffer>((resolve) =>
    server.on('stream', (s) => {
      s.reply();
      readAll(s).then(resolve);
    }),
  );
  const payload = randomBytes(total);
  const compressor = new HeaderCompressor();
  const inflater = new HeaderDecompressor();
  t.teardown(() => {
    compressor.close();
    inflater.close();
  });
  const headerBlock = await compressor.compress({ streamtype: 'data' });
  raw.write(encodeFrame({ type: 'syn_stream', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headerBlock }));

  let streamWindow = 65536;
  let sessionWindow = 65536;
  let sent = 0;
  let updates = 0;
  let replied = false;
  const pump = (): void => {
    while (replied && sent < total && streamWindow > 0 && sessionWindow > 0) {
      const n = Math.min(8192, streamWindow, sessionWindow, total - sent);
      raw.write(encodeFrame({ type: 'data', streamId: 1, fin: sent + n === total, data: payload.subarray(sent, sent + n) }));
      sent += n;
      streamWindow -= n;
      sessionWindow -= n;
    }
  };
  const parser = new FrameParser();
  raw.on('data', (chunk: Buffer) => {
    for (const f of parser.push(chunk).frames) {
      if (f.type === 'syn_reply') {
        inflater.decompress(f.headerBlock).catch(() => undefined);
        replied = true;
      }
      if (f.type === 'window_update') {
        updates++;
        if (f.streamId === 1) streamWindow += f.delta;
        if (f.streamId === 0) sessionWindow += f.delta;
      }
    }
    pump();
  });
  const got = await received;
  t.equal(sha(got), sha(payload), 'all 1 MiB arrived');
  t.ok(updates >= 16, `window updates sent (${updates})`);
});

t.test('half-close: FIN ends one direction only; periodic pings', async (t) => {
  const { client, server } = await connectionPair(t);
  const serverStream = once<SpdyStream>(server, 'stream');
  server.on('stream', (s) => s.reply());
  const s = await client.openStream({ streamtype: 'stdin' });
  const peer = await serverStream;
  const peerInput = readAll(peer);
  s.end('request');
  t.equal((await peerInput).toString(), 'request', 'the peer saw our data and our FIN');
  t.equal(client.activeStreams, 1, 'half-closed: still open for the reply');
  const reply = readAll(s);
  peer.write('response part 1, ');
  peer.end('part 2');
  t.equal((await reply).toString(), 'response part 1, part 2', 'data after our FIN still arrives');
  await new Promise((r) => setImmediate(r));
  t.equal(client.activeStreams, 0);

  // pingIntervalMs sends PINGs with the role's parity; a peer echoes them.
  const [raw, side] = await socketPair(t);
  const pinger = new SpdyConnection(side, { role: 'client', pingIntervalMs: 10 });
  t.teardown(() => pinger.destroy());
  const parser = new FrameParser();
  const ids = await new Promise<number[]>((resolve) => {
    const seen: number[] = [];
    raw.on('data', (c: Buffer) => {
      for (const f of parser.push(c).frames) {
        if (f.type !== 'ping') continue;
        seen.push(f.id);
        raw.write(encodeFrame(f));
        if (seen.length === 3) resolve(seen);
      }
    });
  });
  t.same(ids, [1, 3, 5], 'client pings carry odd ids');
});

// ---------- 3. against the real kubectl ----------

const TOKEN = 'spdy-test-token';

interface FakeServer {
  url: string;
  caPem: string;
  minor: string;
  upgrades: string[];
  /** Resolves when every SPDY session so far has closed (kubectl's RST/GOAWAY/close handled). */
  sessionsClosed(): Promise<void>;
  close(): Promise<void>;
}

function podJson(): object {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: 'web-0',
      namespace: 'default',
      uid: '6a1f0e6e-7c1f-4c38-9d3e-000000000001',
      resourceVersion: '1',
      creationTimestamp: '2024-01-01T00:00:00Z',
    },
    spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    status: {
      phase: 'Running',
      containerStatuses: [
        { name: 'web', ready: true, restartCount: 0, image: 'nginx', imageID: '', started: true, state: { running: { startedAt: '2024-01-01T00:00:00Z' } } },
      ],
    },
  };
}

function restHandler(server: FakeServer) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    if (path === '/version') {
      json(200, {
        major: '1',
        minor: server.minor,
        gitVersion: `v1.${server.minor}.0`,
        gitCommit: 'x',
        gitTreeState: 'clean',
        buildDate: '2024-01-01T00:00:00Z',
        goVersion: 'go1.21',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      json(401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      return;
    }
    if (path === '/api')
      return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1') {
      const r = (name: string, kind: string, verbs: string[], namespaced = true) => ({ name, singularName: '', namespaced, kind, verbs });
      return json(200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { ...r('pods', 'Pod', ['get', 'list', 'watch', 'create', 'delete']), singularName: 'pod', shortNames: ['po'] },
          r('pods/exec', 'PodExecOptions', ['create', 'get']),
          r('pods/attach', 'PodAttachOptions', ['create', 'get']),
          r('pods/portforward', 'PodPortForwardOptions', ['create', 'get']),
          r('pods/log', 'Pod', ['get']),
        ],
      });
    }
    if (path === '/api/v1/namespaces/default/pods/web-0') return json(200, podJson());
    json(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `${path} not found`, reason: 'NotFound', code: 404 });
  };
}

const EXIT_3_STATUS = JSON.stringify({
  metadata: {},
  status: 'Failure',
  reason: 'NonZeroExitCode',
  details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
});

// A pretend container: stdin comes back upper-cased on stdout, a line goes to
// stderr, and the command "exits 3".
function serveExec(conn: SpdyConnection, query: URLSearchParams): void {
  const wanted = ['error', 'stdout', 'stderr'].concat(query.get('stdin') === 'true' ? ['stdin'] : []);
  const streams = new Map<string, SpdyStream>();
  conn.on('stream', (s) => {
    s.reply();
    streams.set(s.headers.streamtype ?? '', s);
    if (!wanted.every((w) => streams.has(w))) return;
    const stdout = streams.get('stdout')!;
    const stderr = streams.get('stderr')!;
    const error = streams.get('error')!;
    const finish = (): void => {
      stderr.end('this went to stderr\n');
      stdout.end();
      error.end(EXIT_3_STATUS);
    };
    const stdin = streams.get('stdin');
    if (!stdin) return finish();
    stdin.on('data', (c: Buffer) => stdout.write(c.toString('latin1').toUpperCase()));
    stdin.on('end', finish);
  });
}

function servePortForward(conn: SpdyConnection): void {
  const errorStreams = new Map<string, SpdyStream>();
  conn.on('stream', (s) => {
    s.reply();
    const id = s.headers.requestid ?? '';
    if (s.headers.streamtype === 'error') {
      errorStreams.set(id, s);
      s.resume();
      return;
    }
    // Echo; when kubectl finishes sending, finish the data stream and the
    // matching error stream (kubectl waits for the error stream to end).
    s.on('data', (c: Buffer) => s.write(c));
    s.on('end', () => {
      s.end();
      errorStreams.get(id)?.end();
      errorStreams.delete(id);
    });
  });
}

async function startFakeServer(t: Scope): Promise<FakeServer> {
  const tls = await createLoopbackTls();
  const sessions: Array<Promise<unknown>> = [];
  const track = (conn: SpdyConnection): SpdyConnection => {
    sessions.push(once(conn, 'close'));
    return conn;
  };
  const state: FakeServer = {
    url: '',
    caPem: tls.ca.cert,
    minor: '29',
    upgrades: [],
    sessionsClosed: async () => void (await Promise.all(sessions)),
    close: async () => undefined,
  };
  const server = https.createServer({ cert: tls.server.cert, key: tls.server.key }, restHandler(state));
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'https://x');
    const offered = req.headers['x-stream-protocol-version'] ?? req.headers['sec-websocket-protocol'] ?? '';
    state.upgrades.push(`${req.method} ${url.pathname} ${req.headers.upgrade} [${String(offered)}] ${req.headers['user-agent']}`);
    if (String(req.headers.upgrade).toLowerCase() !== 'spdy/3.1') return refuseSpdyUpgrade(socket, 400, 'websocket not supported here');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return refuseSpdyUpgrade(socket, 401, 'Unauthorized');
    if (url.pathname.endsWith('/exec')) {
      const protocol = negotiateStreamProtocol(req, ['v4.channel.k8s.io']);
      if (!protocol) return refuseSpdyUpgrade(socket, 403, 'unable to negotiate protocol');
      serveExec(track(acceptSpdyUpgrade(req, socket, head, protocol)), url.searchParams);
    } else if (url.pathname.endsWith('/portforward')) {
      const protocol = negotiateStreamProtocol(req, ['portforward.k8s.io']);
      if (!protocol) return refuseSpdyUpgrade(socket, 403, 'unable to negotiate protocol');
      servePortForward(track(acceptSpdyUpgrade(req, socket, head, protocol)));
    } else {
      refuseSpdyUpgrade(socket, 404, 'not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  t.teardown(() => state.close());
  return state;
}

interface KubectlRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function kubectlEnv(t: Scope, server: FakeServer): { args: string[]; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-spdy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: server.url, 'certificate-authority-data': Buffer.from(server.caPem).toString('base64') } }],
      users: [{ name: 'u', user: { token: TOKEN } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', namespace: 'default' } }],
      'current-context': 'x',
    }),
  );
  return {
    args: ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache')],
    env: { ...process.env, HOME: dir, KUBECONFIG: kubeconfig },
  };
}

function runKubectl(t: Scope, server: FakeServer, args: string[], stdin: Buffer, extraEnv: NodeJS.ProcessEnv = {}): Promise<KubectlRun> {
  const base = kubectlEnv(t, server);
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', [...base.args, ...args], { env: { ...base.env, ...extraEnv } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

t.test('kubectl exec over SPDY', async (t) => {
  const server = await startFakeServer(t);
  const big = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789\n'.repeat(Math.ceil(200_000 / 37)));
  const runs: Array<{ minor: string; env: NodeJS.ProcessEnv; input: Buffer }> = [
    { minor: '29', env: {}, input: Buffer.from('hello\n') },
    { minor: '29', env: {}, input: big },
    { minor: '32', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, input: big },
  ];
  for (const run of runs) {
    server.minor = run.minor;
    server.upgrades.length = 0;
    const r = await runKubectl(t, server, ['exec', '-i', 'web-0', '--', 'sh', '-c', 'x'], run.input, run.env);
    const label = `kubectl 1.${run.minor}, ${run.input.length} bytes`;
    t.equal(r.code, 3, `${label}: exit code from the Status`);
    t.equal(r.stdout.length, run.input.length, `${label}: stdout length`);
    t.ok(r.stdout.equals(Buffer.from(run.input.toString('latin1').toUpperCase(), 'latin1')), `${label}: stdout is stdin upper-cased`);
    t.match(r.stderr, /this went to stderr/, `${label}: stderr`);
    t.match(server.upgrades[0], /^POST \/api\/v1\/namespaces\/default\/pods\/web-0\/exec SPDY\/3\.1 \[.*v4\.channel\.k8s\.io/, `${label}: SPDY upgrade`);
    t.match(server.upgrades[0], new RegExp(` kubectl[^ ]*/v1\\.${run.minor}\\.`), `${label}: that kubectl version spoke`);
    t.equal(server.upgrades.length, 1, `${label}: one upgrade, straight to SPDY`);
    await server.sessionsClosed();
    t.pass(`${label}: our session closed when kubectl finished`);
  }
});

t.test('kubectl port-forward over SPDY', async (t) => {
  const server = await startFakeServer(t);
  server.minor = '29';
  const base = kubectlEnv(t, server);
  const child = spawn('kubectl', [...base.args, 'port-forward', '--address', '127.0.0.1', 'web-0', ':80'], { env: base.env });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const localPort = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${stderr}`)), 15_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 80/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', () => reject(new Error(`port-forward exited: ${stderr}`)));
  });

  // Two connections in turn: the second only works if the first one's
  // error stream was ended properly.
  for (const size of [5, 300_000]) {
    const sock = net.connect(localPort, '127.0.0.1');
    const payload = randomBytes(size);
    const echoed = readAll(sock);
    sock.end(payload);
    const got = await echoed;
    t.equal(sha(got), sha(payload), `${size} bytes echoed through kubectl port-forward`);
  }
  t.match(server.upgrades[0], /^POST \/api\/v1\/namespaces\/default\/pods\/web-0\/portforward SPDY\/3\.1 \[portforward\.k8s\.io\] kubectl[^ ]*\/v1\.29\./);
  t.notMatch(stderr, /error|Error/, 'kubectl reported no error');
});

// ---------- dialSpdy against our own upgrade handler ----------

t.test('dialSpdy: upgrade, protocol choice, refusal', async (t) => {
  const tls = await createLoopbackTls();
  const server = https.createServer({ cert: tls.server.cert, key: tls.server.key }, (_req, res) => res.end());
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.headers.authorization !== 'Bearer ok') {
      refuseSpdyUpgrade(socket, 403, '{"kind":"Status","message":"forbidden"}');
      return;
    }
    const protocol = negotiateStreamProtocol(req, ['v4.channel.k8s.io', 'v5.channel.k8s.io']);
    const conn = acceptSpdyUpgrade(req, socket, head, protocol ?? '');
    echoServer(conn);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/api/v1/namespaces/default/pods/web-0/exec`;

  const dialed = await dialSpdy(url, { ca: tls.ca.cert, headers: { Authorization: 'Bearer ok' }, protocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'] });
  t.equal(dialed.protocol, 'v5.channel.k8s.io', "the client's preference wins");
  const s = await dialed.connection.openStream({ streamtype: 'stdout' });
  const back = readAll(s);
  s.end('through TLS');
  t.equal((await back).toString(), 'through TLS');
  dialed.connection.destroy();

  const refusal = await dialSpdy(url, { ca: tls.ca.cert, protocols: ['v4.channel.k8s.io'] }).catch((e: unknown) => e);
  t.ok(refusal instanceof SpdyUpgradeError);
  t.equal((refusal as SpdyUpgradeError).statusCode, 403);
  t.match((refusal as SpdyUpgradeError).body, /forbidden/);
});
