// Secret lists masked as they stream: the incremental scanner on its own
// (every chunk boundary, tricky strings, nested `items`, key orders), the
// relay's handling of malformed bodies, and kubetape end to end with the
// real kubectl, showing masked bytes reach the client while the cluster is
// still sending the list.
import t from 'tap';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { JsonTopLevelScanner, JsonStreamError } from '../src/mask/json-items-stream.js';
import { StreamingSecretMasker } from '../src/mask/mask-list-stream.js';
import { MASKED_BASE64, MASKED_TEXT, maskJsonBody, maskListItem } from '../src/mask/mask-secrets.js';
import { relayMasked } from '../src/forward/masked-response.js';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { startKubetape, type RunningKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Runs the streaming masker over `body` cut at the given offsets. */
function streamMask(body: string | Buffer, cuts: number[], max?: number): { text: string; maxHeld: number } {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const m = new StreamingSecretMasker(max);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, buf.length]) {
    out.push(m.write(buf.subarray(from, c)));
    from = c;
  }
  out.push(m.end());
  return { text: Buffer.concat(out).toString('utf8'), maxHeld: m.maxHeldBytes };
}

const byteByByte = (body: string) => Array.from({ length: Buffer.byteLength(body) }, (_, i) => i);
/** The streamed output parses to what masking the whole body gives. */
const sameAsWhole = (t: { same(a: unknown, b: unknown, m: string): unknown }, body: string, got: string, msg: string) =>
  t.same(JSON.parse(got), JSON.parse(maskJsonBody(body).text), msg);

// A small list with everything awkward: brackets, braces and escaped quotes in
// strings, \u escapes (including an escaped quote and backslash), raw UTF-8,
// a nested `items` key, stringData and the last-applied annotation.
const tricky = JSON.stringify({
  kind: 'SecretList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42' },
  items: [
    {
      metadata: { name: 'a]}[{"', namespace: 'ns', annotations: { [LAST_APPLIED]: '{"data":{"k":"c2VjcmV0"}}', note: 'back\\slash \\" é 😀' } },
      type: 'Opaque',
      data: { k: b64('secret-one'), 'we"ird]key': b64('secret-two') },
      stringData: { plain: 'secret-three ]}' },
    },
    { metadata: { name: 'nested', labels: { items: '[' } }, data: { items: b64('secret-four') }, extra: { items: [{ data: { x: 'y' } }] } },
    { metadata: { name: 'empty' } },
  ],
}).replace('secret-three', 'secret\\u0022three\\u005c\\u00e9');

t.test('every chunk boundary: the output equals masking the whole body', async (t) => {
  const want = maskJsonBody(tricky).text;
  t.notMatch(want, /c2VjcmV0|secret-two|secret.three/, 'the whole-body masker hides every value (the reference is sound)');
  const n = Buffer.byteLength(tricky);
  let bad = 0;
  for (let cut = 0; cut <= n; cut++) {
    const got = streamMask(tricky, [cut]).text;
    if (JSON.stringify(JSON.parse(got)) !== JSON.stringify(JSON.parse(want))) bad++;
  }
  t.equal(bad, 0, `all ${n + 1} two-chunk splits match`);
  const bytewise = streamMask(tricky, byteByByte(tricky)).text;
  sameAsWhole(t, tricky, bytewise, 'fed byte by byte');
  const items = (JSON.parse(bytewise) as { items: Array<Record<string, any>> }).items;
  t.same(items[0]['data'], { k: MASKED_BASE64, 'we"ird]key': MASKED_BASE64 }, 'keys kept, data values masked');
  t.same(items[0]['stringData'], { plain: MASKED_TEXT });
  t.equal(items[0]['metadata']['annotations'][LAST_APPLIED], MASKED_TEXT);
  t.equal(items[0]['metadata']['annotations']['note'], 'back\\slash \\" é 😀', 'other strings (raw UTF-8 split anywhere) intact');
  t.equal(items[0]['metadata']['name'], 'a]}[{"');
  t.same(items[1]['data'], { items: MASKED_BASE64 });
  t.same(items[1]['extra'], { items: [{ data: { x: 'y' } }] }, 'an `items` key inside an item is not the list: untouched');
  t.equal(items.length, 3);
});

