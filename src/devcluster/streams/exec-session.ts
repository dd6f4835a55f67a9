// One exec, protocol-independent: start the command, relay stdin (EOF
// included), output and resizes, then report the exit the way the kubelet
// does and end the session. A client that goes away kills the command.
import { randomBytes } from 'node:crypto';
import { endWritable, type CommandFlags, type CommandStreams } from './command-streams.js';
import { startCommand, type RunningCommand } from './exec-runtime.js';
import { V5 } from './protocols.js';
import { readSizes } from './resize-decoder.js';
import type { StreamSessionLog } from './session-log.js';
import { exitCodeStatus, startFailureStatus, successStatus, type StreamStatus } from './status.js';

export interface ProcessHost {
  cwd: string;
  env: Record<string, string>;
  /** Registers the process so the server's close() can kill it. */
  track(p: RunningCommand): void;
}

export type SessionEnd = 'completed' | 'client-closed';

/** True when the session went through the API server's v5 translator (its Status wording differs). */
export function viaTranslator(streams: CommandStreams): boolean {
  return streams.transport === 'websocket' && streams.protocol === V5;
}

/** Counts the client's stdin bytes and notes an explicit EOF in the log; starts the flow of stdin. */
export function watchStdin(streams: CommandStreams, log: StreamSessionLog): void {
  const stdin = streams.stdin;
  if (!stdin) return;
  stdin.on('error', () => undefined);
  stdin.on('data', (c: Buffer) => (log.stdinBytes += c.length));
  stdin.once('end', () => (log.stdinClosed = true));
}

export async function finishWith(streams: CommandStreams, log: StreamSessionLog, status: StreamStatus): Promise<SessionEnd> {
  log.status = status;
  streams.writeStatus(status);
  await streams.finish();
  return 'completed';
}

export async function runExec(streams: CommandStreams, argv: string[], flags: CommandFlags, host: ProcessHost, log: StreamSessionLog): Promise<SessionEnd> {
  const proc = startCommand({ argv, tty: flags.tty, stdin: flags.stdin, cwd: host.cwd, env: host.env });
  host.track(proc);
  proc.stdout.on('error', () => undefined);
  proc.stderr?.on('error', () => undefined);
  const gone = streams.closed.then(() => 'gone' as const);
  if (streams.resize) {
    readSizes(streams.resize, (size) => {
      log.resizes.push(size);
      if (flags.tty) proc.resize(size);
    });
  }

  const started = await Promise.race([proc.started, gone]);
  if (started === 'gone') {
    proc.kill();
    await proc.exited;
    return 'client-closed';
  }
  if (!started.ok) {
    proc.kill();
    const execId = randomBytes(32).toString('hex');
    return finishWith(streams, log, startFailureStatus(started.reason, execId, viaTranslator(streams)));
  }

  // Only now: a 'data' listener would start the flow before the pipe exists and lose what the client typed early.
  watchStdin(streams, log);
  if (streams.stdin && proc.stdin) streams.stdin.pipe(proc.stdin);
  else streams.stdin?.resume();
  relay(proc, streams, log);

  const code = await Promise.race([proc.exited, gone]);
  if (code === 'gone') {
    proc.kill();
    await proc.exited;
    return 'client-closed';
  }
  log.exitCode = code;
  // Input the command never read is dropped; a stalled stdin would also stall the WebSocket's close handshake.
  streams.stdin?.unpipe();
  streams.stdin?.resume();
  // The process is gone and its output was read: hand the rest to the client.
  const flushed = await Promise.race([Promise.all([endWritable(streams.stdout), endWritable(streams.stderr)]), gone]);
  if (flushed === 'gone') return 'client-closed';
  return finishWith(streams, log, code === 0 ? successStatus() : exitCodeStatus(argv, code, viaTranslator(streams)));
}

// Output the client did not ask for is read and dropped, as the runtime
// discards it; what it asked for is piped with backpressure.
function relay(proc: RunningCommand, streams: CommandStreams, log: StreamSessionLog): void {
  proc.stdout.on('data', (c: Buffer) => (log.stdoutBytes += streams.stdout ? c.length : 0));
  if (streams.stdout) {
    streams.stdout.on('error', () => undefined);
    proc.stdout.pipe(streams.stdout, { end: false });
  } else proc.stdout.resume();
  if (!proc.stderr) return;
  proc.stderr.on('data', (c: Buffer) => (log.stderrBytes += streams.stderr ? c.length : 0));
  if (streams.stderr) {
    streams.stderr.on('error', () => undefined);
    proc.stderr.pipe(streams.stderr, { end: false });
  } else proc.stderr.resume();
}
