// Decoded port-forward bodies as references into the raw bytes (issue 16):
// a body whose wire bytes are the body (Content-Length framed, no content
// coding, no masking) is stored as a reference (connection, direction,
// offset, length) into the raw `in`/`out` events, not as a second copy.
// Read back through `sessions show --json`, `replay` and HAR export, it
// equals the bytes sent; a raw byte changed under it is reported by `kubetape
// verify`. With masking on, the body is stored as its masked copy, never a
// reference. The real kubectl through kubetape to the test API server.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpExchangeEvent, RecordEvent, StreamEvent } from '../src/model/recording.js';
import { parsePolicyText } from '../src/authorize/policy/load.js';
import { startHarness } from './helpers/harness.js';
import { runningPod } from './helpers/stream-upstream.js';
import { cliFromSource, settledStreamExchanges } from './helpers/streams.js';
import { rawConnection, startHttpTarget, startPortForward } from './helpers/decode-targets.js';

const RECORDING = { maxBodyBytes: 256 * 1024, maxStreamBytes: 64 * 1024 * 1024, sessionIdleSeconds: 30, failMode: 'closed' as const };

const post = (body: Buffer, type: string): Buffer =>
  Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: pod\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
/** The body came back whole: as the last bytes (Content-Length), or followed by the last chunk (chunked). */
const echoed = (body: Buffer) => (b: Buffer) =>
  b.includes(body) && (b.subarray(b.length - body.length).equals(body) || b.toString('latin1').endsWith('0\r\n\r\n'));

/** The session's event lines as stored (local store: recordings/sessions/DAY/ID.ndjson). */
function sessionFile(dataDir: string, id: string): string {
  const root = join(dataDir, 'recordings', 'sessions');
  for (const day of readdirSync(root)) {
    const f = join(root, day, `${id}.ndjson`);
    if (readdirSync(join(root, day)).includes(`${id}.ndjson`)) return f;
  }
  throw new Error(`no file for session ${id}`);
}

t.test('a body that is its wire bytes is a reference into the raw events, read back whole, and covered by verify', async (t) => {
  const web = await startHttpTarget();
  const h = await startHarness({
    api: { minor: '32', portForwardTarget: () => ({ host: '127.0.0.1', port: web.port }) },
    config: { recording: RECORDING },
  });
  t.teardown(async () => {
    await h.close();
    await web.close();
  });
  h.api.objects.put(runningPod('web-0') as never);
  const pf = await startPortForward(h.kubeconfig, [80]);
  t.teardown(() => pf.stop());

  // Binary (not UTF-8) both ways, on one keep-alive connection after a small text exchange.
  const blob = randomBytes(100 * 1024);
  const c = await rawConnection(pf.local[0], [
    { send: 'GET /hello HTTP/1.1\r\nHost: pod\r\n\r\n', until: (b) => b.includes('hello from the pod') },
    { send: post(blob, 'application/octet-stream'), until: echoed(blob) },
  ]);
  t.ok(echoed(blob)(c.received), 'the pod echoed the body');
  await pf.stop();

  const [x] = await settledStreamExchanges(h.kt.store, (e) => e.request.portForward !== undefined);
  const stored: RecordEvent[] = [];
  for await (const ev of h.kt.store.readSession(x.session)) stored.push(ev);
  const echo = stored.find((e): e is HttpExchangeEvent => e.type === 'http.exchange' && e.request.method === 'POST');
  t.match(
    echo?.request.body,
    { data: '', size: blob.length, truncated: false, ref: { connection: 1, channel: 'in', length: blob.length } },
    'the request body is stored as a reference',
  );
  t.match(echo?.response?.body, { data: '', size: blob.length, ref: { connection: 1, channel: 'out', length: blob.length } }, 'and the response body');
  const hello = stored.find((e): e is HttpExchangeEvent => e.type === 'http.exchange' && e.request.method === 'GET');
  t.equal(hello?.response?.body?.ref?.offset, c.received.indexOf('hello from the pod'), "the reference's offset is where the body lies in the bytes out");

  const [show, har, replay, verified] = await cliFromSource([
    ['sessions', 'show', x.session, '--json', '--data-dir', h.dataDir],
    ['export', x.session, '--format', 'har', '--data-dir', h.dataDir],
    ['replay', x.session, '--connection', '1', '--data-dir', h.dataDir],
    ['verify', x.session, '--data-dir', h.dataDir],
  ]);
  t.equal(show.code, 0, show.stderr);
  const shown = (JSON.parse(show.stdout.toString()) as { events: RecordEvent[] }).events;
  const shownEcho = shown.find((e): e is HttpExchangeEvent => e.type === 'http.exchange' && e.request.method === 'POST');
  t.equal(shownEcho?.request.body?.encoding, 'base64');
  t.ok(Buffer.from(shownEcho?.request.body?.data ?? '', 'base64').equals(blob), 'sessions show: the request body equals the bytes sent');
  t.ok(Buffer.from(shownEcho?.response?.body?.data ?? '', 'base64').equals(blob), 'sessions show: the response body equals the bytes echoed');
  const shownHello = shown.find((e): e is HttpExchangeEvent => e.type === 'http.exchange' && e.request.method === 'GET');
  t.match(shownHello?.response?.body, { encoding: 'utf8', data: 'hello from the pod' }, 'a text body is read back as text');

  t.equal(har.code, 0, har.stderr);
  const entries = (JSON.parse(har.stdout.toString()) as { log: { entries: Array<Record<string, any>> } }).log.entries;
  const harEcho = entries.find((e) => e.request.method === 'POST');
  t.equal(harEcho?.response.content.encoding, 'base64');
  t.ok(Buffer.from(harEcho?.response.content.text as string, 'base64').equals(blob), 'HAR: the response content equals the bytes echoed');
  t.ok(Buffer.from(harEcho?.request.postData.text as string, 'latin1').equals(blob), 'HAR: the request postData equals the bytes sent');
  t.match(replay.stdout.toString(), /<-- HTTP\/1\.1 200 OK[\s\S]*hello from the pod/, 'replay: the referenced text body in the transcript');
  t.equal(verified.code, 0, `the untouched session verifies: ${verified.stdout.toString()}${verified.stderr}`);

  // Change one byte of the raw bytes under the referenced response body: verify reports it.
  const file = sessionFile(h.dataDir, x.session);
  const lines = readFileSync(file, 'utf8').split('\n');
  const outs = lines
    .map((l, i) => ({ l, i, ev: l ? (JSON.parse(l) as Partial<StreamEvent>) : {} }))
    .filter((o) => o.ev.type === 'stream' && o.ev.channel === 'out' && o.ev.connection === 1 && o.ev.encoding === 'base64');
  const biggest = outs.sort((a, b) => (b.ev.data?.length ?? 0) - (a.ev.data?.length ?? 0))[0];
  t.ok(biggest, 'a raw out event holding the echoed body');
  const data = biggest.ev.data!;
  const at = data.length >> 1;
  const changed = data.slice(0, at) + (data[at] === 'A' ? 'B' : 'A') + data.slice(at + 1);
  lines[biggest.i] = biggest.l.replace(data, changed);
  writeFileSync(file, lines.join('\n'));
  const [tampered] = await cliFromSource([['verify', x.session, '--data-dir', h.dataDir]]);
  t.not(tampered.code, 0, 'verify fails once a raw byte under a referenced body is changed');
  t.match(`${tampered.stdout.toString()}${tampered.stderr}`, /does not verify|changed|hash|chain|mismatch/i, 'and says so');
});