t.test('the scanner streams only the top-level items array', async (t) => {
  const events: string[] = [];
  const s = new JsonTopLevelScanner(
    {
      member: (k, v) => events.push(`member ${k}=${v.toString()}`),
      arrayStart: (k) => events.push(`start ${k}`),
      element: (v) => events.push(`element ${v.toString()}`),
      arrayEnd: (k) => events.push(`end ${k}`),
      document: (v) => events.push(`document ${v.toString()}`),
    },
    { streamedArrays: new Set(['items']), maxValueBytes: 1 << 20 },
  );
  const body = ' {"metadata":{"items":[1,2]}, "x\\"items":[3], "items" : [ {"items":[4]} , "s]", 5 , true,null ] ,"n":-1.5e3}\n';
  for (const i of byteByByte(body)) s.write(Buffer.from(body).subarray(i, i + 1));
  s.end();
  t.same(events, [
    'member metadata={"items":[1,2]}',
    'member x"items=[3]',
    'start items',
    'element {"items":[4]}',
    'element "s]"',
    'element 5',
    'element true',
    'element null',
    'end items',
    'member n=-1.5e3',
  ]);
});

t.test('empty lists, key orders, Tables, single objects, non-objects', async (t) => {
  const cases: Record<string, string> = {
    'empty list': '{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}',
    'items before metadata': '{"kind":"SecretList","items":[{"data":{"a":"YQ=="}}],"metadata":{"resourceVersion":"1"}}',
    'items after metadata': '{"kind":"SecretList","metadata":{"resourceVersion":"1"},"items":[{"data":{"a":"YQ=="}}]}',
    'single Secret': '{"kind":"Secret","metadata":{"name":"x","annotations":{"' + LAST_APPLIED + '":"{}"}},"data":{"a":"YQ=="},"stringData":{"b":"c"}}',
    'Table with objects': JSON.stringify({
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: {},
      columnDefinitions: [{ name: 'Name' }],
      rows: [
        { cells: ['x'], object: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'x' }, data: { a: 'YQ==' } } },
        { cells: ['y'], object: { kind: 'PartialObjectMetadata' } },
      ],
    }),
    Status: '{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}',
    'List of mixed kinds': '{"kind":"List","items":[{"kind":"Secret","data":{"a":"YQ=="}},{"kind":"ConfigMap","data":{"a":"b"}}]}',
    'top-level array': '[{"kind":"Secret","data":{"a":"YQ=="}}]',
    'top-level string': '"x"',
    'empty object': ' {} ',
  };
  for (const [name, body] of Object.entries(cases)) {
    sameAsWhole(t, body, streamMask(body, byteByByte(body)).text, name);
    sameAsWhole(t, body, streamMask(body, []).text, `${name} (one chunk)`);
  }
  t.notMatch(streamMask(cases['Table with objects'], []).text, 'YQ==', 'a Table row object is masked');
  t.match(streamMask(cases['List of mixed kinds'], []).text, '"a":"b"', 'a ConfigMap in a List stays as it was');
  t.equal(streamMask('', []).text, '', 'an empty body (HEAD) stays empty');
  // Kubernetes writes kind first; if it came after the items they are masked as Secrets anyway.
  const kindLast = '{"items":[{"data":{"a":"YQ=="}}],"kind":"SecretList"}';
  t.same(JSON.parse(streamMask(kindLast, byteByByte(kindLast)).text), { items: [{ data: { a: MASKED_BASE64 } }], kind: 'SecretList' });
});

t.test('malformed or truncated JSON is an error, and nothing unmasked came out before it', async (t) => {
  const bad = [
    '{"kind":"SecretList","items":[{"data":{"a":"SECRETVALUE"}}',
    '{"kind":"SecretList","items":[{"data":{"a":"SECRETVALUE"}},',
    '{"kind":"Secret","data":{"a":"SECRETVALUE"},}',
    '{"kind":"Secret","data":{"a":"SECRETVALUE"}',
    '{"kind":"SecretList","items":[{"data":{"a":"SECRETVALUE"}}]}garbage',
    '{"kind":"SecretList","items":[{"data":{"a":"SECRETVALUE"} x}]}',
    '{"kind":"SecretList","items":[{"data":{"a":"SECRETVALUE',
    '{"kind" "SecretList"}',
    '{"items":[1,]}',
    'nul',
  ];
  for (const body of bad) {
    const m = new StreamingSecretMasker();
    let out = '';
    let err: unknown;
    try {
      for (const i of byteByByte(body)) out += m.write(Buffer.from(body).subarray(i, i + 1)).toString();
      out += m.end().toString();
    } catch (e) {
      err = e;
    }
    t.type(err, JsonStreamError, `rejected: ${body}`);
    t.notMatch(out, 'SECRETVALUE', `no value in clear before the error: ${body}`);
  }
});

