// Issue 13 item 3: try kubetape without a cluster. The built CLI's
// `kubetape dev` (run `npm run build` first) and the README's quick start
// with the real kubectl and the kubeconfig dev printed: get pods shows the
// seeded web-0, apply, watch, logs and logs -f, exec, port-forward; every
// invocation is recorded as a session of the cluster `kubetape-dev`. And
// `serve` without any kubeconfig says what to do next.
import t, { type Test } from 'tap';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { kubectl, spawnKubectl } from './helpers/kubectl.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(ROOT, 'bin/kubetape.js');

async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 30_000, env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** Starts `kubetape dev`; resolves with its output once it printed the export line. */
function startDev(t: Test, args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(process.execPath, [BIN, 'dev', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kubetape dev did not start: ${out} ${err}`)), 20_000);
    child.stdout.on('data', (c: string) => {
      out += c;
      if (/export KUBECONFIG=\S+\n/.test(out)) {
        clearTimeout(timer);
        resolve({ child, out });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubetape dev exited ${code}: ${out} ${err}`));
    });
  });
}

async function firstLine(lines: AsyncIterable<string>, pattern: RegExp): Promise<string> {
  for await (const l of lines) if (pattern.test(l)) return l;
  throw new Error(`no line matching ${String(pattern)}`);
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

t.test('kubetape dev: the quick start with the real kubectl, recorded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-dev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  // No kubeconfig anywhere: a fresh machine. A variable of ours must not reach the "pod".
  const env = { ...process.env, HOME: dir, KUBECONFIG: '', KUBETAPE_TEST_MARKER: 'must-not-leak' };
  const { child, out } = await startDev(t, ['--data-dir', data, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], env);
  t.match(out, /NOT A CLUSTER/, 'it says it is not a cluster');
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out)![1];
  t.equal(kubeconfig, join(data, 'kubeconfig'));

  const admin = /admin\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)![1];
  t.equal(await httpGet(`${admin}/readyz`), 'ok', 'ready: the store and the built-in API answer');
  const version = await kubectl(['version'], { kubeconfig });
  t.match(version.stdout, /Server Version: v1\.32\.0-kubetape-dev/, 'the server version says what it is');

  const pods = await kubectl(['get', 'pods'], { kubeconfig });
  t.equal(pods.code, 0, pods.stderr);
  t.match(pods.stdout, /^web-0\s+1\/1\s+Running\s+0\s+/m, 'get pods shows the seeded web-0, running');

  const apply = await kubectl(['apply', '-f', join(ROOT, 'examples/hello-configmap.yaml')], { kubeconfig });
  t.equal(apply.code, 0, apply.stderr);
  t.match(apply.stdout, 'configmap/hello created');
  // get cm -w: the list, then what changes while it watches.
  const watch = spawnKubectl(['get', 'cm', '-w'], { kubeconfig });
  t.match(await firstLine(watch.lines, /^hello\s/), /^hello\s+1\s+/, 'the watch lists the applied configmap');
  t.equal((await kubectl(['create', 'configmap', 'second', '--from-literal=x=y'], { kubeconfig })).code, 0);
  t.match(await firstLine(watch.lines, /^second\s/), /^second\s+1\s+/, 'and shows one created while it watches');
  watch.child.kill('SIGINT');
  await watch.done;
  const cm = await kubectl(['get', 'cm', 'hello', '-o', 'jsonpath={.data.greeting}'], { kubeconfig });
  t.equal(cm.stdout, 'hello from kubetape');

  const logs = await kubectl(['logs', 'web-0'], { kubeconfig });
  t.equal(logs.code, 0, logs.stderr);
  t.match(logs.stdout, /hello from kubetape dev\. This is not a cluster/, 'web-0 logs say something');
  const follow = spawnKubectl(['logs', '-f', 'web-0', '--tail', '1'], { kubeconfig });
  await firstLine(follow.lines, /listening on :80|GET \/ 200/);
  t.match(await firstLine(follow.lines, /GET \/ 200 \(request \d+\)/), /web-0: .* GET \/ 200/, 'logs -f gets the lines web-0 keeps writing');
  follow.child.kill('SIGINT');
  await follow.done;

  const hi = await kubectl(['exec', 'web-0', '--', 'echo', 'hi'], { kubeconfig });
  t.equal(hi.code, 0, hi.stderr);
  t.equal(hi.stdout, 'hi\n', 'exec echo hi returns hi');
  const sh = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'pwd; env; exit 3'], { kubeconfig });
  t.equal(sh.code, 3, "a shell's exit code comes back");
  const podDir = sh.stdout.split('\n')[0];
  t.match(podDir, /kubetape-dev-pods-[^/]+\/default\/web-0$/, 'the shell runs in a throwaway directory per pod');
  t.notMatch(sh.stdout, /KUBETAPE_TEST_MARKER/, "kubetape's environment does not reach it");
  t.match(sh.stdout, /^HOSTNAME=web-0$/m);

  const pf = spawnKubectl(['port-forward', 'web-0', ':80'], { kubeconfig });
  const local = /127\.0\.0\.1:(\d+) -> 80/.exec(await firstLine(pf.lines, /Forwarding from 127\.0\.0\.1:\d+ -> 80/))![1];
  t.match(
    await httpGet(`http://127.0.0.1:${local}/hi`),
    /hello from kubetape dev \(not a cluster\): you asked for GET \/hi/,
    'port-forward reaches the greeting',
  );
  pf.child.kill('SIGINT');
  await pf.done;

  // Every invocation is a recorded session of kubetape-dev.
  const list = await cli(['sessions', 'list', '--json', '--data-dir', data]);
  t.equal(list.code, 0, list.stderr);
  const sessions = JSON.parse(list.stdout) as Array<{ id: string; cluster: string; command?: string; verbs: string[] }>;
  t.ok(sessions.length > 0 && sessions.every((s) => s.cluster === 'kubetape-dev'), 'recorded under the cluster kubetape-dev');
  const commands = new Set(sessions.map((s) => s.command));
  for (const c of ['kubectl get', 'kubectl apply', 'kubectl logs', 'kubectl exec', 'kubectl port-forward']) t.ok(commands.has(c), `${c} is recorded`);
  const execs = sessions.filter((s) => s.command === 'kubectl exec');
  const shows = await Promise.all(execs.map((s) => cli(['sessions', 'show', s.id, '--data-dir', data])));
  t.ok(
    shows.some((s) => /101\s+get pods\/exec web-0 -n default .*exec \["echo","hi"\] container=web\s+exit 0\s+stdin 0 B, stdout 3 B/.test(s.stdout)),
    'the exec of echo hi is in a session, with its command, exit code and output',
  );

  // One data dir, one kubetape: a second dev there is refused and changes nothing.
  const second = await cli(['dev', '--data-dir', data, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], env);
  t.not(second.code, 0);
  t.match(second.stderr, `is in use by kubetape dev (pid ${child.pid}`);
  t.equal((await kubectl(['get', 'pods'], { kubeconfig })).code, 0, 'the first still serves through the same kubeconfig');

  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  t.equal(child.exitCode, 0, 'SIGTERM stops it cleanly');
  t.notOk(existsSync(podDir), "the pods' directories are gone with it");
  t.notOk(existsSync(join(data, 'kubetape.lock')), 'and the data dir is free again');
});

t.test('serve without any kubeconfig says what to do next', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-dev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, HOME: dir, KUBECONFIG: '' };
  const r = await cli(['serve', '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], env);
  t.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr}`);
  t.match(lines[0], `kubetape: ${join(dir, '.kube', 'config')}: kubeconfig file not found`);
  t.match(lines[0], '--kubeconfig', 'names the flag for a kubeconfig elsewhere');
  t.match(lines[0], '--context');
  t.match(lines[0], '`kubetape dev`', 'and the way to try it without a cluster');
  t.notOk(existsSync(join(dir, 'data', 'kubeconfig')), 'and writes no kubeconfig');
});
