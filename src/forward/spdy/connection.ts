// A SPDY/3.1 session over any duplex byte stream, as server (to kubectl) or
// client (to an upstream API server). Deliberately liberal towards Go's
// spdystream, the peer that matters: we never wait for the peer's flow-control
// window (spdystream never sends WINDOW_UPDATE), but we send WINDOW_UPDATEs
// ourselves so peers that do honour windows never stall.
//
// Incoming frames are handled strictly in wire order: a frame with a header
// block waits for its (asynchronous) decompression, and everything behind it
// waits too, so a DATA frame can never overtake the SYN_STREAM it belongs to.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { GoAwayStatus, RstStatus, SpdyProtocolError, encodeFrame, type GoAwayFrame, type HeaderBearingFrame, type SpdyFrame } from './frames.js';
import { OrderedFrameWriter, type WriteDone } from './frame-writer.js';
import { HeaderCompressor, HeaderDecompressor, normalizeHeaders, type SpdyHeaders, type SpdyHeadersInit } from './header-codec.js';
import { FrameParser, type ParserLimits } from './parser.js';
import { SpdyStream, type StreamHost } from './stream.js';

export { SpdyStream } from './stream.js';

export type SpdyRole = 'client' | 'server';

export interface SpdyConnectionOptions {
  role: SpdyRole;
  /** Send a PING this often (keeps idle tunnels alive through NATs and LBs). Off by default. */
  pingIntervalMs?: number;
  /** Outgoing DATA frames are cut to at most this many bytes (default 32 KiB). */
  maxDataFrameSize?: number;
  /** Limits on incoming frames. */
  limits?: ParserLimits & { maxHeaderBlockBytes?: number };
}

export interface OpenStreamOptions {
  /** Send SYN_STREAM with FIN: we will send no data on this stream. */
  fin?: boolean;
  /** 0 (highest) .. 7; default 0 as kubectl uses. */
  priority?: number;
  /**
   * Called with the stream as soon as it exists, before the peer replies.
   * A listener attached here sees data that arrives right behind the reply,
   * even when the peer resets the stream just after (the kubelet does).
   */
  onCreated?: (stream: SpdyStream) => void;
}

/** A stream we opened was refused or reset before the peer replied. */
export class SpdyStreamResetError extends Error {
  constructor(
    readonly streamId: number,
    readonly status: number,
  ) {
    super(`SPDY stream ${streamId} was reset by the peer (status ${status})`);
    this.name = 'SpdyStreamResetError';
  }
}

export interface GoAwayInfo {
  lastGoodStreamId: number;
  status: number;
}

interface PendingOpen {
  resolve: (s: SpdyStream) => void;
  reject: (e: Error) => void;
}

type Inbound = SpdyFrame | SpdyProtocolError;

const SESSION_WINDOW_UPDATE_THRESHOLD = 32 * 1024;
const PROTOCOL_ERROR_LINGER_MS = 1000;

/** The events a connection emits, typed for node's EventEmitter. */
interface SpdyConnectionEvents {
  stream: [stream: SpdyStream];
  goaway: [info: GoAwayInfo];
  close: [err?: Error];
  error: [err: Error];
}

