// Sessions of clients that send no Kubectl-Session (kubectl before 1.22,
// client libraries, k9s and other client-go tools, curl): one per person,
// source address and User-Agent while its requests keep coming, however many
// connections they use; a request without a User-Agent joins the person's
// client session last used; the client is named from its User-Agent.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { rawRequest } from './helpers/raw-request.js';
import { cliFromSource } from './helpers/streams.js';
import { exchanges, sessionEvents } from './helpers/recordings.js';
import { clientName } from '../src/cli/sessions-command.js';
import { CLIENT_SESSION_WINDOW_MS } from '../src/record/recorder.js';
import type { SessionSummary } from '../src/model/recording.js';

let h: Harness;
t.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-client-sessions-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tokens = join(dir, 'tokens.csv');
  writeFileSync(tokens, 'alice-token,alice,,"dev"\nbob-token,bob,,"dev"\n');
  h = await startHarness({ config: { tokenFile: tokens } });
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one', namespace: 'default' }, data: { k: 'v' } });
});
t.teardown(() => h.close());

const UA = {
  requests: 'python-requests/2.31.0',
  python: 'OpenAPI-Generator/29.0.0/python',
  go: 'Go-http-client/1.1',
  k9s: 'k9s/v0.32.5 (linux/amd64) kubernetes/$Format',
  nodeFetch: 'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)',
  kubectl120: 'kubectl/v1.20.15 (linux/amd64) kubernetes/8f1e5bf',
};

/** One GET on a connection of its own (Connection: close), as `token`, with this User-Agent or none. */
async function get(token: string, path: string, userAgent?: string): Promise<number> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  if (userAgent) headers['User-Agent'] = userAgent;
  const r = await rawRequest({ url: h.kt.url, ca: h.kt.ca, method: 'GET', target: path, headers });
  return r.status;
}

/** The sessions recorded for `user`, oldest first, once each holds the requests expected. */
async function sessionsOf(user: string, requests: number): Promise<SessionSummary[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const list = (await h.kt.store.listSessions({ user })).reverse();
    if (list.reduce((n, s) => n + s.requests, 0) >= requests || Date.now() > deadline) return list;
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('one session per person, address and User-Agent, across connections; no User-Agent joins the last', async (t) => {
  const cm = '/api/v1/namespaces/default/configmaps';
  t.equal(await get('alice-token', cm, UA.requests), 200);
  t.equal(await get('alice-token', `${cm}/one`, UA.requests), 200, 'a second connection, same client');
  t.equal(await get('alice-token', cm, UA.python), 200);
  t.equal(await get('alice-token', `${cm}/one`), 200, 'no User-Agent (as client-node and the Python client send exec)');
  for (const ua of [UA.go, UA.k9s, UA.nodeFetch, UA.kubectl120]) t.equal(await get('alice-token', cm, ua), 200);

  const sessions = await sessionsOf('alice', 8);
  t.same(
    sessions.map((s) => [clientName(s.userAgent), s.requests]),
    [
      ['python-requests', 2],
      ['kubernetes-python', 2],
      ['Go-http-client', 1],
      ['k9s', 1],
      ['node-fetch', 1],
      ['kubectl', 1],
    ],
    'each client one session, named from its User-Agent; the request without one went to the session last used',
  );
  const python = sessions[1];
  const xs = exchanges(await sessionEvents(h.kt.store, python.id));
  t.same(
    xs.map((x) => x.request.headers['user-agent'] ?? '(none)'),
    [UA.python, '(none)'],
    'the requests keep their own headers',
  );

  // Another person at the same address is never put in alice's sessions, whatever they send.
  t.equal(await get('bob-token', cm), 200);
  t.equal(await get('bob-token', cm, UA.requests), 200);
  const bobs = await sessionsOf('bob', 2);
  t.same(
    bobs.map((s) => [clientName(s.userAgent), s.requests]),
    [
      ['-', 1],
      ['python-requests', 1],
    ],
    "bob's own sessions; without a User-Agent and no session of his open, it is '-'",
  );
  t.equal((await sessionsOf('alice', 8)).length, 6, "alice's sessions are unchanged");

  const [list, show] = await cliFromSource([
    ['sessions', 'list', '--user', 'alice', '--data-dir', h.dataDir],
    ['sessions', 'show', python.id, '--data-dir', h.dataDir],
  ]);
  t.equal(list.code, 0, list.stderr);
  for (const name of ['python-requests', 'kubernetes-python', 'Go-http-client', 'k9s', 'node-fetch', 'kubectl'])
    t.match(list.stdout.toString(), new RegExp(`\\s${name}\\s+\\d+\\s+(live|ended)\\s`), `sessions list names ${name}`);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout.toString(), /^Command\s+kubernetes-python\s+client: OpenAPI-Generator\/29\.0\.0\/python$/m, 'sessions show names the client');
});

t.test('a client session ends once the client has paused; its next request starts a new one', async (t) => {
  const before = (await h.kt.store.listSessions({ user: 'alice' })).filter((s) => s.userAgent === UA.go);
  t.equal(before.length, 1);
  const deadline = Date.now() + CLIENT_SESSION_WINDOW_MS + 5000;
  let ended: SessionSummary | undefined;
  while (Date.now() < deadline) {
    ended = (await h.kt.store.listSessions({ user: 'alice' })).find((s) => s.id === before[0].id && s.state === 'ended');
    if (ended) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(ended, "the Go client's session ended (the server's idle time is 30 s)");
  const events = await sessionEvents(h.kt.store, before[0].id);
  const lastResponse = events.filter((e) => e.type === 'response').pop()!;
  const end = events.find((e) => e.type === 'session.end')!;
  const pause = Date.parse(end.time) - Date.parse(lastResponse.time);
  t.ok(
    pause >= CLIENT_SESSION_WINDOW_MS - 50 && pause < CLIENT_SESSION_WINDOW_MS + 3000,
    `it ended ${pause} ms after its last response (the client window is ${CLIENT_SESSION_WINDOW_MS} ms)`,
  );
  t.equal(await get('alice-token', '/api/v1/namespaces/default/configmaps', UA.go), 200);
  const after = (await sessionsOf('alice', 9)).filter((s) => s.userAgent === UA.go);
  t.equal(after.length, 2, 'the next request is a new session');
});

t.test('clientName: the product a User-Agent names', async (t) => {
  t.equal(clientName(undefined), '-');
  t.equal(clientName(''), '-');
  t.equal(clientName('curl/8.5.0'), 'curl');
  t.equal(clientName('OpenAPI-Generator/31.0.0/python'), 'kubernetes-python');
  t.equal(clientName('kubectl-dispatcher/0.1 (linux/amd64)'), 'kubectl-dispatcher');
});
