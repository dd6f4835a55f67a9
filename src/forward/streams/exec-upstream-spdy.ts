// exec/attach to the cluster over SPDY/3.1 (kubetape is the client, like
// client-go): one stream per channel, opened in client-go's order, the
// Status on the error stream. The kubelet ends a session by writing the
// Status and then resetting every stream, so a reset from the peer is an
// ordinary end (Go readers see it as EOF); only a connection that dies
// before the error stream said anything is a failure. Listeners go on each
// stream the moment it exists, so output that arrives right behind the
// reply (a fast command) is never stranded by the reset that follows it.
import type { Duplex, Writable } from 'node:stream';
import type { ExecRequest } from '../../model/recording.js';
import type { SpdyConnection } from '../spdy/connection.js';
import type { SpdyStream } from '../spdy/stream.js';
import { encodeTerminalSize, type TerminalSize } from './channel-frames.js';
import type { ExecUpstreamEnd, ExecUpstreamEvents } from './exec-types.js';
import { failureOutcome, outcomeFromErrorChannel, type ExecOutcome } from './exec-status.js';
import { EXEC_SPDY_PROTOCOLS, type ExecSpdyProtocol } from './protocols.js';

const MAX_STATUS_BYTES = 64 * 1024;
const CLOSE_GRACE_MS = 5000;
/** Output held before start() beyond which the cluster's socket is paused. */
const EARLY_OUTPUT_LIMIT = 1024 * 1024;

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

export class SpdyExecUpstream implements ExecUpstreamEnd {
  readonly label: string;
  readonly statusJson: boolean;
  private readonly streams = new Map<StreamType, SpdyStream>();
  private events: ExecUpstreamEvents | undefined;
  private readonly early: Array<['stdout' | 'stderr', Buffer]> = [];
  private earlySize = 0;
  private heldEarly = false;
  private readonly status: Buffer[] = [];
  private statusSize = 0;
  private errorEndedCleanly = false;
  private openReaders = 0;
  private outcome: ExecOutcome | undefined;
  private paused = false;

  private constructor(
    private readonly conn: SpdyConnection,
    private readonly socket: Duplex,
    private readonly protocol: ExecSpdyProtocol,
  ) {
    this.label = `spdy ${protocol.name || '(none)'}`;
    this.statusJson = protocol.statusJson;
    conn.on('error', () => undefined);
  }

  /** Opens the streams the request needs and waits for the cluster to accept them. */
  static async open(conn: SpdyConnection, socket: Duplex, protocolName: string, request: ExecRequest): Promise<SpdyExecUpstream> {
    const protocol = EXEC_SPDY_PROTOCOLS.find((p) => p.name === protocolName) ?? { name: protocolName, statusJson: false, resize: false };
    const up = new SpdyExecUpstream(conn, socket, protocol);
    const wanted: StreamType[] = ['error'];
    if (request.stdin) wanted.push('stdin');
    if (request.stdout) wanted.push('stdout');
    if (request.stderr) wanted.push('stderr');
    if (request.tty && protocol.resize) wanted.push('resize');
    // Issued in client-go's order; the SYN_STREAMs go out in this order although we do not wait in between.
    const opening = wanted.map((type) => conn.openStream({ streamtype: type }, { onCreated: (s) => up.wire(type, s) }));
    try {
      await Promise.all(opening);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    return up;
  }

  private wire(type: StreamType, s: SpdyStream): void {
    this.streams.set(type, s);
    if (type === 'stdin' || type === 'resize') {
      s.resume(); // nothing comes back on these, but they must be read to their end
      return;
    }
    this.openReaders++;
    if (type === 'error') {
      s.on('data', (c: Buffer) => {
        if (this.statusSize >= MAX_STATUS_BYTES) return;
        this.status.push(c);
        this.statusSize += c.length;
      });
      s.once('end', () => (this.errorEndedCleanly = true));
      s.once('reset', () => (this.errorEndedCleanly = true));
    } else {
      s.on('data', (c: Buffer) => this.output(type, c));
    }
    let counted = false;
    const done = (): void => {
      if (counted) return;
      counted = true;
      if (--this.openReaders === 0) this.readersDone();
    };
    s.once('end', done);
    s.once('close', done);
  }

  private output(type: 'stdout' | 'stderr', c: Buffer): void {
    if (this.events) {
      this.events[type](c);
      return;
    }
    this.early.push([type, c]);
    this.earlySize += c.length;
    if (this.earlySize > EARLY_OUTPUT_LIMIT && !this.heldEarly) {
      this.heldEarly = true;
      this.socket.pause();
    }
  }

  private readersDone(): void {
    const raw = Buffer.concat(this.status);
    this.outcome =
      !this.errorEndedCleanly && raw.length === 0
        ? failureOutcome('kubetape: the connection to the cluster ended before the command finished')
        : outcomeFromErrorChannel(raw, this.protocol.statusJson);
    this.events?.done(this.outcome);
  }

  get stdin(): Writable | undefined {
    return this.streams.get('stdin');
  }

  resize(size: TerminalSize): void {
    const r = this.streams.get('resize');
    if (r && !r.writableEnded && !r.destroyed) r.write(encodeTerminalSize(size));
  }

  start(events: ExecUpstreamEvents): void {
    this.events = events;
    for (const [type, c] of this.early.splice(0)) events[type](c);
    if (this.heldEarly) {
      this.heldEarly = false;
      if (!this.paused) this.socket.resume();
    }
    if (this.outcome) events.done(this.outcome);
  }

  /** Resets what is still open and says GOAWAY, as client-go does when it is done. */
  close(): void {
    for (const s of this.streams.values()) {
      if (!s.destroyed) s.reset();
    }
    this.conn.close();
    const timer = setTimeout(() => this.conn.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.conn.once('close', () => clearTimeout(timer));
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    if (!this.heldEarly) this.socket.resume();
  }
}
