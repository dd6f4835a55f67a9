// Shared pieces of the streams-*.test.ts files: a fake cluster whose pods
// run real local processes (stream-upstream.ts) behind kubetape, kubectl
// with binary-safe output or under a real pty, reading stream recordings,
// and the kubetape CLI run from source.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServeConfig } from '../../src/config/config.js';
import type { RequestEvent, ResponseEvent, StreamEvent } from '../../src/model/recording.js';
import type { RecordingStore } from '../../src/store/store.js';
import { startHarness, type Harness } from './harness.js';
import { runningPod, startStreamUpstream, type StreamUpstream, type StreamUpstreamOptions } from './stream-upstream.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

export interface StreamHarness {
  h: Harness;
  up: StreamUpstream;
  close(): Promise<void>;
}

export async function startStreamHarness(o: { minor?: string; upstream?: StreamUpstreamOptions; config?: Partial<ServeConfig> } = {}): Promise<StreamHarness> {
  const up = await startStreamUpstream(o.upstream);
  const h = await startHarness({ api: { minor: o.minor ?? '32', upgradeHandler: up.handler }, ...(o.config ? { config: o.config } : {}) });
  h.api.objects.put(runningPod('web-0') as never);
  return {
    h,
    up,
    async close() {
      await h.close();
      await up.close();
    },
  };
}