t.test('with masking on, a decoded body is stored as its masked copy, never a reference', async (t) => {
  const web = await startHttpTarget();
  const h = await startHarness({
    api: { minor: '32', portForwardTarget: () => ({ host: '127.0.0.1', port: web.port }) },
    config: { recording: RECORDING, policy: parsePolicyText('masking:\n  patterns: [bearer-token]\n', 'test-policy') },
  });
  t.teardown(async () => {
    await h.close();
    await web.close();
  });
  h.api.objects.put(runningPod('web-0') as never);
  const pf = await startPortForward(h.kubeconfig, [80]);
  t.teardown(() => pf.stop());
  const secret = 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789';
  const body = Buffer.from(`please keep ${secret} safe`);
  await rawConnection(pf.local[0], [{ send: post(body, 'text/plain'), until: (b) => b.includes('safe') }]);
  await pf.stop();

  const [x] = await settledStreamExchanges(h.kt.store, (e) => e.request.portForward !== undefined);
  let echo: HttpExchangeEvent | undefined;
  for await (const ev of h.kt.store.readSession(x.session)) if (ev.type === 'http.exchange') echo = ev;
  t.notOk(echo?.request.body?.ref, 'no reference when masking applies');
  t.notOk(echo?.response?.body?.ref);
  t.match(echo?.request.body?.data, /^please keep /, 'the body is stored as a copy');
  t.notMatch(echo?.request.body?.data, /abcdefghijklmnopqrstuvwxyz0123456789/, 'with the token masked');
  t.notMatch(echo?.response?.body?.data, /abcdefghijklmnopqrstuvwxyz0123456789/);
});

t.test('resolveBodyRefs: a body spread over several raw events, next to another; bytes missing from the recording', async (t) => {
  const { resolveBodyRefs } = await import('../src/record/decode/body-refs.js');
  const raw = (data: Buffer, connection = 1): StreamEvent => ({
    type: 'stream',
    session: 's',
    seq: 2,
    offsetMs: 0,
    channel: 'out',
    connection,
    encoding: 'base64',
    data: data.toString('base64'),
  });
  const wire = Buffer.from('HEAD|first body|HEAD|second|');
  const exchange = (offset: number, length: number, connection = 1): HttpExchangeEvent => ({
    type: 'http.exchange',
    session: 's',
    seq: 2,
    offsetMs: 0,
    connection,
    index: 1,
    request: { method: 'GET', target: '/', version: 'HTTP/1.1', headers: [] },
    response: {
      status: 200,
      reason: 'OK',
      version: 'HTTP/1.1',
      headers: [],
      body: { encoding: 'base64', data: '', size: length, truncated: false, ref: { connection, channel: 'out', offset, length } },
    },
  });
  const events: RecordEvent[] = [
    raw(wire.subarray(0, 7)),
    raw(wire.subarray(7, 13)),
    raw(wire.subarray(13, 22)),
    exchange(5, 10),
    raw(wire.subarray(22)),
    exchange(21, 6),
    exchange(0, 4, 3),
  ];
  let reads = 0;
  const out: RecordEvent[] = [];
  for await (const ev of resolveBodyRefs(async function* () {
    reads++;
    yield* events;
  }))
    out.push(ev);
  t.equal(out.length, events.length, 'every event handed on, in order');
  const bodies = out.filter((e): e is HttpExchangeEvent => e.type === 'http.exchange').map((e) => e.response?.body);
  t.match(bodies[0], { encoding: 'utf8', data: 'first body', truncated: false }, 'a body over three raw events');
  t.match(bodies[1], { encoding: 'utf8', data: 'second', truncated: false }, 'the next body on the same connection');
  t.match(bodies[2], { data: '', truncated: true }, 'raw bytes not in the recording: only the size is known');
  t.equal(reads, 2, 'read twice: the scan, then the fill');
  t.equal((events[3] as HttpExchangeEvent).response?.body?.data, '', 'the events read are not changed');
});
