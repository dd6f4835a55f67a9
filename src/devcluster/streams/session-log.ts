// What arrived upstream, per exec/attach/port-forward session, so tests can
// assert on the cluster side of a proxy: protocol chosen, flags, byte counts,
// resizes, exit code and the Status sent.
import type { TerminalSize } from './exec-runtime.js';
import type { StreamStatus } from './status.js';

export type StreamTransport = 'websocket' | 'spdy' | 'websocket-tunnel';

export interface PortForwardConnectionLog {
  port: number;
  /** SPDY requestid header (undefined for WebSocket v4 framing). */
  requestId?: string;
  bytesFromClient: number;
  bytesToClient: number;
  /** Text written on the error stream/channel, if any. */
  error?: string;
  endedAt?: number;
}

export interface StreamSessionLog {
  id: number;
  subresource: 'exec' | 'attach' | 'portforward';
  namespace: string;
  pod: string;
  container?: string;
  user: string;
  /** websocket-tunnel: SPDY carried inside WebSocket messages (port-forward). */
  transport: StreamTransport;
  /** The negotiated subprotocol / X-Stream-Protocol-Version ('' when none). */
  protocol: string;
  /** exec: the command; attach: the container's main process. */
  command: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  stdinBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** The client signalled stdin EOF (v5 close, SPDY FIN on stdin). */
  stdinClosed: boolean;
  resizes: TerminalSize[];
  exitCode?: number;
  /** The Status sent on the error channel (also recorded when the protocol sends nothing for success). */
  status?: StreamStatus;
  /** port-forward: the ports asked for (WebSocket) or seen (SPDY), in order. */
  ports: number[];
  connections: PortForwardConnectionLog[];
  startedAt: number;
  endedAt?: number;
  /** completed: the server finished it; client-closed: the client went away first; aborted: server shut down or failed. */
  end?: 'completed' | 'client-closed' | 'aborted';
}

export type NewSession = Pick<StreamSessionLog, 'subresource' | 'namespace' | 'pod' | 'container' | 'user' | 'transport' | 'protocol'> &
  Partial<Pick<StreamSessionLog, 'command' | 'tty' | 'stdin' | 'stdout' | 'stderr'>>;

/** The per-server list of sessions plus a way to wait until the open ones have ended. */
export class SessionLog {
  readonly sessions: StreamSessionLog[] = [];
  private nextId = 1;
  private readonly open = new Map<StreamSessionLog, () => void>();
  private readonly waiters = new Map<StreamSessionLog, Promise<void>>();

  start(s: NewSession): StreamSessionLog {
    const entry: StreamSessionLog = {
      id: this.nextId++,
      command: [],
      tty: false,
      stdin: false,
      stdout: false,
      stderr: false,
      stdinBytes: 0,
      stdoutBytes: 0,
      stderrBytes: 0,
      stdinClosed: false,
      resizes: [],
      ports: [],
      connections: [],
      startedAt: Date.now(),
      ...s,
    };
    this.sessions.push(entry);
    this.waiters.set(entry, new Promise<void>((resolve) => this.open.set(entry, resolve)));
    return entry;
  }

  finish(s: StreamSessionLog, end: NonNullable<StreamSessionLog['end']>): void {
    if (s.endedAt !== undefined) return;
    s.endedAt = Date.now();
    s.end = end;
    this.open.get(s)?.();
    this.open.delete(s);
  }

  /** Resolves when every session started so far has ended (rejects after timeoutMs). */
  async settled(timeoutMs = 10_000): Promise<void> {
    const pending = [...this.waiters.entries()].filter(([s]) => s.endedAt === undefined).map(([, p]) => p);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`stream sessions still open after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(pending), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Marks every open session aborted (server shutdown). */
  abortAll(): void {
    for (const s of [...this.open.keys()]) this.finish(s, 'aborted');
  }
}
