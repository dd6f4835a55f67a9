// The port-forward decoder on its own (src/record/decode/): HTTP/1.x in
// every framing, split at every byte, pipelined; WebSocket after an
// upgrade; MCP over JSON and SSE responses; and hostile input: huge heads,
// bad chunk sizes, conflicting lengths, a gzip bomb, TLS and binary left raw.
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { ConnectionDecoder } from '../src/record/decode/connection-decoder.js';
import { McpLinker } from '../src/record/decode/mcp.js';
import { PortForwardTap } from '../src/record/decode/portforward-tap.js';
import { inflateBounded } from '../src/record/decode/body-decode.js';
import type { UnplacedEvent } from '../src/record/decode/types.js';
import { BUILTIN_PATTERNS } from '../src/mask/patterns.js';

type Ev = UnplacedEvent;

function decode(steps: Array<['in' | 'out', Buffer | string]>, o: { limit?: number; split?: number; patterns?: boolean } = {}): Ev[] {
  const out: Ev[] = [];
  const d = new ConnectionDecoder({
    connection: 1,
    port: 80,
    limit: o.limit ?? 1024 * 1024,
    patterns: o.patterns ? [{ name: 'bearer-token', regex: BUILTIN_PATTERNS['bearer-token'] }] : [],
    linker: new McpLinker(),
    sink: (ev) => {
      out.push(ev);
      return true;
    },
    now: () => 0,
  });
  for (const [dir, data] of steps) {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    if (!o.split) d.push(dir, b);
    else for (let i = 0; i < b.length; i += o.split) d.push(dir, b.subarray(i, i + o.split));
  }
  d.end();
  return out;
}

const of = <T extends Ev['type']>(evs: Ev[], type: T): Array<Extract<Ev, { type: T }>> => evs.filter((e): e is Extract<Ev, { type: T }> => e.type === type);

const GET = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const OK = (body: string, extra = ''): string =>
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

t.test('keep-alive, byte by byte and whole: each exchange decoded in order', async (t) => {
  for (const split of [0, 1, 7]) {
    const evs = decode(
      [
        ['in', GET('/a', 'Authorization: Bearer abcdefghijklmnop\r\nCookie: sid=secret\r\n')],
        ['out', OK('first')],
        ['in', GET('/b')],
        ['out', OK('second')],
      ],
      { split },
    );
    const xs = of(evs, 'http.exchange');
    t.equal(xs.length, 2, `split ${split}: two exchanges`);
    t.same(
      xs.map((x) => [x.index, x.request.target, x.response?.status, x.response?.body?.data]),
      [
        [1, '/a', 200, 'first'],
        [2, '/b', 200, 'second'],
      ],
    );
    const h = Object.fromEntries(xs[0].request.headers);
    t.equal(h['Authorization'], 'Bearer [masked]', 'a bearer token is never stored in clear');
    t.equal(h['Cookie'], '[masked]', 'nor a cookie');
    t.notOk(JSON.stringify(evs).includes('abcdefghijklmnop'));
  }
});

