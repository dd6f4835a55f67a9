// The built CLI (bin/kubetape.js) in everyday use: output piped into a reader
// that stops early (`| head -1`), and bad input named the way it was given.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalStore } from '../src/store/local/local-store.js';
import { newSessionId } from '../src/store/store.js';
import type { RequestEvent, SessionStartEvent } from '../src/model/recording.js';
import { BIN, cli } from './helpers/built-cli.js';

const run = promisify(execFile);

const dir = mkdtempSync(join(tmpdir(), 'kubetape-cli-everyday-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'data');
let execSession = '';

const SESSIONS = 800; // verify --all writes a line each: more than a pipe holds (64 KiB), so the CLI is still writing when its reader leaves
const OUTPUT_EVENTS = 3000;

t.before(async () => {
  // Recordings written through the store serve uses: many small sessions, and one exec with a lot of output.
  const store = new LocalStore(data, { writable: true });
  const start = (command: string): SessionStartEvent => ({
    type: 'session.start',
    session: newSessionId(),
    time: new Date().toISOString(),
    user: 'alice',
    groups: [],
    authMethod: 'token-file',
    cluster: 'c',
    source: '127.0.0.1',
    command,
  });
  for (let i = 0; i < SESSIONS; i++) {
    const w = await store.openSession(start('kubectl get'));
    await w.close({
      type: 'session.end',
      session: w.id,
      time: new Date().toISOString(),
      reason: 'idle',
      summary: { requests: 0, bytesIn: 0, bytesOut: 0, verbs: [], namespaces: [], resources: [], errors: 0 },
    });
  }
  const w = await store.openSession(start('kubectl exec'));
  execSession = w.id;
  const rq: RequestEvent = {
    type: 'request',
    session: w.id,
    seq: 1,
    time: new Date().toISOString(),
    method: 'GET',
    uri: '/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdout=true',
    attrs: {
      isResourceRequest: true,
      verb: 'create',
      apiGroup: '',
      apiVersion: 'v1',
      resource: 'pods',
      subresource: 'exec',
      namespace: 'default',
      name: 'web-0',
    },
    headers: {},
    streaming: false,
    exec: { command: ['sh'], tty: false, stdin: false, stdout: true, stderr: false },
  };
  await w.append(rq, { durable: true });
  for (let i = 0; i < OUTPUT_EVENTS; i++)
    await w.append({ type: 'stream', session: w.id, seq: 1, offsetMs: i, channel: 'stdout', encoding: 'utf8', data: `line ${i} ${'x'.repeat(60)}\n` });
  await w.append(
    { type: 'response', session: w.id, seq: 1, time: new Date().toISOString(), status: 101, durationMs: OUTPUT_EVENTS, bytesIn: 0, bytesOut: 0, exitCode: 0 },
    { durable: true },
  );
  await w.close({
    type: 'session.end',
    session: w.id,
    time: new Date().toISOString(),
    reason: 'idle',
    summary: { requests: 1, bytesIn: 0, bytesOut: 0, verbs: ['create'], namespaces: ['default'], resources: ['pods/exec'], errors: 0 },
  });
  await store.close();
});

/**
 * Runs the CLI with its stdout on a real pipe that the reading end closes
 * after the first line, as `| head -1` does; resolves with that line, what
 * the CLI wrote to stderr, and how it exited.
 */
function headOne(args: string[]): Promise<{ first: string; stderr: string; code: number | null; signal: string | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubetape ${args.join(' ')} did not exit within 20 s of its reader leaving`));
    }, 20_000);
    let out = '';
    let first = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl >= 0 && !first) {
        first = out.slice(0, nl);
        child.stdout.destroy(); // the reader is gone: the CLI's next write meets a closed pipe
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ first, stderr, code, signal });
    });
  });
}

for (const c of [
  { name: 'verify --all', args: () => ['verify', '--all', '--data-dir', data], first: /^[0-9A-Z]{26}\s+intact/ },
  { name: 'export --format asciicast', args: () => ['export', execSession, '--format', 'asciicast', '--data-dir', data], first: /^\{"version":2/ },
  { name: 'sessions show --json', args: () => ['sessions', 'show', execSession, '--json', '--data-dir', data], first: /^\{$/ },
  { name: 'replay --no-wait', args: () => ['replay', execSession, '--no-wait', '--data-dir', data], first: /line 0 x+$/ },
]) {
  t.test(`${c.name} | head -1: the CLI stops quietly when its reader leaves`, async (t) => {
    const r = await headOne(c.args());
    t.match(r.first, c.first, 'the first line came out');
    t.equal(r.stderr, '', 'nothing on stderr: no EPIPE, no stack trace');
    t.equal(r.signal, null);
    t.equal(r.code, 141, 'the status a shell reports for a command ended by SIGPIPE (128 + 13)');
  });
}

t.test('with the whole output read, the same commands exit 0', async (t) => {
  const r = await cli(['verify', '--all', '--data-dir', data]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`all ${SESSIONS + 1} recordings intact\\n$`));
});

t.test('a bad value is named the way it was given: the flag, or the key with file, line and column', async (t) => {
  const serve = [
    'serve',
    '--data-dir',
    join(dir, 'serve-data'),
    '--kubeconfig',
    join(dir, 'missing-kubeconfig'),
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
  ];
  let r = await cli([...serve, '--fail-mode', 'maybe']);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'kubetape: --fail-mode must be "closed" or "open", got "maybe"\n', 'the flag, not recording.failMode');
  r = await cli([...serve, '--admin-listen', 'localhost']);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'kubetape: --admin-listen must be host:port (e.g. 127.0.0.1:8443), got "localhost"\n');

  // The same value in the config file is named by its key.
  const cfg = join(dir, 'fail-mode.yaml');
  writeFileSync(cfg, 'recording:\n  failMode: maybe\n');
  r = await cli(['serve', '--config', cfg]);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'kubetape: recording.failMode must be "closed" or "open", got "maybe"\n', 'the key, from the file');

  // A YAML syntax error: one line, file:line:column and the parser's message, no dangling "at line 2, column 1:".
  const cases = [
    { text: 'listen: 127.0.0.1:0\n  dataDir: /tmp\n', where: '1:9', message: 'Nested mappings are not allowed in compact mappings' },
    { text: 'listen: 127.0.0.1:0\nlisten: 127.0.0.1:1\n', where: '2:1', message: 'Map keys must be unique' },
  ];
  for (const c of cases) {
    const bad = join(dir, `syntax-${c.where.replace(':', '-')}.yaml`);
    writeFileSync(bad, c.text);
    r = await cli(['serve', '--config', bad]);
    t.equal(r.code, 1);
    t.equal(r.stderr, `kubetape: config ${bad}:${c.where}: ${c.message}\n`, `${c.message}: one clean line`);
  }
  r = await cli(['serve', '--config', join(dir, 'no-such.yaml')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^kubetape: cannot read config .*no-such\.yaml: ENOENT[^\n]*\n$/, 'a missing file is still named');
});

t.test('a clone that was never built says what to run, not a stack trace', async (t) => {
  const clone = mkdtempSync(join(tmpdir(), 'kubetape-unbuilt-'));
  t.teardown(() => rmSync(clone, { recursive: true, force: true }));
  mkdirSync(join(clone, 'bin'));
  copyFileSync(BIN, join(clone, 'bin', 'kubetape.js'));
  writeFileSync(join(clone, 'package.json'), '{"type": "module"}\n');
  const r = await run(process.execPath, [join(clone, 'bin', 'kubetape.js'), '--help']).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }),
  );
  t.equal(r.code, 1);
  t.equal(r.stderr, `kubetape: the CLI is not built yet: run \`npm ci\` (or \`npm run build\`) in ${clone}/\n`);
});