export interface BinaryRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function tempDirs(): { cache: string; home: string; cleanup: () => void } {
  const cache = mkdtempSync(join(tmpdir(), 'kt-kubectl-cache-'));
  const home = mkdtempSync(join(tmpdir(), 'kt-kubectl-home-'));
  return {
    cache,
    home,
    cleanup: () => {
      rmSync(cache, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** kubectl with stdin from `input` (closed after) and stdout kept as bytes. */
export function kubectlBinary(
  kubeconfig: string,
  args: string[],
  o: { input?: Buffer | string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<BinaryRun> {
  const d = tempDirs();
  const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', d.cache, ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, HOME: d.home, ...o.env },
    ...(o.cwd ? { cwd: o.cwd } : {}),
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(o.input ?? '');
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl ${args.join(' ')} timed out\nstderr: ${err}`));
    }, o.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      d.cleanup();
      resolvePromise({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

// Runs argv on a pty of the given size; reads "send <base64>" and "resize W H" lines on stdin.
const PTY_DRIVER = String.raw`
import os, pty, sys, select, fcntl, termios, struct, base64
w, h = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', h, w, 0, 0))
    os.execvp(argv[0], argv)
fds = [0, fd]
buf = b''
while True:
    r, _, _ = select.select(fds, [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 4096)
        if not data:
            fds.remove(0)
            continue
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            cmd = line.split()
            if cmd[0] == b'send':
                os.write(fd, base64.b64decode(cmd[1]))
            elif cmd[0] == b'resize':
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', int(cmd[2]), int(cmd[1]), 0, 0))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else (status >> 8))
`;

export interface PtyKubectl {
  output(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  send(text: string | Buffer): void;
  resize(width: number, height: number): void;
  done: Promise<{ code: number | null; output: string }>;
}

/** kubectl on a real terminal (`exec -it`, `attach -it`), driven by keystrokes and window resizes. */
export function kubectlOnPty(kubeconfig: string, args: string[], o: { width: number; height: number; env?: NodeJS.ProcessEnv }): PtyKubectl {
  const d = tempDirs();
  const child = spawn('python3', ['-c', PTY_DRIVER, String(o.width), String(o.height), KUBECTL, '--kubeconfig', kubeconfig, '--cache-dir', d.cache, ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, HOME: d.home, TERM: 'xterm', ...o.env },
  });
  let text = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (c: Buffer) => {
    text += c.toString('utf8');
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
  child.stdin.on('error', () => undefined);
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; output: string }>((r) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      d.cleanup();
      r({ code, output: text });
    }),
  );
  return {
    output: () => text,
    waitFor(re, timeoutMs = 10_000) {
      return new Promise((resolvePromise, reject) => {
        const check = (): void => {
          if (!re.test(text)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolvePromise();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`terminal never showed ${re}; it shows:\n${text}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    send(t) {
      child.stdin.write(`send ${Buffer.from(t).toString('base64')}\n`);
    },
    resize(w, h) {
      child.stdin.write(`resize ${w} ${h}\n`);
    },
    done,
  };
}

export interface StreamExchange {
  session: string;
  request: RequestEvent;
  response?: ResponseEvent;
  streams: StreamEvent[];
}

/** Every exec/attach/port-forward exchange recorded so far (responses included once they are written). */
export async function streamExchanges(store: RecordingStore): Promise<StreamExchange[]> {
  const out: StreamExchange[] = [];
  for (const s of await store.listSessions()) {
    const bySeq = new Map<number, StreamExchange>();
    for await (const ev of store.readSession(s.id)) {
      if (ev.type === 'request' && (ev.exec || ev.portForward)) bySeq.set(ev.seq, { session: s.id, request: ev, streams: [] });
      else if (ev.type === 'stream') bySeq.get(ev.seq)?.streams.push(ev);
      else if (ev.type === 'response') {
        const x = bySeq.get(ev.seq);
        if (x) x.response = ev;
      }
    }
    out.push(...bySeq.values());
  }
  return out.sort((a, b) => (a.request.time < b.request.time ? -1 : 1));
}

/** Waits until `count` stream exchanges matching `pred` have their response recorded. */
export async function settledStreamExchanges(
  store: RecordingStore,
  pred: (x: StreamExchange) => boolean,
  count = 1,
  timeoutMs = 10_000,
): Promise<StreamExchange[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const xs = (await streamExchanges(store)).filter(pred);
    if (xs.length >= count && xs.every((x) => x.response)) return xs;
    if (Date.now() > deadline)
      throw new Error(`expected ${count} finished stream exchanges, found ${xs.length} (${xs.filter((x) => x.response).length} finished)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The recorded bytes of one channel (and, for port-forward, one connection), in order. */
export function recorded(x: StreamExchange, channel: StreamEvent['channel'], connection?: number): Buffer {
  return Buffer.concat(
    x.streams
      .filter((e) => e.channel === channel && (connection === undefined || e.connection === connection))
      .map((e) => (e.encoding === 'base64' ? Buffer.from(e.data, 'base64') : Buffer.from(e.data, 'utf8'))),
  );
}

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const BUILT_RUNNER = resolve(HERE, '../../dist/test/helpers/run-cli.js');

/** Newest modification time of the .ts files under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The compiled runner when `npm test`'s build is newer than every source file
 * (as in CI), else the source through tap's TypeScript loader. Compiling all
 * of src/ in each child took 5 to 10 s per call; the built runner starts in a
 * fraction of that, and a stale build is never used.
 */
function runnerArgs(): string[] {
  try {
    const built = statSync(BUILT_RUNNER).mtimeMs;
    const root = resolve(HERE, '../..');
    if (built >= Math.max(newestSource(join(root, 'src')), newestSource(HERE))) return [BUILT_RUNNER];
  } catch {
    // not built: run from source
  }
  return [...process.execArgv.filter((a) => a.includes('@tapjs/typescript')), resolve(HERE, 'run-cli.ts')];
}

/** Runs kubetape CLI commands (built if fresh, else from source), all in one child process (startup is the slow part). */
export function cliFromSource(commands: string[][]): Promise<CliResult[]> {
  const child = spawn(process.execPath, [...runnerArgs(), JSON.stringify(commands)], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', NODE_OPTIONS: '' },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolvePromise, reject) => {
    child.on('close', (code) => {
      try {
        const results = JSON.parse(out.trim().split('\n').pop() ?? '') as Array<{ code: number; stdout: string; stderr: string }>;
        resolvePromise(
          results.map((r) => ({ code: r.code, stdout: Buffer.from(r.stdout, 'base64'), stderr: Buffer.from(r.stderr, 'base64').toString('utf8') })),
        );
      } catch {
        reject(new Error(`the CLI runner failed (exit ${code}): ${err}${out}`));
      }
    });
  });
}