t.test('pipelined requests are answered in order; a chunked gzip response is decoded', async (t) => {
  const text = Array.from({ length: 500 }, (_, i) => `line ${i * 7919}`).join('\n');
  const gz = gzipSync(text);
  const half = gz.length >> 1;
  const chunked = `${half.toString(16)}\r\n${gz.subarray(0, half).toString('latin1')}\r\n${(gz.length - half).toString(16)};ext=1\r\n${gz.subarray(half).toString('latin1')}\r\n0\r\nX-Trailer: 1\r\n\r\n`;
  const evs = decode(
    [
      ['in', GET('/1') + GET('/2') + 'POST /3 HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde'],
      ['out', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nContent-Type: text/plain\r\n\r\n${chunked}`],
      ['out', OK('two') + 'HTTP/1.1 204 No Content\r\n\r\n'],
    ],
    { split: 3 },
  );
  const xs = of(evs, 'http.exchange');
  t.same(
    xs.map((x) => [x.request.target, x.response?.status]),
    [
      ['/1', 200],
      ['/2', 200],
      ['/3', 204],
    ],
  );
  t.equal(xs[0].response?.body?.data, text, 'de-chunked and gunzipped');
  t.equal(xs[0].response?.decodedFrom, 'gzip');
  t.equal(xs[2].request.body?.data, 'abcde');
});

t.test('a body over the limit is cut in the record, its size counted', async (t) => {
  const body = 'x'.repeat(10_000);
  const [x] = of(
    decode(
      [
        ['in', GET('/big')],
        ['out', OK(body)],
      ],
      { limit: 1000 },
    ),
    'http.exchange',
  );
  t.equal(x.response?.body?.data.length, 1000);
  t.equal(x.response?.body?.size, 10_000);
  t.equal(x.response?.body?.truncated, true);
});

t.test('hostile input: each stops decoding of that connection only, noted', async (t) => {
  const cases: Array<[string, Array<['in' | 'out', string]>, RegExp]> = [
    ['a huge head', [['in', `GET / HTTP/1.1\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`]], /head over/],
    [
      'a bad chunk size',
      [
        ['in', GET('/')],
        ['out', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
      ],
      /bad chunk size/,
    ],
    [
      'an over-long chunk size line',
      [
        ['in', GET('/')],
        ['out', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'1'.repeat(2000)}`],
      ],
      /over-long chunk/,
    ],
    [
      'a chunk size past 2^52',
      [
        ['in', GET('/')],
        ['out', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n'],
      ],
      /bad chunk size/,
    ],
    ['conflicting lengths', [['in', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n']], /conflicting Content-Length/],
    [
      'a response nobody asked for',
      [
        ['in', GET('/')],
        ['out', OK('a') + OK('b')],
      ],
      /without a request/,
    ],
    [
      'a bad status line',
      [
        ['in', GET('/')],
        ['out', 'HTTP/2 200\r\n\r\n'],
      ],
      /not an HTTP\/1.x status line/,
    ],
  ];
  for (const [name, steps, why] of cases) {
    const evs = decode(steps);
    const notes = of(evs, 'decode.note').filter((n) => n.protocol === 'error');
    t.equal(notes.length, 1, `${name}: noted`);
    t.match(notes[0]?.note, why, name);
    t.match(notes[0]?.note, /left raw/);
  }
});

t.test('a gzip bomb inflates to at most the limit, quickly', async (t) => {
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  t.ok(bomb.length < 100 * 1024, `the bomb is small on the wire (${bomb.length} B)`);
  const r = inflateBounded('gzip', bomb, 64 * 1024);
  t.ok(r && r.data.length <= 64 * 1024 && r.truncated, 'bounded and marked cut');
  const [x] = of(
    decode(
      [
        ['in', GET('/bomb')],
        ['out', `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`],
        ['out', bomb],
      ],
      { limit: 64 * 1024 },
    ),
    'http.exchange',
  );
  t.ok((x.response?.body?.data.length ?? Infinity) <= 64 * 1024 * 2, 'the decoded body stays within the limit');
  t.equal(x.response?.body?.truncated, true);
});

t.test('TLS is named opaque, binary and server-first protocols are left raw', async (t) => {
  t.equal(of(decode([['in', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])]]), 'decode.note')[0].protocol, 'tls');
  t.equal(of(decode([['in', Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17])]]), 'decode.note')[0].protocol, 'binary');
  t.equal(
    of(
      decode([
        ['out', 'SSH-2.0-OpenSSH\r\n'],
        ['in', 'SSH-2.0-client\r\n'],
      ]),
      'decode.note',
    )[0].protocol,
    'text',
  );
  t.equal(
    of(
      decode([
        ['in', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['out', 'HTTP/1.1 200 OK\r\n'],
      ]),
      'http.exchange',
    )[0].incomplete,
    'response',
    'a cut response is recorded incomplete',
  );
  t.equal(
    of(decode([['in', 'POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc']]), 'http.exchange')[0].incomplete,
    'request',
    'a request cut mid-body is recorded incomplete',
  );
});

