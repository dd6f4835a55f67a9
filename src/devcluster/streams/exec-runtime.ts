// What the "container" runs: a real local process, with pipes (tty=false) or
// under a real pseudo-terminal made by python3 (tty=true). Start failures are
// reported the way runc words them, so the caller can build the kubelet's
// Status; the exit code is the process's (128+N when killed by signal N).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { PTY_SCRIPT } from './pty-script.js';

export interface TerminalSize {
  Width: number;
  Height: number;
}

export interface CommandSpec {
  argv: string[];
  tty: boolean;
  /** Attach a stdin pipe (else the process reads /dev/null). */
  stdin: boolean;
  cwd: string;
  env: Record<string, string>;
}

export type StartResult = { ok: true } | { ok: false; reason: string };

export interface RunningCommand {
  readonly child: ChildProcess;
  readonly stdin: Writable | null;
  /** With tty this is the terminal's output (stdout and stderr merged). */
  readonly stdout: Readable;
  /** Null with tty. */
  readonly stderr: Readable | null;
  /** Resolves once the command runs, or with runc's reason it could not start. */
  readonly started: Promise<StartResult>;
  /** Resolves with the exit code once the process is gone and its output drained. */
  readonly exited: Promise<number>;
  resize(size: TerminalSize): void;
  kill(): void;
}

/** How long the pty waits for the client's first size before starting the command. */
const FIRST_RESIZE_WAIT_S = 0.5;

let python: string | undefined;
/**
 * The interpreter's real path, found once with the server's own PATH: the
 * command itself runs with a container-like minimal PATH, and shims (pyenv)
 * need more environment than that.
 */
function pythonPath(): string {
  if (python) return python;
  try {
    python = execFileSync(process.env.PYTHON3 ?? 'python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    python = 'python3';
  }
  return python || 'python3';
}

/** runc's words for an exec that failed, e.g. `exec: "x": executable file not found in $PATH`. */
export function startFailureReason(command: string, code: string | undefined, message?: string): string {
  const quoted = JSON.stringify(command);
  if (code === 'ENOENT')
    return command.includes('/') ? `exec: ${quoted}: stat ${command}: no such file or directory` : `exec: ${quoted}: executable file not found in $PATH`;
  if (code === 'EACCES') return `exec: ${quoted}: permission denied`;
  return `exec: ${quoted}: ${message ?? code ?? 'unknown error'}`;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n ? 128 + n : 1;
}

export function startCommand(spec: CommandSpec): RunningCommand {
  const [command = '', ...args] = spec.argv;
  const stdinMode = spec.stdin ? 'pipe' : 'ignore';
  const child = spec.tty
    ? spawn(pythonPath(), ['-c', PTY_SCRIPT, String(FIRST_RESIZE_WAIT_S), ...spec.argv], {
        cwd: spec.cwd,
        env: spec.env,
        stdio: [stdinMode, 'pipe', 'pipe', 'pipe'],
      })
    : spawn(command, args, { cwd: spec.cwd, env: spec.env, stdio: [stdinMode, 'pipe', 'pipe'] });
  child.stdin?.on('error', () => undefined);
  const resizePipe = spec.tty ? (child.stdio[3] as Writable) : null;
  resizePipe?.on('error', () => undefined);

  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<number>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError ??= err;
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(exitCode(code, signal)));
  });

  const started = spec.tty
    ? ptyStarted(child, command)
    : new Promise<StartResult>((resolve) => {
        child.once('spawn', () => resolve({ ok: true }));
        child.once('error', () => resolve({ ok: false, reason: startFailureReason(command, spawnError?.code, spawnError?.message) }));
      });

  return {
    child,
    stdin: child.stdin,
    stdout: child.stdout as Readable,
    stderr: spec.tty ? null : child.stderr,
    started,
    exited,
    resize(size: TerminalSize): void {
      if (!resizePipe || resizePipe.destroyed) return;
      const w = Math.max(0, Math.min(0xffff, Math.floor(Number(size.Width) || 0)));
      const h = Math.max(0, Math.min(0xffff, Math.floor(Number(size.Height) || 0)));
      resizePipe.write(`${JSON.stringify({ Width: w, Height: h })}\n`);
    },
    kill(): void {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

// The runner's stderr carries one control line: started, or why not.
function ptyStarted(child: ChildProcess, command: string): Promise<StartResult> {
  return new Promise<StartResult>((resolve) => {
    let text = '';
    const done = (r: StartResult): void => {
      child.stderr?.removeAllListeners('data');
      child.stderr?.resume();
      resolve(r);
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => {
      text += c;
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      try {
        const msg = JSON.parse(text.slice(0, nl)) as { started?: boolean; error?: string; message?: string };
        done(msg.started ? { ok: true } : { ok: false, reason: startFailureReason(command, msg.error, msg.message) });
      } catch {
        done({ ok: false, reason: `pty runner: ${text.slice(0, nl)}` });
      }
    });
    child.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `python3 is needed for tty sessions: ${err.message}` }));
    child.once('close', () => done({ ok: false, reason: `pty runner exited: ${text.trim() || 'no output'}` }));
  });
}
