// Traffic inside kubectl port-forward, decoded (issue 16): the real kubectl
// (WebSocket tunnel and SPDY) through kubetape to the test API server, whose
// pod ports are served by a real node HTTP server and a TCP echo. Keep-alive
// and pipelined requests, a chunked gzip response, a 10 MB body (cut in the
// decoded record, whole in the raw one), an SSE stream, a connection cut
// mid-request and a binary protocol left raw; the raw bytes recorded equal
// the bytes forwarded.
import t from 'tap';
import { createHash } from 'node:crypto';
import type { DecodeNoteEvent, HttpExchangeEvent, RecordEvent } from '../src/model/recording.js';
import { startHarness } from './helpers/harness.js';
import { runningPod } from './helpers/stream-upstream.js';
import { cliFromSource, recorded, settledStreamExchanges } from './helpers/streams.js';
import { resolveBodyRefs } from '../src/record/decode/body-refs.js';
import { GZIP_TEXT, rawConnection, startEchoTarget, startHttpTarget, startPortForward } from './helpers/decode-targets.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const BIG = 10 * 1024 * 1024;
const MAX_BODY = 256 * 1024;

const count = (b: Buffer, s: string): number => b.toString('latin1').split(s).length - 1;
const bodyDone = (n: number) => (b: Buffer) => {
  const i = b.indexOf('\r\n\r\n');
  return i >= 0 && b.length - i - 4 >= n;
};