t.test('WebSocket after an upgrade: frames decoded, client frames unmasked', async (t) => {
  const mask = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.from('hello ws');
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  const clientFrame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
  const serverFrame = Buffer.concat([Buffer.from([0x82, 3]), Buffer.from([9, 8, 7])]);
  const evs = decode(
    [
      ['in', GET('/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\n')],
      ['out', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
      ['in', clientFrame],
      ['out', serverFrame],
    ],
    { split: 2 },
  );
  t.equal(of(evs, 'http.exchange')[0].upgrade, 'websocket');
  const frames = of(evs, 'ws.frame');
  t.same(
    frames.map((f) => [f.direction, f.opcode, f.payload.encoding, f.payload.data]),
    [
      ['in', 1, 'utf8', 'hello ws'],
      ['out', 2, 'base64', Buffer.from([9, 8, 7]).toString('base64')],
    ],
  );
});

t.test('MCP: initialize, tools/call over JSON and SSE responses, linked by id', async (t) => {
  const post = (body: object, session?: string): string => {
    const b = JSON.stringify(body);
    return `POST /mcp HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${session ? `Mcp-Session-Id: ${session}\r\n` : ''}Content-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
  };
  const init = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', clientInfo: { name: 'cli', version: '1' }, capabilities: {} },
  };
  const initRes = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    result: { protocolVersion: '2025-06-18', serverInfo: { name: 'srv', version: '2' }, capabilities: {} },
  });
  const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi', token: 'Bearer abcdefghijklmnopqrst' } } };
  const sse = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'hi' }] } })}\n\n`;
  const evs = decode(
    [
      ['in', post(init)],
      ['out', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: s-1\r\nContent-Length: ${initRes.length}\r\n\r\n${initRes}`],
      ['in', post(call, 's-1')],
      ['out', `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${sse.length.toString(16)}\r\n${sse}\r\n0\r\n\r\n`],
    ],
    { split: 5, patterns: true },
  );
  const ms = of(evs, 'mcp.message');
  t.same(
    ms.map((m) => [m.from, m.kind, m.id, m.method, m.tool]),
    [
      ['client', 'request', 1, 'initialize', undefined],
      ['server', 'response', 1, 'initialize', undefined],
      ['client', 'request', 2, 'tools/call', 'echo'],
      ['server', 'response', 2, 'tools/call', 'echo'],
    ],
  );
  t.same(ms[0].clientInfo, { name: 'cli', version: '1' });
  t.same(ms[1].serverInfo, { name: 'srv', version: '2' });
  t.same(ms[2].params, { text: 'hi', token: 'Bearer [masked]' }, 'arguments kept, masked');
  t.same(ms[3].result, { content: [{ type: 'text', text: 'hi' }] });
  t.equal(ms[3].mcpSession, 's-1');
  t.equal(of(evs, 'http.exchange')[1].sseEvents, 1);
});

t.test('the tap decodes off the forwarding path and gives up on a connection that outgrows its queue', async (t) => {
  const got: Ev[] = [];
  const tap = new PortForwardTap({ maxBodyBytes: 1024, patterns: [], sink: (e) => (got.push(e), true) });
  tap.open(1, 80);
  tap.push(1, 'in', Buffer.from(GET('/x')));
  t.equal(got.length, 0, 'nothing is decoded in the same turn');
  await new Promise((r) => setImmediate(r));
  t.ok(got.length > 0, 'decoded on a later turn');
  tap.open(2, 80);
  tap.push(2, 'in', Buffer.from(`POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n`));
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 9; i++) tap.push(2, 'in', big);
  t.match(
    got.filter((e) => e.type === 'decode.note' && e.connection === 2 && e.protocol === 'error'),
    [{ note: /fell behind/ }],
  );
  tap.push(1, 'out', Buffer.from(OK('fine')));
  tap.close();
  t.equal(of(got, 'http.exchange').find((x) => x.connection === 1)?.response?.body?.data, 'fine', 'the other connection is still decoded; close flushes');
});

t.test('proxy-subresource requests: MCP derived from the recorded bodies, counted in the summary', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { LocalStore } = await import('../src/store/local/local-store.js');
  const { Recorder } = await import('../src/record/recorder.js');
  const dir = mkdtempSync(join(tmpdir(), 'kt-proxy-mcp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir, { writable: true });
  const rec = new Recorder(store, {
    cluster: 'c',
    maxBodyBytes: 1 << 20,
    maxStreamBytes: 1 << 26,
    idleMs: 60_000,
    failMode: 'closed',
    patterns: () => [{ name: 'bearer-token', regex: BUILTIN_PATTERNS['bearer-token'] }],
  });
  const attrs = {
    isResourceRequest: true,
    verb: 'create',
    apiGroup: '',
    apiVersion: 'v1',
    resource: 'services',
    subresource: 'proxy',
    namespace: 'ai',
    name: 'mcp:80',
  };
  const call = {
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'pods_exec', arguments: { pod: 'web-0', command: ['id'], auth: 'Bearer abcdefghijklmnopqrstuvwxyz' } },
  };
  const ex = await rec.begin({
    identity: { user: 'alice', groups: [], method: 'token-file' },
    method: 'POST',
    uri: '/api/v1/namespaces/ai/services/mcp:80/proxy/mcp',
    attrs,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(call)),
    streaming: false,
    source: '127.0.0.1',
    socket: undefined as never,
  });
  ex.responseHead(200, 'text/event-stream', undefined);
  ex.responseData(
    Buffer.from(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'uid=0(root)' }] } })}\n\n`),
  );
  ex.finish();
  await rec.close(1000);
  const [s] = await store.listSessions({ tool: 'pods_exec' });
  t.ok(s, 'sessions list --tool finds the proxy session');
  t.same(s?.mcp, { messages: 2, calls: 1, errors: 0, tools: [{ name: 'pods_exec', calls: 1 }] });
  const events: Ev[] = [];
  for await (const ev of store.readSession(s.id)) if (ev.type === 'mcp.message') events.push(ev as never);
  t.same(
    events.map((m) => m.type === 'mcp.message' && [m.from, m.kind, m.tool, m.id]),
    [
      ['client', 'request', 'pods_exec', 7],
      ['server', 'response', 'pods_exec', 7],
    ],
  );
  t.match(events[0], { params: { pod: 'web-0', auth: 'Bearer [masked]' } }, 'arguments masked');
  t.match(events[1], { result: { content: [{ text: 'uid=0(root)' }] } });
  t.same(await store.listSessions({ tool: 'other' }), []);
  const report = await store.verify(s.id);
  t.ok(report.ok, `the session verifies, its MCP counts recounted from its events: ${report.problem ?? ''}`);
  await store.close();
});

t.test('memory stays bounded: pipelined bodies share a budget, requests never answered, a pod that talks first', async (t) => {
  const post = (b: string): string => `POST /p HTTP/1.1\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
  const body = 'y'.repeat(1000);
  const evs = decode([['in', post(body) + post(body) + post(body)]], { limit: 1000 });
  const kept = of(evs, 'http.exchange').map((x) => x.request.body?.data.length);
  t.same(kept, [1000, 1000, 0], 'two bodies kept whole, the third finds the connection budget spent');
  t.ok(of(evs, 'http.exchange')[2].request.body?.truncated, 'and is marked cut');
  const flood = decode([['in', GET('/x').repeat(70)]]);
  t.match(of(flood, 'decode.note').at(-1)?.note, /more than 64 requests waiting/, 'unanswered pipelined requests are bounded');
  const chatty = decode([
    ['in', 'GET'],
    ['out', 'z'.repeat(40_000)],
    ['out', 'z'.repeat(40_000)],
  ]);
  t.match(of(chatty, 'decode.note')[0]?.note, /kept talking/, 'what the pod says while the client is undecided is bounded');
  for (const first of ['GE', 'GET ', 'GET /x HTTP/9.9\r\n\r\n']) {
    t.doesNotThrow(() => decode([['in', first]]), `a connection that ends after ${JSON.stringify(first)} ends quietly`);
  }
});
