// attach: the container's main process. The fake starts one per pod
// container on first attach and shares it between attaches: by default a
// small shell loop that prints a prompt and answers each input line in upper
// case. Its tty/stdin/stdinOnce come from the container spec, as in a real
// pod; its output also goes to the container log (`kubectl logs`). Stdin EOF
// from a client closes the process's stdin only with stdinOnce; the attach
// ends (Success, as the kubelet reports it) when the process exits.
import type { KubeObject } from '../types.js';
import type { LogSource } from '../logs.js';
import { endWritable, type CommandFlags, type CommandStreams } from './command-streams.js';
import { startCommand, type RunningCommand, type TerminalSize } from './exec-runtime.js';
import { finishWith, watchStdin, type SessionEnd } from './exec-session.js';
import { readSizes } from './resize-decoder.js';
import type { StreamSessionLog } from './session-log.js';
import { internalErrorStatus, successStatus } from './status.js';
import type { Writable } from 'node:stream';

export const DEFAULT_MAIN_PROCESS = ['sh', '-c', `printf '> '; while IFS= read -r line; do printf '%s\\n> ' "$line" | tr '[:lower:]' '[:upper:]'; done`];

export interface ContainerSpec {
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
}

export function containerSpec(pod: KubeObject, container: string): ContainerSpec {
  const spec = (pod.spec ?? {}) as { containers?: Array<Record<string, unknown>> };
  const c = (spec.containers ?? []).find((x) => x.name === container) ?? {};
  return { tty: c.tty === true, stdin: c.stdin === true, stdinOnce: c.stdinOnce === true };
}

interface Attached {
  stdout: Writable | null;
  stderr: Writable | null;
  /** Told how many bytes went to this attach, per stream. */
  sent(stream: 'stdout' | 'stderr', bytes: number): void;
}

/** Appends output to the container log line by line. */
class LineLogger {
  private partial = '';
  constructor(private readonly sink: (line: string) => void) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.sink(p.replace(/\r$/, ''));
  }
}

export class MainProcess {
  readonly proc: RunningCommand;
  private readonly attached = new Set<Attached>();

  constructor(
    readonly argv: string[],
    readonly spec: ContainerSpec,
    cwd: string,
    env: Record<string, string>,
    log: (line: string) => void,
  ) {
    this.proc = startCommand({ argv, tty: spec.tty, stdin: true, cwd, env });
    const lines = new LineLogger(log);
    const fan = (stream: 'stdout' | 'stderr') => (c: Buffer) => {
      lines.push(c);
      for (const a of this.attached) {
        const w = a[stream];
        if (!w || w.destroyed || w.writableEnded) continue;
        w.write(c);
        a.sent(stream, c.length);
      }
    };
    this.proc.stdout.on('data', fan('stdout'));
    this.proc.stderr?.on('data', fan('stderr'));
  }

  attach(a: Attached): () => void {
    this.attached.add(a);
    return () => this.attached.delete(a);
  }

  write(chunk: Buffer): void {
    if (this.spec.stdin && this.proc.stdin && !this.proc.stdin.writableEnded) this.proc.stdin.write(chunk);
  }

  clientStdinEnded(): void {
    if (this.spec.stdinOnce) this.proc.stdin?.end();
  }

  resize(size: TerminalSize): void {
    if (this.spec.tty) this.proc.resize(size);
  }
}

export interface MainProcessHost {
  cwd(namespace: string, pod: string): string;
  env(pod: KubeObject, tty: boolean): Record<string, string>;
  argv(pod: KubeObject, container: string): string[];
  logs: LogSource;
  track(p: RunningCommand): void;
}

/** One main process per namespace/pod/container, started on demand, forgotten when it exits. */
export class MainProcesses {
  private readonly running = new Map<string, MainProcess>();

  constructor(private readonly host: MainProcessHost) {}

  get(pod: KubeObject, container: string): MainProcess {
    const ns = String(pod.metadata.namespace ?? 'default');
    const name = String(pod.metadata.name);
    const key = `${ns}/${name}/${container}`;
    const existing = this.running.get(key);
    if (existing) return existing;
    const spec = containerSpec(pod, container);
    const main = new MainProcess(this.host.argv(pod, container), spec, this.host.cwd(ns, name), this.host.env(pod, spec.tty), (line) =>
      this.host.logs.append(ns, name, container, line),
    );
    this.host.track(main.proc);
    this.running.set(key, main);
    void main.proc.exited.then(() => {
      if (this.running.get(key) === main) this.running.delete(key);
    });
    return main;
  }
}

export async function runAttach(streams: CommandStreams, main: MainProcess, flags: CommandFlags, log: StreamSessionLog): Promise<SessionEnd> {
  const gone = streams.closed.then(() => 'gone' as const);
  streams.stdout?.on('error', () => undefined);
  streams.stderr?.on('error', () => undefined);
  const detach = main.attach({
    stdout: streams.stdout,
    stderr: main.spec.tty ? null : streams.stderr,
    sent: (stream, bytes) => {
      if (stream === 'stdout') log.stdoutBytes += bytes;
      else log.stderrBytes += bytes;
    },
  });
  if (streams.resize) {
    readSizes(streams.resize, (size) => {
      log.resizes.push(size);
      if (flags.tty) main.resize(size);
    });
  }
  watchStdin(streams, log);
  streams.stdin?.on('data', (c: Buffer) => main.write(c));
  streams.stdin?.once('end', () => main.clientStdinEnded());

  const started = await Promise.race([main.proc.started, gone]);
  if (started !== 'gone' && !started.ok) {
    detach();
    return finishWith(streams, log, internalErrorStatus(`error attaching to container: ${started.reason}`));
  }
  const code = started === 'gone' ? 'gone' : await Promise.race([main.proc.exited, gone]);
  detach();
  if (code === 'gone') return 'client-closed';
  log.exitCode = code;
  const flushed = await Promise.race([Promise.all([endWritable(streams.stdout), endWritable(streams.stderr)]), gone]);
  if (flushed === 'gone') return 'client-closed';
  return finishWith(streams, log, successStatus());
}
