// The embedded store: append-only, readable while written, and what was
// acknowledged as durable survives kill -9.
import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../src/store/local/local-store.js';
import { newSessionId } from '../src/store/store.js';
import type { RecordEvent, SessionStartEvent } from '../src/model/recording.js';

const start = (user: string, over: Partial<SessionStartEvent> = {}): SessionStartEvent => ({
  type: 'session.start',
  session: newSessionId(),
  time: new Date().toISOString(),
  user,
  groups: ['dev'],
  authMethod: 'token-file',
  cluster: 'c1',
  source: '127.0.0.1',
  command: 'kubectl get',
  ...over,
});

const request = (session: string, seq: number, verb: string, namespace: string): RecordEvent => ({
  type: 'request',
  session,
  seq,
  time: new Date().toISOString(),
  method: 'GET',
  uri: `/api/v1/namespaces/${namespace}/pods`,
  attrs: { isResourceRequest: true, verb, apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: '', namespace, name: '' },
  headers: {},
  streaming: false,
});

t.test('sessions are listed newest first, filtered, and readable while open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir, { writable: true });
  const a = await store.openSession(start('alice', { time: '2026-11-20T10:00:00.000Z' }));
  await a.append(request(a.id, 1, 'list', 'prod'), { durable: true });
  const b = await store.openSession(start('bob', { cluster: 'c2' }));
  await b.append(request(b.id, 1, 'watch', 'dev'), { durable: true });

  // A reader in another process sees open sessions as live, with counts from their files.
  const reader = new LocalStore(dir, { writable: false });
  let list = await reader.listSessions();
  t.same(
    list.map((s) => s.user),
    ['bob', 'alice'],
  );
  t.same(
    list.map((s) => s.state),
    ['live', 'live'],
  );
  t.same(list[1].verbs, ['list']);
  t.same(
    (await reader.listSessions({ user: 'alice' })).map((s) => s.id),
    [a.id],
  );
  t.same(
    (await reader.listSessions({ cluster: 'c2' })).map((s) => s.id),
    [b.id],
  );
  t.same(
    (await reader.listSessions({ verb: 'watch' })).map((s) => s.id),
    [b.id],
  );
  t.same(
    (await reader.listSessions({ namespace: 'prod' })).map((s) => s.id),
    [a.id],
  );
  t.same(
    (await reader.listSessions({ since: new Date('2026-11-21T00:00:00Z') })).map((s) => s.id),
    [b.id],
  );
  t.equal(await reader.resolveId(a.id.slice(0, 20).toLowerCase()), a.id, 'ids resolve by prefix, case-insensitively');

  await a.close({
    type: 'session.end',
    session: a.id,
    time: new Date().toISOString(),
    reason: 'idle',
    summary: { requests: 1, bytesIn: 0, bytesOut: 0, verbs: ['list'], namespaces: ['prod'], resources: ['pods'], errors: 0 },
  });
  list = await reader.listSessions();
  t.equal(list.find((s) => s.id === a.id)!.state, 'ended');
  const events: RecordEvent[] = [];
  for await (const ev of reader.readSession(a.id)) events.push(ev);
  t.same(
    events.map((e) => e.type),
    ['session.start', 'request', 'session.end'],
  );
  await store.close();
});

t.test('a torn last line is skipped, the rest stays readable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir, { writable: true });
  const s = await store.openSession(start('carol'));
  await s.append(request(s.id, 1, 'get', 'x'), { durable: true });
  const day = readdirSync(join(dir, 'recordings', 'sessions'))[0];
  appendFileSync(join(dir, 'recordings', 'sessions', day, `${s.id}.ndjson`), '{"type":"request","session":"' + s.id + '","se');
  const events: RecordEvent[] = [];
  for await (const ev of new LocalStore(dir, { writable: false }).readSession(s.id)) events.push(ev);
  t.same(
    events.map((e) => e.type),
    ['session.start', 'request'],
  );
  await store.close();
});

t.test('kill -9: every event acknowledged as durable is there, and the session reads as interrupted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A child writes durable events and reports each acknowledgement; we kill it mid-stream.
  const script = `
    const { LocalStore } = await import(${JSON.stringify(new URL('../dist/src/store/local/local-store.js', import.meta.url).href)});
    const { newSessionId } = await import(${JSON.stringify(new URL('../dist/src/store/store.js', import.meta.url).href)});
    const store = new LocalStore(process.argv[1], { writable: true });
    const id = newSessionId();
    const w = await store.openSession({ type: 'session.start', session: id, time: new Date().toISOString(), user: 'dave', groups: [], authMethod: 'token-file', cluster: 'c', source: 'x' });
    for (let seq = 1; ; seq++) {
      await w.append({ type: 'request', session: id, seq, time: new Date().toISOString(), method: 'GET', uri: '/x', attrs: { isResourceRequest: false, verb: 'get', apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' }, headers: {}, streaming: false }, { durable: true });
      process.stdout.write(id + ' ' + seq + '\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acked = 0;
  let id = '';
  await new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      for (const line of c.trim().split('\n')) {
        const [sid, seq] = line.split(' ');
        id = sid!;
        acked = Math.max(acked, Number(seq));
      }
      if (acked >= 50) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((r) => child.once('exit', r));
  const reader = new LocalStore(dir, { writable: false });
  const seqs: number[] = [];
  for await (const ev of reader.readSession(id)) if (ev.type === 'request') seqs.push(ev.seq);
  t.ok(seqs.length >= acked, `all ${acked} acknowledged events survived (found ${seqs.length})`);
  t.same(
    seqs,
    seqs.map((_, i) => i + 1),
    'in order, none missing',
  );
  const [s] = await reader.listSessions();
  t.equal(s.state, 'interrupted');
  t.equal(s.requests, seqs.length);
});
