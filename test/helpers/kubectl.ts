// Running the real kubectl from tests: every invocation gets its own
// --kubeconfig, its own --cache-dir and its own HOME, so nothing from
// ~/.kube (cached discovery, other configs) leaks between tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  kubeconfig: string;
  /** Default: a fresh temp dir, removed afterwards. */
  cacheDir?: string;
  /** Written to stdin, which is then closed. */
  input?: string | Buffer;
  /** Added to (and overriding) the inherited environment; HOME is a fresh temp dir unless set here. */
  env?: NodeJS.ProcessEnv;
  /** Default 30000: the process is killed and the promise rejects. */
  timeoutMs?: number;
}

export interface KubeconfigSpec {
  server: string;
  /** PEM of the CA for the server's certificate. */
  ca: string;
  token?: string;
  /** PEM client certificate and key (mTLS). */
  clientCert?: string;
  clientKey?: string;
  namespace?: string;
  /** Cluster/context name; default "test". */
  name?: string;
}

/** The kubectl binary: $KUBECTL, else the dispatcher on PATH. */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Writes a kubeconfig into `dir` and returns its path (a new file each call). */
export function writeKubeconfig(dir: string, o: KubeconfigSpec): string {
  const name = o.name ?? 'test';
  const user: string[] = [];
  if (o.token) user.push(`    token: ${o.token}`);
  if (o.clientCert) user.push(`    client-certificate-data: ${b64(o.clientCert)}`);
  if (o.clientKey) user.push(`    client-key-data: ${b64(o.clientKey)}`);
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${o.server}`,
    `    certificate-authority-data: ${b64(o.ca)}`,
    'users:',
    `- name: ${name}-user`,
    user.length ? '  user:' : '  user: {}',
    ...user,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}-user`,
    ...(o.namespace ? [`    namespace: ${o.namespace}`] : []),
    `current-context: ${name}`,
    '',
  ].join('\n');
  const path = join(dir, `kubeconfig-${name}-${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

interface Launched {
  child: ChildProcess;
  cleanup: () => void;
}

function launch(args: string[], o: KubectlOptions, keepStdinOpen: boolean): Launched {
  const made: string[] = [];
  const temp = (prefix: string): string => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
  const cacheDir = o.cacheDir ?? temp('kubectl-cache-');
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: o.kubeconfig, ...o.env };
  if (!o.env?.HOME) env.HOME = temp('kubectl-home-');
  const child = spawn(KUBECTL, ['--kubeconfig', o.kubeconfig, '--cache-dir', cacheDir, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin?.on('error', () => undefined);
  if (o.input !== undefined) child.stdin?.end(o.input);
  else if (!keepStdinOpen) child.stdin?.end();
  return {
    child,
    cleanup: () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    },
  };
}

function collect(l: Launched, args: string[], timeoutMs: number, onStdout?: (chunk: string) => void): Promise<KubectlResult> {
  const { child, cleanup } = l;
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    stdout += c;
    onStdout?.(c);
  });
  child.stderr?.on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl ${args.join(' ')} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      cleanup();
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      cleanup();
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs kubectl to completion. */
export function kubectl(args: string[], o: KubectlOptions): Promise<KubectlResult> {
  return collect(launch(args, o, false), args, o.timeoutMs ?? 30_000);
}

/** Lines in arrival order; iteration ends when stdout closes. */
class LineQueue implements AsyncIterable<string> {
  private readonly lines: string[] = [];
  private partial = '';
  private ended = false;
  private wake: (() => void) | undefined;

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    this.notify();
  }

  end(): void {
    if (this.partial) this.lines.push(this.partial);
    this.partial = '';
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) {
        yield line;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/**
 * Starts kubectl and returns at once, for commands that stream (`get -w`,
 * `logs -f`, `exec -i`). stdin stays open (child.stdin) unless `input` is given.
 * `lines` yields stdout lines as they arrive (buffered from the start, so
 * nothing is lost if iteration begins late); `done` settles like kubectl().
 */
export function spawnKubectl(args: string[], o: KubectlOptions): { child: ChildProcess; lines: AsyncIterable<string>; done: Promise<KubectlResult> } {
  const l = launch(args, o, true);
  const queue = new LineQueue();
  const done = collect(l, args, o.timeoutMs ?? 30_000, (c) => queue.push(c));
  l.child.stdout?.on('close', () => queue.end());
  done.catch(() => queue.end());
  return { child: l.child, lines: queue, done };
}

/** A kubeconfig whose user runs `node BIN credential ...args` as its exec plugin (how an agent or a person logs in to kubetape). */
export function writeCredentialKubeconfig(
  path: string,
  o: { server: string; ca: string; user: string; bin: string; args: string[]; env?: Record<string, string> },
): string {
  const envLines = Object.entries(o.env ?? {}).flatMap(([name, value]) => [`      - name: ${name}`, `        value: ${JSON.stringify(value)}`]);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kt',
      '  cluster:',
      `    server: ${o.server}`,
      `    certificate-authority-data: ${Buffer.from(o.ca).toString('base64')}`,
      'users:',
      `- name: ${o.user}`,
      '  user:',
      '    exec:',
      '      apiVersion: client.authentication.k8s.io/v1',
      `      command: ${JSON.stringify(process.execPath)}`,
      `      args: ${JSON.stringify([o.bin, 'credential', ...o.args])}`,
      '      interactiveMode: Never',
      ...(envLines.length ? ['      env:', ...envLines] : []),
      'contexts:',
      '- name: kt',
      `  context: {cluster: kt, user: ${o.user}, namespace: default}`,
      'current-context: kt',
      '',
    ].join('\n'),
  );
  return path;
}
