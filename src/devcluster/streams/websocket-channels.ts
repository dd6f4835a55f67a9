// The channel.k8s.io family over one WebSocket, as apimachinery's wsstream
// frames it: each message starts with its channel (a byte, or an ASCII digit
// followed by base64 for the base64 protocols). v5 adds channel 255: the
// message [255, n] closes channel n from the client's side (stdin EOF).
// Readers are Node Readables fed by messages; writers are Writables that cut
// data into messages and pass the socket's backpressure on.
import { Readable, Writable } from 'node:stream';
import WebSocket from 'ws';

export interface ChannelSocketOptions {
  base64: boolean;
  /** v5.channel.k8s.io: honour the 255 close signal. */
  closeSignal: boolean;
}

const CLOSE_CHANNEL = 255;
/** Go's io.Copy buffer: what the kubelet and translator put in one message. */
const MAX_MESSAGE_DATA = 32 * 1024;
const HIGH_WATER = 1024 * 1024;
const CLOSE_WAIT_MS = 5000;

export class ChannelSocket {
  /** Resolves once the WebSocket is closed, whoever closed it. */
  readonly closed: Promise<void>;
  private readonly readers = new Map<number, Readable>();
  private pausedBy = new Set<number>();

  constructor(
    readonly ws: WebSocket,
    private readonly opts: ChannelSocketOptions,
  ) {
    this.closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => this.onMessage(data));
    // Destroyed, not ended: 'end' on a reader means the client closed that channel itself.
    ws.once('close', () => {
      for (const r of this.readers.values()) r.destroy();
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Data the client sends on `channel`; ends on the v5 close signal, is destroyed when the socket closes. */
  reader(channel: number): Readable {
    const existing = this.readers.get(channel);
    if (existing) return existing;
    const r = new Readable({
      read: () => {
        if (this.pausedBy.delete(channel) && this.pausedBy.size === 0) this.ws.resume();
      },
    });
    this.readers.set(channel, r);
    return r;
  }

  /** A Writable whose data goes out on `channel`; end() sends nothing (the protocol has no per-channel end). */
  writer(channel: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, callback) => this.sendData(channel, chunk, callback),
    });
  }

  /** Sends one message (even an empty one: the kubelet's "connection established" signal). */
  send(channel: number, data: Buffer = Buffer.alloc(0), done?: () => void): void {
    if (!this.isOpen) {
      done?.();
      return;
    }
    const message = this.opts.base64 ? String.fromCharCode(48 + channel) + data.toString('base64') : Buffer.concat([Buffer.from([channel]), data]);
    this.ws.send(message, { binary: !this.opts.base64 }, () => done?.());
  }

  /** Close handshake with 1000, then wait (bounded) for the client's close. */
  async close(code = 1000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    const timer = setTimeout(() => this.ws.terminate(), CLOSE_WAIT_MS);
    await this.closed;
    clearTimeout(timer);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private sendData(channel: number, chunk: Buffer, callback: () => void): void {
    if (!this.isOpen || chunk.length === 0) {
      callback();
      return;
    }
    for (let at = 0; at < chunk.length; at += MAX_MESSAGE_DATA) {
      const piece = chunk.subarray(at, at + MAX_MESSAGE_DATA);
      if (at + MAX_MESSAGE_DATA < chunk.length) {
        this.send(channel, piece);
        continue;
      }
      let called = false;
      const once = (): void => {
        if (called) return;
        called = true;
        callback();
      };
      this.send(channel, piece, once);
      // Below the high-water mark the writer may go on at once; above it, it
      // waits until this message has been handed to the socket.
      if (this.ws.bufferedAmount < HIGH_WATER) once();
    }
  }

  // Text and binary messages are treated alike, as Go's wsstream reads both.
  private onMessage(data: Buffer): void {
    if (data.length === 0) return;
    let channel = data[0];
    let payload = data.subarray(1);
    if (this.opts.base64) {
      channel -= 48;
      payload = Buffer.from(payload.toString('latin1'), 'base64');
    }
    if (this.opts.closeSignal && data[0] === CLOSE_CHANNEL) {
      const target = this.readers.get(payload[0] ?? -1);
      if (target && !target.readableEnded) target.push(null);
      return;
    }
    const r = this.readers.get(channel);
    if (!r || r.readableEnded) return; // an ignored or closed channel: dropped, like wsstream
    if (payload.length > 0 && !r.push(payload)) {
      this.pausedBy.add(channel);
      this.ws.pause();
    }
  }
}
