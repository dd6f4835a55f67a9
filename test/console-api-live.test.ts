// The live view (issue 14): a running exec's events as Server-Sent Events,
// from the start of the session and then as they are recorded, ending with
// the session; someone else's live session is 404.
import t from 'tap';
import { request } from 'node:https';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './helpers/kubectl.js';
import { kubectlBinary, startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { httpsCall } from './helpers/https-call.js';
import { findSession } from './helpers/recordings.js';
import { DEFAULTS } from '../src/config/config.js';
import type { RecordEvent } from '../src/model/recording.js';

const dir = mkdtempSync(join(tmpdir(), 'console-live-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let s: StreamHarness;
let dana = '';

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dana-token,dana,,"dev"\nsam-token,sam,,"dev"\n');
  s = await startStreamHarness({ config: { tokenFile: join(dir, 'tokens.csv'), recording: { ...DEFAULTS.recording, sessionIdleSeconds: 1 } } });
  dana = writeKubeconfig(s.h.dir, { server: s.h.kt.url, ca: s.h.kt.ca, token: 'dana-token', name: 'dana' });
});
t.teardown(() => s.close());

/** Reads an event stream until it ends; resolves with its records and whether an `end` event came. */
function readSse(path: string, token: string): Promise<{ status: number; type?: string; records: RecordEvent[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.h.kt.url}${path}`, { ca: s.h.kt.ca, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      const records: RecordEvent[] = [];
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === 'record' && data) records.push(JSON.parse(data) as RecordEvent);
          if (event === 'end') ended = true;
        }
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, ...(res.headers['content-type'] ? { type: res.headers['content-type'] } : {}), records, ended }),
      );
    });
    req.setTimeout(30_000, () => req.destroy(new Error('the live view did not end')));
    req.on('error', reject);
    req.end();
  });
}

t.test('a running exec, live, until its session ends', async (t) => {
  const run = kubectlBinary(dana, ['exec', 'web-0', '--', 'sh', '-c', 'echo first-line; sleep 2; echo second-line']);
  const live = await findSession(s.h.kt.store, (x) => x.user === 'dana' && x.state === 'live' && x.resources.includes('pods/exec'), 10_000);
  const other = await httpsCall(`${s.h.kt.url}/kubetape/v1/sessions/${live.id}/live`, { ca: s.h.kt.ca, headers: { authorization: 'Bearer sam-token' } });
  t.equal(other.status, 404, "someone else's live session does not exist for them");
  const view = await readSse(`/kubetape/v1/sessions/${live.id}/live?bodies=true`, 'dana-token');
  const r = await run;
  t.equal(r.code, 0, r.stderr);
  t.equal(view.status, 200);
  t.match(view.type, /text\/event-stream/);
  t.equal(view.records[0]?.type, 'session.start', 'from the start of the session');
  const out = view.records
    .filter((e): e is Extract<RecordEvent, { type: 'stream' }> => e.type === 'stream' && e.channel === 'stdout')
    .map((e) => Buffer.from(e.data, e.encoding === 'base64' ? 'base64' : 'utf8').toString())
    .join('');
  t.match(out, /first-line[\s\S]*second-line/, 'output recorded after the view opened arrived on it');
  t.equal(view.records[view.records.length - 1]?.type, 'session.end', 'the session end');
  t.ok(view.ended, 'and the stream said end');
  const stored: RecordEvent[] = [];
  for await (const ev of s.h.kt.store.readSession(live.id)) stored.push(ev);
  t.same(view.records, stored, 'exactly what was recorded, in order');
});

t.test('an ended session is sent whole, then end; without bodies the output is left out', async (t) => {
  const ended = await findSession(s.h.kt.store, (x) => x.user === 'dana' && x.state === 'ended' && x.resources.includes('pods/exec'), 10_000);
  const view = await readSse(`/kubetape/v1/sessions/${ended.id}/live`, 'dana-token');
  t.ok(view.ended);
  const streams = view.records.filter((e) => e.type === 'stream');
  t.ok(streams.length > 0);
  t.ok(
    streams.every((e) => e.type === 'stream' && e.data === '' && (e as { omitted?: boolean }).omitted === true),
    'stream data left out, sizes kept',
  );
});
