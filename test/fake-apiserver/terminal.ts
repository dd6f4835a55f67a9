// Runs a program (kubectl exec -it, attach -it) inside a real pseudo-terminal
// from tests, with the same python3 pty runner the fake kubelet uses: type
// into it, resize it (the program gets SIGWINCH), wait for output.
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { PTY_SCRIPT } from '../../src/devcluster/streams/pty-script.js';

export interface Terminal {
  /** Everything the program wrote to the terminal so far. */
  readonly output: string;
  type(text: string): void;
  resize(cols: number, rows: number): void;
  /** Resolves once the output matches; rejects after ms with the output in the message. */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
  /** The program's exit code. */
  readonly exited: Promise<number | null>;
  kill(): void;
}

export function runInTerminal(argv: string[], o: { env?: NodeJS.ProcessEnv; cols?: number; rows?: number; cwd?: string } = {}): Terminal {
  const child = spawn(process.env.PYTHON3 ?? 'python3', ['-c', PTY_SCRIPT, '5', ...argv], {
    env: o.env ?? process.env,
    cwd: o.cwd,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  const resizePipe = child.stdio[3] as Writable;
  resizePipe.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  child.stderr.resume(); // the runner's control line
  let output = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    output += c;
    for (const l of listeners) l();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const resize = (cols: number, rows: number): void => {
    resizePipe.write(`${JSON.stringify({ Width: cols, Height: rows })}\n`);
  };
  resize(o.cols ?? 80, o.rows ?? 24);
  return {
    get output() {
      return output;
    },
    type: (text) => child.stdin.write(text),
    resize,
    waitFor(pattern, ms = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(output)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`terminal: no ${String(pattern)} within ${ms} ms; output so far: ${JSON.stringify(output)}`));
        }, ms);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        // Output after exit cannot come: fail at once instead of at the timeout.
        void exited.then(() =>
          setTimeout(() => {
            if (!listeners.has(check)) return;
            check();
            if (!listeners.has(check)) return;
            cleanup();
            reject(new Error(`terminal: program exited without ${String(pattern)}; output: ${JSON.stringify(output)}`));
          }, 50),
        );
        check();
      });
    },
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}
