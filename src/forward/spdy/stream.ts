// One SPDY stream as a Node Duplex: the readable side is DATA from the peer,
// the writable side DATA to the peer, end() sends FIN. A reset (either side)
// destroys the stream WITHOUT an error, so a stream nobody listens to for
// 'error' cannot crash the process when kubectl resets it at the end of a
// session; the status is kept in `resetStatus` and announced with 'reset'.
import { Duplex } from 'node:stream';
import { RstStatus } from './frames.js';
import type { WriteDone } from './frame-writer.js';
import { normalizeHeaders, type SpdyHeaders, type SpdyHeadersInit } from './header-codec.js';

/** What a stream needs from its connection. */
export interface StreamHost {
  readonly maxDataFrameSize: number;
  sendReply(stream: SpdyStream, headers: SpdyHeadersInit, fin: boolean): void;
  sendData(stream: SpdyStream, data: Buffer, fin: boolean, done?: WriteDone): void;
  sendReset(streamId: number, status: number): void;
  sendWindowUpdate(streamId: number, delta: number): void;
  /** Both halves are finished or the stream was reset: forget it. */
  streamFinished(stream: SpdyStream): void;
}

// Half of SPDY's 64 KiB initial window: acknowledging at this point keeps a
// window-honouring sender from ever running dry.
const WINDOW_UPDATE_THRESHOLD = 32 * 1024;

export class SpdyStream extends Duplex {
  /** Headers of SYN_REPLY (streams we opened) or of our reply (streams the peer opened). */
  replyHeaders: SpdyHeaders = {};
  /** RST_STREAM status once reset, by either side. */
  resetStatus: number | undefined;
  resetByPeer = false;

  private replied: boolean;
  private localFin = false;
  private remoteFin = false;
  private finished = false;
  private unacknowledged = 0;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
    /** The SYN_STREAM headers (e.g. streamtype, port, requestid). */
    readonly headers: SpdyHeaders,
    /** True when we sent the SYN_STREAM. */
    readonly initiatedLocally: boolean,
  ) {
    super({ allowHalfOpen: true });
    this.replied = initiatedLocally;
  }

  /** Peer's half is done (FIN received or reset). */
  get remoteEnded(): boolean {
    return this.remoteFin;
  }

  /** Our half is done (FIN sent or reset). */
  get localEnded(): boolean {
    return this.localFin;
  }

  /** Accepts a stream the peer opened (SYN_REPLY). Writing first replies implicitly with no headers. */
  reply(headers: SpdyHeadersInit = {}, opts: { fin?: boolean } = {}): void {
    if (this.initiatedLocally) throw new Error(`SPDY stream ${this.id} was opened by us; only the peer replies`);
    if (this.replied || this.resetStatus !== undefined) return;
    this.replied = true;
    this.replyHeaders = normalizeHeaders(headers);
    const fin = opts.fin === true;
    if (fin) this.localFin = true;
    this.host.sendReply(this, headers, fin);
    if (fin) {
      this.end();
      this.checkFinished();
    }
  }

  /** Aborts the stream with RST_STREAM (default CANCEL). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.resetStatus !== undefined || this.finished) {
      this.destroy();
      return;
    }
    this.resetStatus = status;
    this.host.sendReset(this.id, status);
    this.markFinished();
    this.destroy();
  }

  // ---- called by the connection ----

  /** @internal */
  onPeerData(data: Buffer, fin: boolean): void {
    if (this.remoteFin || this.destroyed) return;
    if (data.length > 0) {
      this.unacknowledged += data.length;
      if (this.push(data)) this.acknowledge();
    }
    if (fin) this.onPeerFin();
  }

  /** @internal */
  onPeerFin(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    this.push(null);
    this.checkFinished();
  }

  /** @internal */
  onPeerReply(headers: SpdyHeaders, fin: boolean): void {
    this.replyHeaders = headers;
    if (fin) this.onPeerFin();
  }

  /** @internal */
  onPeerHeaders(headers: SpdyHeaders, fin: boolean): void {
    this.emit('headers', headers);
    if (fin) this.onPeerFin();
  }

  /** @internal */
  onPeerReset(status: number): void {
    if (this.resetStatus !== undefined) return;
    this.resetStatus = status;
    this.resetByPeer = true;
    this.emit('reset', status);
    this.markFinished();
    this.destroy();
  }

  /** @internal We sent a SYN_STREAM with FIN, or got one flagged unidirectional: our half is over already. */
  closeLocalHalfSilently(): void {
    this.localFin = true;
    this.end();
  }

  /** @internal The connection is gone: end without sending anything. */
  abort(): void {
    this.markFinished();
    this.destroy();
  }

  // ---- Duplex implementation ----

  override _read(): void {
    this.acknowledge();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.resetStatus !== undefined || this.localFin) {
      callback(new Error(`SPDY stream ${this.id} is closed for writing`));
      return;
    }
    if (!this.replied) this.reply();
    // A write that fails because the stream or connection went away is not
    // reported as an error: the stream is destroyed (or about to be) anyway.
    const done = (err?: Error | null): void => callback(err && !this.destroyed && !this.finished ? err : null);
    const max = this.host.maxDataFrameSize;
    for (let at = 0; at < chunk.length; at += max) {
      const last = at + max >= chunk.length;
      this.host.sendData(this, chunk.subarray(at, at + max), false, last ? done : undefined);
    }
    if (chunk.length === 0) callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.localFin || this.resetStatus !== undefined) {
      callback();
      return;
    }
    if (!this.replied) this.reply();
    this.localFin = true;
    this.host.sendData(this, Buffer.alloc(0), true, (err) => {
      this.checkFinished();
      // The FIN is queued; a closed connection is not the writer's fault.
      callback(err && !this.destroyed && !this.finished ? err : null);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      // Destroyed before both halves ended: tell the peer so it does not wait.
      this.resetStatus = RstStatus.CANCEL;
      this.host.sendReset(this.id, RstStatus.CANCEL);
      this.markFinished();
    }
    callback(error);
  }

  // Window credit is returned as the consumer takes data (push() accepted it
  // or _read() asked for more), so a slow reader slows a window-honouring
  // sender instead of buffering without bound.
  private acknowledge(): void {
    if (this.unacknowledged < WINDOW_UPDATE_THRESHOLD || this.remoteFin || this.resetStatus !== undefined) return;
    const delta = this.unacknowledged;
    this.unacknowledged = 0;
    this.host.sendWindowUpdate(this.id, delta);
  }

  private checkFinished(): void {
    if (this.localFin && this.remoteFin) this.markFinished();
  }

  private markFinished(): void {
    if (this.finished) return;
    this.finished = true;
    this.host.streamFinished(this);
  }
}
