// What the user chose to end is ended, not failed: a `get -w` or `logs -f`
// stopped with Ctrl-C, and a `kubectl cp` out of a pod (kubectl closes its
// WebSocket as soon as the tar stream is complete), with the real kubectl.
// The recording keeps why the exchange ended; the session counts no error.
import t, { type Test } from 'tap';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnKubectl } from './helpers/kubectl.js';
import { findSession, settledExchanges } from './helpers/recordings.js';
import { kubectlBinary, startStreamHarness, type StreamHarness } from './helpers/streams.js';
import type { SessionSummary } from '../src/model/recording.js';

let s: StreamHarness;
t.before(async () => {
  s = await startStreamHarness({ minor: '32', upstream: { webSocket: true } });
  s.h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { a: '1' } });
  s.h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'talker', namespace: 'default' },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  });
  s.h.api.logs.set('default', 'talker', 'app', ['hello']);
});
t.teardown(() => s.close());

/** Runs kubectl until it printed its first line, then stops it as Ctrl-C does. */
async function interrupted(t: Test, args: string[]): Promise<void> {
  const k = spawnKubectl(args, { kubeconfig: s.h.kubeconfig });
  const it = k.lines[Symbol.asyncIterator]();
  const first = await Promise.race([
    it.next(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`kubectl ${args.join(' ')}: no output within 10 s`)), 10_000)),
  ]);
  t.ok(first.value, `kubectl ${args.join(' ')} printed ${JSON.stringify(first.value)}`);
  await new Promise((r) => setTimeout(r, 200)); // a moment, streaming
  k.child.kill('SIGINT');
  await k.done;
}

async function ended(pred: (s: SessionSummary) => boolean, what: (x: Awaited<ReturnType<typeof settledExchanges>>[number]) => boolean) {
  const session = await findSession(s.h.kt.store, pred);
  const xs = await settledExchanges(s.h.kt.store, session.id);
  const x = xs.find(what);
  // Listing folds the same events: read the summary again once every response is in.
  const summary = (await s.h.kt.store.listSessions()).find((x) => x.id === session.id)!;
  return { x, summary };
}

t.test('a watch stopped with Ctrl-C: ended by the client, not an error', async (t) => {
  await interrupted(t, ['get', 'configmaps', '-w']);
  const { x, summary } = await ended(
    (x) => x.command === 'kubectl get' && x.verbs.includes('watch'),
    (x) => x.request.attrs.verb === 'watch',
  );
  t.ok(x?.response, 'the watch was recorded with its end');
  t.equal(x!.response!.status, 200, "the cluster's status is kept");
  t.equal(x!.response!.error, 'client closed the connection', 'the reason is kept');
  t.equal(x!.response!.endedBy, 'client');
  t.equal(summary.errors, 0, 'the session counts no error');
});

t.test('logs -f stopped with Ctrl-C: ended by the client, not an error', async (t) => {
  await interrupted(t, ['logs', '-f', 'talker']);
  const { x, summary } = await ended(
    (x) => x.command === 'kubectl logs',
    (x) => x.request.attrs.subresource === 'log',
  );
  t.equal(x!.response!.status, 200);
  t.equal(x!.response!.error, 'client closed the connection');
  t.equal(x!.response!.endedBy, 'client');
  t.equal(summary.errors, 0, 'the session counts no error');
});

t.test('kubectl cp out of a pod: a success, whatever way kubectl closes its WebSocket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-cp-ended-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The fake pod's filesystem is this machine's: the "remote" path is a local one.
  const remote = join(dir, 'in-pod');
  mkdirSync(remote);
  writeFileSync(join(remote, 'report.txt'), 'copied out through kubetape\n'.repeat(1000));
  const back = join(dir, 'back.txt');
  const r = await kubectlBinary(s.h.kubeconfig, ['cp', `web-0:${join(remote, 'report.txt')}`, back]);
  t.equal(r.code, 0, r.stderr);
  t.equal(readFileSync(back, 'utf8'), readFileSync(join(remote, 'report.txt'), 'utf8'), 'copied');
  const { x, summary } = await ended(
    (x) => x.command === 'kubectl cp',
    (x) => x.request.exec?.command[0] === 'tar',
  );
  t.ok(x?.response, 'the tar exec was recorded with its end');
  if (x!.response!.error) t.equal(x!.response!.endedBy, 'client', `the client ended it (${x!.response!.error})`);
  t.equal(summary.errors, 0, 'the session counts no error');
});
