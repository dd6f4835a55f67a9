// Issue 13 item 2: one data dir belongs to one running kubetape. A second
// `serve` on a busy data dir, or a `serve` that fails to bind its ports,
// changes nothing there (instance.json, the kubeconfig, the live sessions);
// a lock left by a kill -9'd server, or naming a pid that now belongs to
// another process (another start time), is taken over. Runs the built CLI
// (`npm run build` first) and the real kubectl.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { acquireDataDirLock, DataDirLockedError, LOCK_FILE } from '../src/listen/data-dir-lock.js';
import { processStartTime } from '../src/store/process-identity.js';
import { BIN, cli } from './helpers/built-cli.js';

interface Serve {
  child: ChildProcess;
  url: string;
  stdout: string;
  stderr: () => string;
}

/** Starts `kubetape serve` and resolves once it printed the export line. */
function serve(t: Test, args: string[]): Promise<Serve> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err += c));
  return new Promise<Serve>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${err}`)), 20_000);
    child.stdout.on('data', (c: string) => {
      out += c;
      if (/export KUBECONFIG=/.test(out)) {
        clearTimeout(timer);
        resolve({ child, url: /listening on\s+(https:\/\/\S+)/.exec(out)![1], stdout: out, stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${out} ${err}`));
    });
  });
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));

async function setup(t: Test): Promise<{ dir: string; data: string; upstream: string; api: FakeApiServer }> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-lock-'));
  const api = await startFakeApiServer();
  t.teardown(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const upstream = writeKubeconfig(dir, { server: api.url, ca: api.ca, token: 'admin-token', name: 'lock-cluster', namespace: 'default' });
  return { dir, data: join(dir, 'data'), upstream, api };
}

const ports0 = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'];
const read = (p: string): string => readFileSync(p, 'utf8');
/** The lock's content, or '' when there is none. */
const readLock = (data: string): string => (existsSync(join(data, LOCK_FILE)) ? read(join(data, LOCK_FILE)) : '');
const lockPid = (data: string): number | undefined => (readLock(data) ? (JSON.parse(readLock(data)) as { pid: number }).pid : undefined);

