// The processes a benchmark run starts (fake API server, kubectl proxy,
// kubetape): started as separate processes so their CPU and memory are
// theirs, not the load generator's, and all stopped however the run ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StartedChild {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** Everything the child wrote to stdout so far. */
  stdout(): string;
  /** Waits until stdout (all of it so far) matches `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

const TAIL_BYTES = 4000;

export class ChildSet {
  private readonly children: StartedChild[] = [];

  start(name: string, command: string, args: string[], opts: { cwd?: string; keepStdinOpen?: boolean } = {}): StartedChild {
    const proc = spawn(command, args, {
      cwd: opts.cwd,
      env: process.env,
      // A child that watches stdin (the fake API server) also ends if this process dies hard.
      stdio: [opts.keepStdinOpen ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let errTail = '';
    const waiters = new Set<() => void>();
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      for (const w of waiters) w();
    });
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      errTail = (errTail + s).slice(-TAIL_BYTES);
    });
    let exited: string | undefined;
    proc.once('exit', (code, signal) => {
      exited = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      for (const w of waiters) w();
    });
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
      for (const w of waiters) w();
    });

    const child: StartedChild = {
      name,
      pid: proc.pid ?? -1,
      proc,
      stdout: () => out,
      waitForOutput: (pattern, timeoutMs) =>
        new Promise((resolve, reject) => {
          const describe = () => {
            const tail = (out.slice(-TAIL_BYTES) + '\n' + errTail).trim();
            return tail ? `; its output:\n${indent(tail)}` : '';
          };
          const check = () => {
            const m = pattern.exec(out);
            if (m) return done(() => resolve(m));
            if (spawnError) return done(() => reject(new Error(`${name} could not start: ${spawnError!.message}`)));
            if (exited) return done(() => reject(new Error(`${name} ${exited} before printing ${pattern}${describe()}`)));
          };
          const timer = setTimeout(
            () => done(() => reject(new Error(`${name} printed nothing matching ${pattern} within ${timeoutMs / 1000}s${describe()}`))),
            timeoutMs,
          );
          const done = (settle: () => void) => {
            clearTimeout(timer);
            waiters.delete(check);
            settle();
          };
          waiters.add(check);
          check();
        }),
    };
    this.children.push(child);
    return child;
  }

  /** SIGTERM everything still running, SIGKILL what has not exited after `graceMs`. */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(
      this.children.map(async ({ proc }) => {
        if (!isRunning(proc)) return;
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.stdin?.end();
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Last resort from a synchronous 'exit' handler: nothing can be awaited there. */
  killAllNow(): void {
    for (const { proc } of this.children) if (isRunning(proc)) proc.kill('SIGKILL');
  }
}

function isRunning(proc: ChildProcess): boolean {
  return proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
}

/**
 * Run `body` with a ChildSet and a temp dir that nothing outlives: children
 * are stopped and the dir removed when `body` ends, throws, or the bench is
 * interrupted (SIGINT/SIGTERM) or exits. Resolves to the process exit code:
 * 0, or 1 after printing the error as one line.
 */
export async function withChildren(prefix: string, log: (line: string) => void, body: (children: ChildSet, tmp: string) => Promise<string>): Promise<number> {
  const children = new ChildSet();
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await children.stopAll();
      rmSync(tmp, { recursive: true, force: true });
    })());
  process.once('exit', () => {
    children.killAllNow();
    rmSync(tmp, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping the child processes`);
      void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
  try {
    process.stdout.write((await body(children, tmp)) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}