export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  readonly role: SpdyRole;
  readonly maxDataFrameSize: number;

  private readonly socket: Duplex;
  private readonly parser: FrameParser;
  private readonly writer: OrderedFrameWriter;
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor: HeaderDecompressor;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly pendingOpens = new Map<number, PendingOpen>();
  private readonly pendingPings = new Map<number, { started: number; resolve: (ms: number) => void; reject: (e: Error) => void }>();
  private readonly inbox: Inbound[] = [];
  private decoding = false;
  private peerEnded = false;
  private socketClosed = false;
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private sessionUnacknowledged = 0;
  private sentGoAway = false;
  private receivedGoAway = false;
  private closeWhenIdle = false;
  private dead = false;
  private closed = false;
  private closeError: Error | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly host: StreamHost;

  constructor(socket: Duplex, opts: SpdyConnectionOptions) {
    super();
    this.socket = socket;
    this.role = opts.role;
    this.maxDataFrameSize = Math.max(1, Math.min(opts.maxDataFrameSize ?? 32 * 1024, 0xffffff));
    this.nextStreamId = opts.role === 'client' ? 1 : 2;
    this.nextPingId = opts.role === 'client' ? 1 : 2;
    this.parser = new FrameParser(opts.limits);
    this.decompressor = new HeaderDecompressor(opts.limits?.maxHeaderBlockBytes);
    this.writer = new OrderedFrameWriter(socket, (err) => this.destroy(err));
    this.host = this.makeStreamHost();

    (socket as Partial<Pick<Socket, 'setNoDelay'>>).setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => {
      // Frames still waiting for header decompression came before the end:
      // handle them first, or a reply queued behind one would be lost.
      this.peerEnded = true;
      this.drainInbox();
    });
    socket.on('error', (err: Error) => {
      this.closeError ??= err;
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    socket.on('close', () => {
      // As with 'end': what arrived before the close is handled first.
      this.socketClosed = true;
      this.drainInbox();
    });
    // A socket handed over from an HTTP upgrade may be left paused.
    socket.resume();
    if (socket.destroyed) queueMicrotask(() => this.finalize());

    if (opts.pingIntervalMs && opts.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => {
        this.ping().catch(() => undefined);
      }, opts.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  /** False once the connection is shutting down or gone. */
  get isOpen(): boolean {
    return !this.dead && !this.closed;
  }

  /** Streams not yet finished (both halves done or reset). */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Opens a stream (SYN_STREAM) and resolves once the peer replies (SYN_REPLY). */
  openStream(headers: SpdyHeadersInit, opts: OpenStreamOptions = {}): Promise<SpdyStream> {
    if (!this.isOpen) return Promise.reject(new Error('SPDY connection is closed'));
    if (this.receivedGoAway || this.sentGoAway) return Promise.reject(new Error('SPDY connection is going away; no new streams'));
    if (this.nextStreamId > 0x7fffffff) return Promise.reject(new Error('SPDY stream ids exhausted'));
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new SpdyStream(this.host, id, normalizeHeaders(headers), true);
    this.streams.set(id, stream);
    const fin = opts.fin === true;
    if (fin) stream.closeLocalHalfSilently();
    opts.onCreated?.(stream);
    const opened = new Promise<SpdyStream>((resolve, reject) => this.pendingOpens.set(id, { resolve, reject }));
    this.writer.write(
      this.compressor.compress(headers).then((headerBlock) =>
        encodeFrame({
          type: 'syn_stream',
          streamId: id,
          associatedStreamId: 0,
          priority: opts.priority ?? 0,
          slot: 0,
          fin,
          unidirectional: false,
          headerBlock,
        }),
      ),
    );
    return opened;
  }

  /** Sends a PING and resolves with the round trip in milliseconds. */
  ping(): Promise<number> {
    if (!this.isOpen) return Promise.reject(new Error('SPDY connection is closed'));
    const id = this.nextPingId;
    this.nextPingId += 2;
    if (this.nextPingId > 0x7fffffff) this.nextPingId = this.role === 'client' ? 1 : 2;
    return new Promise<number>((resolve, reject) => {
      this.pendingPings.set(id, { started: performance.now(), resolve, reject });
      this.writer.write(encodeFrame({ type: 'ping', id }));
    });
  }

  /** Sends GOAWAY: the peer may open no more streams; existing ones continue. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.sentGoAway || !this.isOpen) return;
    this.sentGoAway = true;
    this.writer.write(encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status }));
  }

  /** Graceful close: GOAWAY, then end the socket once every stream has finished. */
  close(): void {
    this.goAway(GoAwayStatus.OK);
    this.closeWhenIdle = true;
    this.maybeFinishIdle();
  }

  /** Immediate close: every stream ends at once, the socket is destroyed. */
  destroy(err?: Error): void {
    if (this.closed) return;
    if (err) this.closeError ??= err;
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.dead = true;
    this.abortAll();
    this.socket.destroy();
    // Do not rely on the duplex emitting 'close' (custom ones may not).
    this.finalize();
  }

  // ---- inbound ----

  private onBytes(chunk: Buffer): void {
    if (this.dead) return;
    const { frames, error } = this.parser.push(chunk);
    for (const f of frames) {
      this.inbox.push(f);
      if (f.type === 'data') this.creditSession(f.data.length);
    }
    if (error) this.inbox.push(error);
    this.drainInbox();
  }

  private drainInbox(): void {
    this.drainFrames();
    const drained = !this.decoding && this.inbox.length === 0;
    if (this.peerEnded && drained && !this.dead) this.onSocketEnd();
    if (this.socketClosed && (drained || this.dead)) this.finalize();
  }

  private drainFrames(): void {
    while (!this.decoding && !this.dead && this.inbox.length > 0) {
      const item = this.inbox.shift()!;
      if (item instanceof SpdyProtocolError) {
        this.protocolError(item);
        return;
      }
      if (item.type === 'syn_stream' || item.type === 'syn_reply' || item.type === 'headers') {
        // The header block must be inflated even if the frame is then refused:
        // the shared zlib context would desynchronise otherwise.
        this.decoding = true;
        this.decompressor.decompress(item.headerBlock).then(
          (headers) => {
            this.decoding = false;
            if (!this.dead) this.handle(() => this.onHeaderFrame(item, headers));
            this.drainInbox();
          },
          (err: unknown) => {
            this.decoding = false;
            this.protocolError(err instanceof SpdyProtocolError ? err : new SpdyProtocolError(String(err)));
            this.drainInbox();
          },
        );
        return;
      }
      this.handle(() => this.onFrame(item));
    }
  }

  // A listener that throws must not leave the session half-handled: close it
  // and report, instead of unwinding through a socket 'data' handler.
  private handle(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private onHeaderFrame(frame: HeaderBearingFrame, headers: SpdyHeaders): void {
    if (frame.type === 'syn_stream') {
      this.onSynStream(frame.streamId, headers, frame.fin, frame.unidirectional);
      return;
    }
    const stream = this.streams.get(frame.streamId);
    if (!stream) return; // already finished or never existed: nothing to deliver
    if (frame.type === 'syn_reply') {
      const pending = this.pendingOpens.get(frame.streamId);
      if (!pending) return; // a duplicate reply; Go's spdystream ignores it too
      this.pendingOpens.delete(frame.streamId);
      stream.onPeerReply(headers, frame.fin);
      pending.resolve(stream);
    } else {
      stream.onPeerHeaders(headers, frame.fin);
    }
  }

  private onSynStream(id: number, headers: SpdyHeaders, fin: boolean, unidirectional: boolean): void {
    const peerParity = this.role === 'server' ? 1 : 0;
    if (id % 2 !== peerParity || id <= this.lastPeerStreamId) {
      this.sendReset(id, this.streams.has(id) ? RstStatus.STREAM_IN_USE : RstStatus.PROTOCOL_ERROR);
      return;
    }
    this.lastPeerStreamId = id;
    if (this.sentGoAway || this.listenerCount('stream') === 0) {
      this.sendReset(id, RstStatus.REFUSED_STREAM);
      return;
    }
    const stream = new SpdyStream(this.host, id, headers, false);
    this.streams.set(id, stream);
    if (unidirectional) stream.closeLocalHalfSilently();
    if (fin) stream.onPeerFin();
    this.emit('stream', stream);
  }

  private onFrame(frame: SpdyFrame): void {
    switch (frame.type) {
      case 'data':
        this.streams.get(frame.streamId)?.onPeerData(frame.data, frame.fin);
        return;
      case 'rst_stream': {
        const pending = this.pendingOpens.get(frame.streamId);
        if (pending) {
          this.pendingOpens.delete(frame.streamId);
          pending.reject(new SpdyStreamResetError(frame.streamId, frame.status));
        }
        this.streams.get(frame.streamId)?.onPeerReset(frame.status);
        return;
      }
      case 'ping':
        this.onPing(frame.id);
        return;
      case 'goaway':
        this.onGoAway(frame);
        return;
      case 'settings':
      case 'window_update':
        // We never block on the peer's window, so neither its initial size
        // nor its updates change what we do.
        return;
      default:
        return;
    }
  }

  private onPing(id: number): void {
    const ours = id % 2 === (this.role === 'client' ? 1 : 0);
    if (!ours) {
      this.writer.write(encodeFrame({ type: 'ping', id }));
      return;
    }
    const pending = this.pendingPings.get(id);
    if (!pending) return;
    this.pendingPings.delete(id);
    pending.resolve(performance.now() - pending.started);
  }

  private onGoAway(frame: GoAwayFrame): void {
    if (this.receivedGoAway) return;
    this.receivedGoAway = true;
    // Streams we opened above the peer's last good id were never processed.
    for (const [id, pending] of [...this.pendingOpens]) {
      if (id > frame.lastGoodStreamId) {
        this.pendingOpens.delete(id);
        pending.reject(new SpdyStreamResetError(id, RstStatus.REFUSED_STREAM));
        this.streams.get(id)?.abort();
      }
    }
    this.emit('goaway', { lastGoodStreamId: frame.lastGoodStreamId, status: frame.status });
    this.closeWhenIdle = true;
    this.maybeFinishIdle();
  }

  private onSocketEnd(): void {
    // The peer will send nothing more: streams still waiting for its data or
    // reply can never complete.
    this.dead = true;
    this.abortAll();
    this.writer.endSocket();
  }

  private protocolError(err: SpdyProtocolError): void {
    if (this.dead) return;
    this.closeError ??= err;
    this.writer.write(encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.PROTOCOL_ERROR }));
    this.sentGoAway = true;
    this.dead = true;
    this.abortAll();
    if (this.listenerCount('error') > 0) this.emit('error', err);
    // Let the GOAWAY reach the peer, but do not wait on it forever.
    this.writer.endSocket();
    setTimeout(() => this.socket.destroy(), PROTOCOL_ERROR_LINGER_MS).unref();
  }

  // ---- outbound, for streams ----

  private makeStreamHost(): StreamHost {
    // The host's getter and methods run with the host as `this`; they act on the connection.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const conn = this;
    return {
      get maxDataFrameSize() {
        return conn.maxDataFrameSize;
      },
      sendReply(stream: SpdyStream, headers: SpdyHeadersInit, fin: boolean): void {
        if (!conn.isOpen) return;
        conn.writer.write(conn.compressor.compress(headers).then((headerBlock) => encodeFrame({ type: 'syn_reply', streamId: stream.id, fin, headerBlock })));
      },
      sendData(stream: SpdyStream, data: Buffer, fin: boolean, done?: WriteDone): void {
        if (!conn.isOpen) {
          done?.(new Error('SPDY connection is closed'));
          return;
        }
        conn.writer.write(encodeFrame({ type: 'data', streamId: stream.id, fin, data }), done);
      },
      sendReset: (streamId: number, status: number) => conn.sendReset(streamId, status),
      sendWindowUpdate(streamId: number, delta: number): void {
        if (conn.isOpen) conn.writer.write(encodeFrame({ type: 'window_update', streamId, delta }));
      },
      streamFinished(stream: SpdyStream): void {
        if (conn.streams.get(stream.id) === stream) conn.streams.delete(stream.id);
        const pending = conn.pendingOpens.get(stream.id);
        if (pending) {
          conn.pendingOpens.delete(stream.id);
          pending.reject(new SpdyStreamResetError(stream.id, stream.resetStatus ?? RstStatus.CANCEL));
        }
        conn.maybeFinishIdle();
      },
    };
  }

  private sendReset(streamId: number, status: number): void {
    if (this.isOpen) this.writer.write(encodeFrame({ type: 'rst_stream', streamId, status }));
  }

  // Session-level flow control is SPDY/3.1's addition; Go's framer parses and
  // ignores it, a 3.1 peer needs it to keep sending past 64 KiB in total.
  private creditSession(bytes: number): void {
    this.sessionUnacknowledged += bytes;
    if (this.sessionUnacknowledged < SESSION_WINDOW_UPDATE_THRESHOLD || !this.isOpen) return;
    const delta = this.sessionUnacknowledged;
    this.sessionUnacknowledged = 0;
    this.writer.write(encodeFrame({ type: 'window_update', streamId: 0, delta }));
  }

  // ---- shutdown ----

  private maybeFinishIdle(): void {
    if (!this.closeWhenIdle || this.streams.size > 0 || this.closed) return;
    this.dead = true;
    this.writer.endSocket();
  }

  private abortAll(): void {
    const err = this.closeError ?? new Error('SPDY connection closed');
    for (const [, pending] of this.pendingOpens) pending.reject(err);
    this.pendingOpens.clear();
    for (const [, ping] of this.pendingPings) ping.reject(err);
    this.pendingPings.clear();
    for (const stream of [...this.streams.values()]) stream.abort();
    this.streams.clear();
  }

  private finalize(): void {
    if (this.closed) return;
    this.closed = true;
    this.dead = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.abortAll();
    this.writer.close(this.closeError ?? new Error('SPDY connection closed'));
    this.compressor.close();
    this.decompressor.close();
    this.inbox.length = 0;
    this.emit('close', this.closeError);
  }
}
