// exec/attach to the cluster over SPDY/3.1 (kubetape is the client, like
// client-go): one stream per channel, opened in client-go's order, the
// Status on the error stream. The kubelet ends a session by writing the
// Status and then resetting every stream, so a reset from the peer is an
// ordinary end (Go readers see it as EOF); only a connection that dies
// before the error stream said anything is a failure.
import type { Duplex, Writable } from 'node:stream';
import type { ExecRequest } from '../../record/model.js';
import type { SpdyConnection } from '../spdy/connection.js';
import type { SpdyStream } from '../spdy/stream.js';
import { encodeTerminalSize, type TerminalSize } from './channel-frames.js';
import type { ExecUpstreamEnd, ExecUpstreamEvents } from './exec-types.js';
import { failureOutcome, outcomeFromErrorChannel } from './exec-status.js';
import { EXEC_SPDY_PROTOCOLS, type ExecSpdyProtocol } from './protocols.js';

const MAX_STATUS_BYTES = 64 * 1024;
const CLOSE_GRACE_MS = 5000;

interface Streams {
  error: SpdyStream;
  stdin?: SpdyStream;
  stdout?: SpdyStream;
  stderr?: SpdyStream;
  resize?: SpdyStream;
}

export class SpdyExecUpstream implements ExecUpstreamEnd {
  readonly label: string;
  readonly statusJson: boolean;

  private constructor(
    private readonly conn: SpdyConnection,
    private readonly socket: Duplex,
    private readonly protocol: ExecSpdyProtocol,
    private readonly streams: Streams,
  ) {
    this.label = `spdy ${protocol.name || '(none)'}`;
    this.statusJson = protocol.statusJson;
  }

  /** Opens the streams the request needs and waits for the cluster to accept them. */
  static async open(conn: SpdyConnection, socket: Duplex, protocolName: string, request: ExecRequest): Promise<SpdyExecUpstream> {
    const protocol = EXEC_SPDY_PROTOCOLS.find((p) => p.name === protocolName) ?? { name: protocolName, statusJson: false, resize: false };
    conn.on('error', () => undefined);
    const open = (type: string): Promise<SpdyStream> => conn.openStream({ streamtype: type });
    // Issued in client-go's order; the SYN_STREAMs go out in this order even though we do not wait in between.
    const error = open('error');
    const stdin = request.stdin ? open('stdin') : undefined;
    const stdout = request.stdout ? open('stdout') : undefined;
    const stderr = request.stderr ? open('stderr') : undefined;
    const resize = request.tty && protocol.resize ? open('resize') : undefined;
    const all = [error, stdin, stdout, stderr, resize].filter((p): p is Promise<SpdyStream> => p !== undefined);
    try {
      await Promise.all(all);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    const streams: Streams = { error: await error };
    if (stdin) streams.stdin = await stdin;
    if (stdout) streams.stdout = await stdout;
    if (stderr) streams.stderr = await stderr;
    if (resize) streams.resize = await resize;
    return new SpdyExecUpstream(conn, socket, protocol, streams);
  }

  get stdin(): Writable | undefined {
    return this.streams.stdin;
  }

  resize(size: TerminalSize): void {
    const r = this.streams.resize;
    if (r && !r.writableEnded && !r.destroyed) r.write(encodeTerminalSize(size));
  }

  start(events: ExecUpstreamEvents): void {
    const { error, stdout, stderr } = this.streams;
    const status: Buffer[] = [];
    let statusSize = 0;
    let errorEndedCleanly = false;
    error.on('data', (c: Buffer) => {
      if (statusSize >= MAX_STATUS_BYTES) return;
      status.push(c);
      statusSize += c.length;
    });
    error.once('end', () => (errorEndedCleanly = true));
    error.once('reset', () => (errorEndedCleanly = true));
    stdout?.on('data', (c: Buffer) => events.stdout(c));
    stderr?.on('data', (c: Buffer) => events.stderr(c));

    const readers = [error, stdout, stderr].filter((s): s is SpdyStream => s !== undefined);
    let open = readers.length;
    let reported = false;
    const oneDone = (): void => {
      if (--open > 0 || reported) return;
      reported = true;
      const raw = Buffer.concat(status);
      if (!errorEndedCleanly && raw.length === 0) {
        events.done(failureOutcome('kubetape: the connection to the cluster ended before the command finished'));
      } else {
        events.done(outcomeFromErrorChannel(raw, this.protocol.statusJson));
      }
    };
    for (const s of readers) {
      let counted = false;
      const done = (): void => {
        if (counted) return;
        counted = true;
        oneDone();
      };
      s.once('end', done);
      s.once('close', done);
    }
    for (const s of [this.streams.stdin, this.streams.resize]) s?.resume?.();
  }

  /** Resets what is still open and says GOAWAY, as client-go does when it is done. */
  close(): void {
    for (const s of Object.values(this.streams) as SpdyStream[]) {
      if (!s.destroyed) s.reset();
    }
    this.conn.close();
    const timer = setTimeout(() => this.conn.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.conn.once('close', () => clearTimeout(timer));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}
