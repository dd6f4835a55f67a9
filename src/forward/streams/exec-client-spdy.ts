// kubectl's exec/attach over SPDY/3.1, kubetape as the server: the client
// opens one stream per channel (error, stdin, stdout, stderr, resize) and
// the session starts when all it asked for are there, as in the kubelet.
import type { Duplex, Writable } from 'node:stream';
import type { ExecRequest } from '../../model/recording.js';
import type { SpdyConnection } from '../spdy/connection.js';
import { SpdyProtocolError } from '../spdy/frames.js';
import type { SpdyStream } from '../spdy/stream.js';
import { ResizeDecoder } from './channel-frames.js';
import type { ExecClientEnd, ExecClientEvents } from './exec-types.js';
import { endAndFlush } from './flow.js';
import { forceCloseWhenFlushed } from './linger.js';
import type { ExecSpdyProtocol } from './protocols.js';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * Why a client's SPDY connection failed: a protocol violation (recorded as
 * an error) or just its socket going away (kubectl reset at exit is normal).
 */
export function clientFailure(err: Error): string {
  if (err instanceof SpdyProtocolError) return `the client broke the SPDY protocol: ${err.message}`;
  return `the client closed the connection (${err.message})`;
}

export class SpdyExecClient implements ExecClientEnd {
  readonly label: string;
  readonly statusJson: boolean;
  private finished = false;
  private events: ExecClientEvents | undefined;
  private closeReason: string | undefined;
  private protocolError = false;
  /** The connection closed before start(). */
  private gone = false;

  private constructor(
    private readonly conn: SpdyConnection,
    private readonly socket: Duplex,
    private readonly streams: Map<StreamType, SpdyStream>,
    protocol: ExecSpdyProtocol,
  ) {
    this.label = `spdy ${protocol.name || '(none)'}`;
    this.statusJson = protocol.statusJson;
    conn.on('error', (err) => {
      this.closeReason ??= clientFailure(err);
      if (err instanceof SpdyProtocolError) this.protocolError = true;
    });
    conn.on('close', () => {
      if (this.finished) return;
      this.finished = true;
      this.gone = true;
      this.events?.closed(this.closeReason ?? 'the client closed the connection', this.protocolError);
    });
  }

  /**
   * Waits (up to `timeoutMs`) until the client has opened every stream the
   * request needs, answering each. The client's socket is paused afterwards
   * until start().
   */
  static accept(conn: SpdyConnection, socket: Duplex, protocol: ExecSpdyProtocol, request: ExecRequest, timeoutMs: number): Promise<SpdyExecClient> {
    const expected = new Set<StreamType>(['error']);
    if (request.stdin) expected.add('stdin');
    if (request.stdout) expected.add('stdout');
    if (request.stderr) expected.add('stderr');
    if (request.tty && protocol.resize) expected.add('resize');
    const streams = new Map<StreamType, SpdyStream>();
    return new Promise((resolve, reject) => {
      let error: string | undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        conn.off('stream', onStream);
        conn.off('close', onClose);
        conn.off('error', onError);
      };
      const onStream = (s: SpdyStream): void => {
        const type = s.headers['streamtype'] as StreamType | undefined;
        if (!type || !expected.has(type) || streams.has(type)) {
          s.reset();
          return;
        }
        s.reply();
        streams.set(type, s);
        if (streams.size < expected.size) return;
        cleanup();
        socket.pause();
        resolve(new SpdyExecClient(conn, socket, streams, protocol));
      };
      const onClose = (): void => {
        cleanup();
        reject(new Error(error ?? 'the client closed the connection before opening its streams'));
      };
      const onError = (err: Error): void => {
        error = clientFailure(err);
      };
      const timer = setTimeout(() => {
        cleanup();
        conn.destroy();
        reject(new Error(`the client did not open its streams within ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
      timer.unref();
      conn.on('stream', onStream);
      conn.on('close', onClose);
      conn.on('error', onError);
    });
  }

  get stdout(): Writable | undefined {
    return this.streams.get('stdout');
  }

  get stderr(): Writable | undefined {
    return this.streams.get('stderr');
  }

  start(events: ExecClientEvents): void {
    this.events = events;
    if (this.gone) {
      queueMicrotask(() => events.closed(this.closeReason ?? 'the client closed the connection', this.protocolError));
      return;
    }
    const stdin = this.streams.get('stdin');
    if (stdin) {
      stdin.on('data', (c: Buffer) => {
        if (!this.finished) events.stdin(c);
      });
      stdin.once('end', () => {
        if (!this.finished) events.stdinEnd();
      });
    }
    const resize = this.streams.get('resize');
    if (resize) {
      const decoder = new ResizeDecoder();
      resize.on('data', (c: Buffer) => {
        if (!this.finished) for (const size of decoder.push(c)) events.resize(size);
      });
    }
    // Nothing meaningful arrives on the others, but they must be read to end.
    for (const type of ['error', 'stdout', 'stderr'] as const) this.streams.get(type)?.resume();
    this.socket.resume();
  }

  async finish(errorBytes: Buffer): Promise<void> {
    this.finished = true;
    await Promise.all([endAndFlush(this.stdout), endAndFlush(this.stderr)]);
    const error = this.streams.get('error');
    if (error && !error.destroyed && !error.writableEnded) error.end(errorBytes);
    // Our halves of the client's input streams are done too; kubectl resets
    // everything and closes once it has read the error stream.
    for (const type of ['stdin', 'resize'] as const) {
      const s = this.streams.get(type);
      if (s && !s.destroyed && !s.writableEnded) s.end();
    }
    this.conn.close();
    forceCloseWhenFlushed(
      this.conn,
      () => this.socket.writableLength,
      () => this.conn.destroy(),
    );
  }

  abort(_reason: string): void {
    this.finished = true;
    this.conn.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}
