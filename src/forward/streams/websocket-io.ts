// Node streams over a `ws` WebSocket: a Writable per channel (one message
// per write, cut to 32 KiB as kubectl cuts stdin) and a byte Duplex for the
// SPDY-in-WebSocket port-forward tunnel. Writes complete when the socket has
// room, which is what lets a Valve slow the other side down. Nothing here
// ever emits 'error': a peer that went away ends the session elsewhere.
import { Duplex, Writable } from 'node:stream';
import WebSocket from 'ws';
import { encodeChannelFrame } from './channel-frames.js';
import { forceCloseWhenFlushed } from './linger.js';

/** Buffered bytes beyond which a write waits for the socket to flush. */
const HIGH_WATER = 256 * 1024;
/** Largest message we send; kubectl sends stdin in 32 KiB pieces too. */
const MAX_MESSAGE_DATA = 32 * 1024;

/** Sends one message; `done` runs once the socket has room (or the peer is gone). */
export function sendMessage(ws: WebSocket, data: Buffer | string, done?: () => void): void {
  if (ws.readyState !== WebSocket.OPEN) {
    done?.();
    return;
  }
  let called = false;
  const once = (): void => {
    if (called) return;
    called = true;
    done?.();
  };
  ws.send(data, { binary: typeof data !== 'string' }, once);
  if (ws.bufferedAmount < HIGH_WATER) once();
}

/** A Writable whose chunks become messages on `channel`. `onFinal` runs at end() (v5 sends its close signal there). */
export function channelWriter(ws: WebSocket, channel: number, binary: boolean, onFinal?: () => void): Writable {
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      for (let at = 0; at < chunk.length; at += MAX_MESSAGE_DATA) {
        const last = at + MAX_MESSAGE_DATA >= chunk.length;
        sendMessage(ws, encodeChannelFrame(channel, chunk.subarray(at, at + MAX_MESSAGE_DATA), binary), last ? () => callback() : undefined);
      }
    },
    final(callback) {
      onFinal?.();
      callback();
    },
  });
}

/** Message payloads as one Buffer, whatever binaryType delivered. */
export function messageBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The binary messages of `ws` as one byte stream (both ways): what
 * `SPDY/3.1+portforward.k8s.io` carries. end() closes the WebSocket
 * normally; the peer's close ends the readable side.
 */
export function webSocketByteStream(ws: WebSocket): Duplex {
  const duplex = new Duplex({
    allowHalfOpen: false,
    read() {
      // Flow is controlled on the WebSocket itself (ws.pause/resume).
    },
    write(chunk: Buffer, _encoding, callback) {
      sendMessage(ws, chunk, () => callback());
    },
    final(callback) {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      callback();
    },
    destroy(err, callback) {
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      callback(err);
    },
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) duplex.push(messageBuffer(data));
  });
  ws.on('close', () => {
    duplex.push(null);
    setImmediate(() => duplex.destroy());
  });
  return duplex;
}

/** Pings every `intervalMs` while open, as kubectl does towards the API server. */
export function keepAlive(ws: WebSocket, intervalMs: number): void {
  const timer = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.ping();
  }, intervalMs);
  timer.unref();
  ws.once('close', () => clearInterval(timer));
}

/** Closes normally; for good if the peer does not answer, once nothing of ours is left to send. */
export function closeWebSocket(ws: WebSocket, code = 1000, reason = '', graceMs = 5000): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  if (ws.readyState === WebSocket.OPEN) ws.close(code, reason.slice(0, 120));
  forceCloseWhenFlushed(ws, () => ws.bufferedAmount, () => ws.terminate(), graceMs);
}