t.test('memory: one item held at a time, and an item over the cap aborts', async (t) => {
  const items = Array.from({ length: 200 }, (_, i) => ({ metadata: { name: `s-${i}` }, data: { v: randomBytes(3000).toString('base64') } }));
  const body = JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items });
  const cuts: number[] = [];
  for (let c = 4096; c < body.length; c += 4096) cuts.push(c);
  const r = streamMask(body, cuts);
  const largestItem = Math.max(...items.map((i) => Buffer.byteLength(JSON.stringify(i))));
  t.ok(r.maxHeld <= largestItem, `held at most one item (${r.maxHeld} <= ${largestItem} bytes) of a ${body.length}-byte list`);
  sameAsWhole(t, body, r.text, 'same output');
  t.throws(() => streamMask(body, cuts, 2000), /larger than 2000 bytes/, 'an item over the cap aborts rather than buffering on');
});

// --- the relay on its own: malformed upstream bodies ------------------------

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

t.test('relay: malformed bodies end with an error, never with unmasked bytes', async (t) => {
  let upstreamBody = '';
  const upstream = createHttpServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(upstreamBody);
  });
  const ends: Array<{ status: number; error?: string }> = [];
  const front = createHttpServer((_req, res) => {
    const up = httpRequest({ host: '127.0.0.1', port: upPort, path: '/' }, (upRes: IncomingMessage) =>
      relayMasked(upRes, res, {
        watch: false,
        onUnmaskable: 'refuse',
        onData: () => undefined,
        onEnd: (status, error) => ends.push({ status, ...(error ? { error } : {}) }),
      }),
    );
    up.end();
  });
  const upPort = await listen(upstream);
  const port = await listen(front);
  t.teardown(() => {
    upstream.close();
    front.close();
  });
  const get = () =>
    new Promise<{ status: number; body: string; broken: boolean }>((done) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body, broken: !res.complete }));
        res.on('error', () => done({ status: res.statusCode ?? 0, body, broken: true }));
        res.on('aborted', () => done({ status: res.statusCode ?? 0, body, broken: true }));
      });
      req.on('error', () => done({ status: 0, body: '', broken: true }));
      req.end();
    });

  upstreamBody = '{"kind":"Secret","data":{"a":"SECRETVALUE"},}';
  const whole = await get();
  t.equal(whole.status, 502, 'nothing sent yet: a 502 Status');
  t.match(whole.body, /kubetape could not mask the response: malformed JSON/);
  t.notMatch(whole.body, 'SECRETVALUE');

  upstreamBody = '{"kind":"SecretList","items":[{"data":{"a":"SECRETVALUE"}},{"data":{"a":"SECRETVALUE2"}}';
  const cut = await get();
  t.ok(cut.broken, 'a list cut short: the transfer breaks, the client sees it incomplete');
  t.notMatch(cut.body, 'SECRETVALUE');
  t.match(ends.at(-1)?.error, /truncated/, 'the exchange records why');

  upstreamBody = '{"kind":"SecretList","metadata":{},"items":[{"data":{"a":"SECRETVALUE"}}]}';
  const ok = await get();
  t.equal(ok.status, 200);
  t.same(JSON.parse(ok.body), { kind: 'SecretList', metadata: {}, items: [{ data: { a: MASKED_BASE64 } }] });
  t.same(ends.at(-1), { status: 200 });
});

// --- end to end: kubectl -> kubetape -> slowed link -> fake cluster ----------

/**
 * A TCP relay between kubetape and the cluster whose cluster-to-kubetape
 * direction can be slowed, counting the bytes it let through: TLS passes
 * untouched, so kubetape sees the real cluster, only later.
 */
class SlowLink {
  forwarded = 0;
  /** Bytes per tick and ms per tick; 0 ms passes data straight through. */
  slice = 16 * 1024;
  tickMs = 0;
  private readonly server = createNetServer((client) => this.join(client));
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly targetPort: number) {}
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  private join(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (this.tickMs === 0) {
        this.forwarded += chunk.length;
        client.write(chunk);
        return;
      }
      upstream.pause();
      const sendSlice = (off: number) => {
        if (client.destroyed) return;
        const piece = chunk.subarray(off, off + this.slice);
        this.forwarded += piece.length;
        client.write(piece);
        if (off + this.slice < chunk.length) setTimeout(() => sendSlice(off + this.slice), this.tickMs);
        else setTimeout(() => upstream.resume(), this.tickMs);
      };
      sendSlice(0);
    });
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