async function sessions(data: string): Promise<Array<{ id: string; state: string; command?: string }>> {
  const r = await cli(['sessions', 'list', '--json', '--data-dir', data]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Array<{ id: string; state: string; command?: string }>;
}

function busyPort(t: Test): Promise<number> {
  const s: Server = createServer(() => undefined);
  t.teardown(() => new Promise<void>((r) => s.close(() => r())));
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

t.test('a second serve on a busy data dir is refused in one line and changes nothing', async (t) => {
  const { data, upstream } = await setup(t);
  const first = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  const kubeconfig = join(data, 'kubeconfig');
  // A kubectl session that stays live (sessions end 30 s after their last request).
  const r = await kubectl(['get', 'pods'], { kubeconfig });
  t.equal(r.code, 0, r.stderr);
  const live = (await sessions(data)).find((s) => s.command === 'kubectl get');
  t.equal(live?.state, 'live', 'the running server has a live session');
  const before = { instance: read(join(data, 'recordings', 'instance.json')), kubeconfig: read(kubeconfig), lock: readLock(data) };

  for (const extra of [ports0, ['--listen', new URL(first.url).host, '--admin-listen', '127.0.0.1:0']]) {
    const second = await cli(['serve', '--kubeconfig', upstream, '--data-dir', data, ...extra]);
    t.not(second.code, 0, 'the second serve fails');
    t.equal(second.stdout, '', 'and prints nothing on stdout (no export line)');
    const lines = second.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${second.stderr}`);
    t.match(
      lines[0],
      `kubetape: the data dir ${data} is in use by kubetape serve (pid ${first.child.pid}, listening on ${first.url}`,
      'naming the data dir, the holder pid and its address',
    );
  }

  t.equal(read(join(data, 'recordings', 'instance.json')), before.instance, 'instance.json is byte-identical');
  t.equal(read(kubeconfig), before.kubeconfig, 'the kubeconfig is byte-identical');
  t.equal(readLock(data), before.lock, 'the lock still names the first server');
  t.equal(lockPid(data), first.child.pid);
  t.equal((await sessions(data)).find((s) => s.id === live!.id)?.state, 'live', 'the live session stays live');
  const again = await kubectl(['get', 'namespaces'], { kubeconfig });
  t.equal(again.code, 0, 'the kubeconfig still reaches the first server');

  first.child.kill('SIGTERM');
  await exited(first.child);
  t.notOk(existsSync(join(data, LOCK_FILE)), 'the lock is released on exit');
  const third = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.ok(third.url, 'a serve after the first stopped starts');
  third.child.kill('SIGTERM');
  await exited(third.child);
});

t.test('a serve that fails on a busy port changes nothing in the data dir', async (t) => {
  const { data, upstream } = await setup(t);
  // A data dir a server used and left: its instance.json, kubeconfig and an ended session.
  const earlier = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.equal((await kubectl(['get', 'pods'], { kubeconfig: join(data, 'kubeconfig') })).code, 0);
  earlier.child.kill('SIGTERM');
  await exited(earlier.child);
  const before = {
    instance: read(join(data, 'recordings', 'instance.json')),
    kubeconfig: read(join(data, 'kubeconfig')),
    index: read(join(data, 'recordings', 'index.ndjson')),
  };

  const port = await busyPort(t);
  for (const flags of [
    ['--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0'],
    ['--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${port}`],
  ]) {
    const r = await cli(['serve', '--kubeconfig', upstream, '--data-dir', data, ...flags]);
    t.equal(r.code, 1, `${flags.join(' ')}: fails`);
    t.match(r.stderr, `127.0.0.1:${port} is already in use`);
    t.equal(read(join(data, 'recordings', 'instance.json')), before.instance, `${flags.join(' ')}: instance.json is byte-identical`);
    t.equal(read(join(data, 'kubeconfig')), before.kubeconfig, `${flags.join(' ')}: the kubeconfig is byte-identical`);
    t.equal(read(join(data, 'recordings', 'index.ndjson')), before.index, `${flags.join(' ')}: no session was opened or ended`);
    t.notOk(existsSync(join(data, LOCK_FILE)), `${flags.join(' ')}: the lock is released`);
  }
});

t.test("a kill -9'd server's lock is taken over by the next start", async (t) => {
  const { data, upstream } = await setup(t);
  const killed = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.equal((await kubectl(['get', 'pods'], { kubeconfig: join(data, 'kubeconfig') })).code, 0);
  killed.child.kill('SIGKILL');
  await exited(killed.child);
  t.equal(lockPid(data), killed.child.pid, 'kill -9 leaves the lock behind');
  const kubectlGets = async () => (await sessions(data)).filter((s) => s.command === 'kubectl get'); // not the dispatcher's /version probe
  t.same(
    (await kubectlGets()).map((s) => s.state),
    ['interrupted'],
    "the killed server's session reads interrupted",
  );

  const next = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.equal(lockPid(data), next.child.pid, 'the lock names the new server');
  t.match(next.stderr(), `took over ${join(data, LOCK_FILE)} from pid ${killed.child.pid}`);
  t.equal((await kubectl(['get', 'pods'], { kubeconfig: join(data, 'kubeconfig') })).code, 0, 'and it serves');
  const states = (await kubectlGets()).map((s) => s.state).sort();
  t.same(states, ['interrupted', 'live'], "the new server's session is live, the killed one's stays interrupted");
  next.child.kill('SIGTERM');
  await exited(next.child);
});

t.test('a lock naming a live pid is stale when that pid has another start time (reused)', async (t) => {
  const { data, upstream } = await setup(t);
  // An unrelated live process: its pid is real, and its start time known.
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => void sleeper.kill('SIGKILL'));
  await new Promise((r) => sleeper.once('spawn', r));
  const pid = sleeper.pid!;
  const startTime = processStartTime(pid);
  t.ok(startTime, 'the start time of a live pid can be read');
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const lock = join(data, LOCK_FILE);
  const holder = (start: string): string =>
    JSON.stringify({
      pid,
      startTime: start,
      bootId,
      nonce: 'x',
      hostname: 'elsewhere',
      listen: '127.0.0.1:8443',
      since: '2026-01-01T00:00:00.000Z',
      command: 'serve',
    }) + '\n';

  // The same pid and start time: that process holds it (this is what pid + start time must not get wrong).
  mkdirSync(data, { recursive: true, mode: 0o700 });
  writeFileSync(lock, holder(startTime!));
  const refused = await cli(['serve', '--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.not(refused.code, 0, 'a lock whose pid and start time match a running process is held');
  t.match(refused.stderr, `is in use by kubetape serve (pid ${pid} on elsewhere, starting on 127.0.0.1:8443`);
  t.equal(read(lock), holder(startTime!), 'and left alone');

  // Same pid, another start time: the process that took the lock is gone and the pid was reused.
  writeFileSync(lock, holder(String(Number(startTime) + 12345)));
  const taker = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.equal(lockPid(data), taker.child.pid, 'the stale lock was taken over');
  t.equal(sleeper.exitCode, null, 'the unrelated process was not touched');
  taker.child.kill('SIGTERM');
  await exited(taker.child);

  // Another boot: stale whatever the pid.
  writeFileSync(lock, JSON.stringify({ pid, startTime, bootId: '00000000-0000-0000-0000-000000000000', nonce: 'y', hostname: 'h', since: 'then' }));
  const afterBoot = await serve(t, ['--kubeconfig', upstream, '--data-dir', data, ...ports0]);
  t.equal(lockPid(data), afterBoot.child.pid, 'a lock from an earlier boot is stale');
  afterBoot.child.kill('SIGTERM');
  await exited(afterBoot.child);
});

t.test('in one process: a held lock refuses a second taker until released', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = acquireDataDirLock(dir, { listen: '127.0.0.1:1' });
  t.throws(() => acquireDataDirLock(dir), DataDirLockedError);
  a.update({ url: 'https://127.0.0.1:1' });
  t.match(
    JSON.parse(read(join(dir, LOCK_FILE))),
    { pid: process.pid, url: 'https://127.0.0.1:1', listen: '127.0.0.1:1' },
    'update keeps the holder and adds the URL',
  );
  a.release();
  t.notOk(existsSync(join(dir, LOCK_FILE)));
  const b = acquireDataDirLock(dir);
  a.release(); // a released lock never removes its successor
  t.ok(existsSync(join(dir, LOCK_FILE)), "releasing an old lock twice leaves the new holder's file");
  b.release();
  // A torn or foreign file in the lock's place is not a holder: taken over.
  writeFileSync(join(dir, LOCK_FILE), '{"pi');
  acquireDataDirLock(dir).release();
});