for (const run of [
  { name: 'WebSocket tunnel', env: {}, client: /^websocket/ },
  { name: 'SPDY', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, client: /^spdy/ },
]) {
  t.test(`HTTP inside kubectl port-forward is decoded beside its raw bytes: ${run.name}`, async (t) => {
    const web = await startHttpTarget();
    const echo = await startEchoTarget();
    const h = await startHarness({
      api: {
        minor: '32',
        portForwardTarget: (_pod, port) =>
          port === 80 ? { host: '127.0.0.1', port: web.port } : port === 7000 ? { host: '127.0.0.1', port: echo.port } : undefined,
      },
      config: { recording: { maxBodyBytes: MAX_BODY, maxStreamBytes: 64 * 1024 * 1024, sessionIdleSeconds: 30, failMode: 'closed' } },
    });
    t.teardown(async () => {
      await h.close();
      await web.close();
      await echo.close();
    });
    h.api.objects.put(runningPod('web-0') as never);
    const pf = await startPortForward(h.kubeconfig, [80, 7000], run.env);
    t.teardown(() => pf.stop());
    const [http, bin] = pf.local;

    // 1: keep-alive, then two pipelined requests written at once.
    const c1 = await rawConnection(http, [
      { send: 'GET /hello HTTP/1.1\r\nHost: pod\r\n\r\n', until: (b) => b.includes('hello from the pod') },
      { send: 'GET /gzip HTTP/1.1\r\nHost: pod\r\nAccept-Encoding: gzip\r\n\r\n', until: (b) => b.toString('latin1').endsWith('0\r\n\r\n') },
      {
        send: 'GET /hello HTTP/1.1\r\nHost: pod\r\n\r\nPOST /echo HTTP/1.1\r\nHost: pod\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\npipelined-body',
        until: (b) => count(b, 'hello from the pod') === 2 && b.includes('pipelined-body'),
      },
    ]);
    t.equal(count(c1.received, 'HTTP/1.1 200 OK'), 4, 'four responses on one connection');
    // 2: a 10 MB body.
    const c2 = await rawConnection(http, [{ send: `GET /big?n=${BIG} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n`, until: bodyDone(BIG) }]);
    // 3: an SSE stream (the server ends it after three events).
    const c3 = await rawConnection(http, [{ send: 'GET /sse HTTP/1.1\r\nHost: pod\r\n\r\n', until: (b) => b.toString('latin1').endsWith('0\r\n\r\n') }]);
    // 4: cut mid-request.
    await rawConnection(http, [{ send: 'POST /echo HTTP/1.1\r\nHost: pod\r\nContent-Length: 100\r\n\r\nonly part', until: () => true }], { cut: true });
    // 5: a binary protocol.
    const blob = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff));
    const c5 = await rawConnection(bin, [{ send: blob, until: (b) => b.length >= blob.length }]);
    t.equal(sha(c5.received), sha(blob), 'the binary protocol works through the forward');
    await pf.stop();

    const [x] = await settledStreamExchanges(h.kt.store, (e) => e.request.portForward !== undefined);
    t.match(x.response?.streamProtocol?.client, run.client);
    const events: RecordEvent[] = [];
    // Bodies whose wire bytes are the body are stored as references into the raw events; read back, they are filled in.
    for await (const ev of resolveBodyRefs(() => h.kt.store.readSession(x.session))) if ('seq' in ev && ev.seq === x.request.seq) events.push(ev);
    const exchanges = events.filter((e): e is HttpExchangeEvent => e.type === 'http.exchange');
    const notes = events.filter((e): e is DecodeNoteEvent => e.type === 'decode.note');
    const on = (n: number): HttpExchangeEvent[] => exchanges.filter((e) => e.connection === n).sort((a, b) => a.index - b.index);

    // The raw record is the evidence: every byte both ways, per connection.
    t.equal(sha(recorded(x, 'in', 1)), sha(c1.sent), 'connection 1: raw bytes in as sent');
    t.equal(sha(recorded(x, 'out', 1)), sha(c1.received), 'connection 1: raw bytes out as received');
    t.equal(recorded(x, 'out', 2).length, c2.received.length, 'the 10 MB response is whole in the raw record');
    t.equal(sha(recorded(x, 'out', 2)), sha(c2.received));
    t.equal(sha(recorded(x, 'out', 3)), sha(c3.received));

    const c1x = on(1);
    t.same(
      c1x.map((e) => [e.index, e.request.method, e.request.target, e.response?.status]),
      [
        [1, 'GET', '/hello', 200],
        [2, 'GET', '/gzip', 200],
        [3, 'GET', '/hello', 200],
        [4, 'POST', '/echo', 200],
      ],
      'keep-alive and pipelined exchanges decoded in order',
    );
    t.equal(c1x[0].response?.body?.data, 'hello from the pod');
    t.equal(c1x[1].response?.body?.data, GZIP_TEXT, 'the chunked gzip response is decoded');
    t.equal(c1x[1].response?.decodedFrom, 'gzip');
    t.ok(c1x[0].response?.body?.ref, 'a Content-Length body is stored as a reference into the raw bytes');
    t.notOk(c1x[1].response?.body?.ref, 'a chunked gzip body is stored as a decoded copy');
    t.equal(c1x[3].request.body?.data, 'pipelined-body');
    t.equal(c1x[3].response?.body?.data, 'pipelined-body');

    const [big] = on(2);
    t.equal(big.response?.body?.size, BIG, 'the 10 MB body: its size counted');
    t.equal(big.response?.body?.truncated, true, 'and cut in the decoded record');
    t.equal(big.response?.body?.data.length, MAX_BODY, 'at maxBodyBytes');
    t.equal(big.response?.body?.ref?.length, MAX_BODY, 'its reference covers maxBodyBytes of the raw bytes');

    const [sse] = on(3);
    t.equal(sse.sseEvents, 3, 'the SSE stream: three events');
    t.match(sse.response?.body?.data, /data: tick 3/);

    // Connections 4 (cut at once) and 5 (binary) are opened back to back, and kubectl may
    // number them in either order; the cut one is the one whose bytes are that request.
    const cutConn = [4, 5].find((n) => recorded(x, 'in', n).toString('latin1').startsWith('POST /echo')) ?? 4;
    const binConn = cutConn === 4 ? 5 : 4;
    const cutRaw = recorded(x, 'in', cutConn).toString('latin1');
    const [cut] = on(cutConn);
    if (cutRaw.length === 0) t.comment('kubectl forwarded nothing of the connection cut at once');
    else {
      t.ok(cut, 'the cut request kubetape received is decoded');
      t.equal(cut?.incomplete, 'request', 'the request cut mid-body is recorded as incomplete');
      t.equal(cut?.request.body?.data, cutRaw.slice(cutRaw.indexOf('\r\n\r\n') + 4));
    }

    const binNote = notes.find((n) => n.connection === binConn);
    t.equal(binNote?.protocol, 'binary', 'the binary protocol is left raw, noted');
    t.equal(on(binConn).length, 0);
    t.equal(sha(recorded(x, 'in', binConn)), sha(blob), 'and its raw bytes are recorded');
    t.ok(
      notes.filter((n) => n.connection !== binConn).every((n) => n.protocol === 'http'),
      'no decoder errors on the HTTP connections',
    );

    const [all, one, binary, har, missing] = await cliFromSource([
      ['replay', x.session, '--data-dir', h.dataDir],
      ['replay', x.session, '--connection', '1', '--data-dir', h.dataDir],
      ['replay', x.session, '--connection', String(binConn), '--data-dir', h.dataDir],
      ['export', x.session, '--format', 'har', '--data-dir', h.dataDir],
      ['replay', x.session, '--connection', '9', '--data-dir', h.dataDir],
    ]);
    t.equal(all.code, 0, all.stderr);
    t.equal(all.stdout.toString().match(/^== port-forward/gm)?.length, 5, 'replay: a transcript per connection');
    const t1 = one.stdout.toString();
    t.equal(t1.match(/^== /gm)?.length, 1, '--connection picks one');
    t.match(t1, /--> GET \/hello HTTP\/1\.1[\s\S]*<-- HTTP\/1\.1 200 OK[\s\S]*hello from the pod/, 'the exchange as a transcript');
    t.match(t1, /--> POST \/echo HTTP\/1\.1[\s\S]*pipelined-body/);
    t.match(t1, /gzip line 100\n/, 'the gzip body readable');
    t.match(
      binary.stdout.toString(),
      new RegExp(`connection ${binConn}, port 7000: binary[\\s\\S]*00000000  00 1f 3e 5d`),
      'a binary connection as a hex dump',
    );
    t.match(missing.stdout.toString(), /no connection 9/);
    const log = (JSON.parse(har.stdout.toString()) as { log: { version: string; entries: Array<Record<string, any>> } }).log;
    t.equal(log.version, '1.2', 'HAR 1.2');
    t.equal(log.entries.length, 7, 'every decoded exchange is a HAR entry');
    t.match(log.entries[0], {
      request: { method: 'GET', url: 'http://pod/hello', httpVersion: 'HTTP/1.1' },
      response: { status: 200, content: { text: 'hello from the pod', mimeType: 'text/plain' } },
    });
    t.ok(
      log.entries.every((e) => !Number.isNaN(Date.parse(e.startedDateTime as string)) && typeof e.time === 'number' && e.cache && e.timings),
      'entries carry the required fields',
    );
  });
}