t.test('end to end: a multi-MB gzipped Secret list streams through kubetape masked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mask-stream-'));
  const api: FakeApiServer = await startFakeApiServer({ recordRequests: false });
  const link = new SlowLink(api.port);
  await link.start();
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\n');
  const upstreamKubeconfig = writeKubeconfig(dir, { server: `https://127.0.0.1:${link.port}`, ca: api.ca, token: 'admin-token', name: 'fake' });
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(dir, 'data'),
      kubeconfig: upstreamKubeconfig,
      tokenFile: join(dir, 'tokens.csv'),
      policyFile: resolve('examples/policy.yaml'),
    },
  );
  const kt: RunningKubetape = await startKubetape(config, { log: () => undefined });
  t.teardown(async () => {
    await kt.close();
    await link.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // ~6 MB: 600 Secrets of 10 KB random values (random so gzip cannot shrink the transfer to nothing).
  const values = new Map<string, string>();
  for (let i = 0; i < 600; i++) {
    const v = randomBytes(7500).toString('base64');
    values.set(`s-${i}`, v);
    api.objects.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `s-${i}`, namespace: 'bulk' },
      type: 'Opaque',
      data: { payload: v, user: b64('admin') },
    });
  }
  const dev = writeKubeconfig(dir, { server: kt.url, ca: kt.ca, token: 'dev-token', name: 'dev' });
  const sre = writeKubeconfig(dir, { server: kt.url, ca: kt.ca, token: 'sre-token', name: 'sre' });

  const asDev = await kubectl(['get', 'secrets', '-n', 'bulk', '-o', 'json'], { kubeconfig: dev, timeoutMs: 60_000 });
  t.equal(asDev.code, 0, asDev.stderr);
  const masked = JSON.parse(asDev.stdout) as { items: Array<{ metadata: { name: string }; data: Record<string, string> }> };
  t.equal(masked.items.length, 600);
  t.ok(
    masked.items.every((i) => i.data['payload'] === MASKED_BASE64 && i.data['user'] === MASKED_BASE64),
    'every value masked, keys kept',
  );
  t.notOk(
    [...values.values()].some((v) => asDev.stdout.includes(v.slice(0, 40))),
    'no value in clear anywhere',
  );

  const asSre = await kubectl(['get', 'secrets', '-n', 'bulk', '-o', 'json'], { kubeconfig: sre, timeoutMs: 60_000 });
  t.equal(asSre.code, 0, asSre.stderr);
  t.ok(asSre.stdout.length > 5_000_000, `the list in clear is ${asSre.stdout.length} bytes (kubectl fetched it in pages of 500)`);
  const clear = JSON.parse(asSre.stdout) as { items: unknown[] };
  t.equal(
    (clear.items[0] as { data: Record<string, string> }).data['payload'],
    values.get((clear.items[0] as { metadata: { name: string } }).metadata.name),
    'sre sees the values',
  );
  t.same(
    masked.items,
    clear.items.map((i) => maskListItem(i, 'SecretList')),
    'dev gets exactly the exempt list, masked item by item',
  );

  // Slow the cluster's side down and read kubetape's answer with a raw client.
  link.tickMs = 2;
  const before = link.forwarded;
  const seen = await new Promise<{ firstMaskedAt: number; total: number; body: string; encoding: string }>((done, fail) => {
    const req = httpsRequest(
      new URL('/api/v1/namespaces/bulk/secrets', kt.url),
      { ca: kt.ca, headers: { Authorization: 'Bearer dev-token', Accept: 'application/json', 'Accept-Encoding': 'gzip' } },
      (res) => {
        let body = '';
        let firstMaskedAt = -1;
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          if (firstMaskedAt < 0 && body.includes(MASKED_BASE64)) firstMaskedAt = link.forwarded - before;
        });
        res.on('end', () => done({ firstMaskedAt, total: link.forwarded - before, body, encoding: String(res.headers['content-encoding'] ?? '') }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end();
  });
  link.tickMs = 0;
  t.ok(seen.total > 2_000_000, `the cluster sent ${seen.total} bytes (gzipped) for this list`);
  t.ok(seen.firstMaskedAt > 0, 'masked bytes arrived');
  t.ok(
    seen.firstMaskedAt < seen.total / 2,
    `the first masked item reached the client after ${seen.firstMaskedAt} of ${seen.total} upstream bytes: the list is not buffered whole`,
  );
  t.equal(seen.encoding, '', 'sent decoded');
  const raw = JSON.parse(seen.body) as { kind: string; items: Array<{ data: Record<string, string> }> };
  t.equal(raw.kind, 'SecretList');
  t.equal(raw.items.length, 600);
  t.ok(
    raw.items.every((i) => i.data['payload'] === MASKED_BASE64),
    'every value masked in the streamed body',
  );
});
