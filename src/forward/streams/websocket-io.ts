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

/**
 * The sockets under WebSockets kubetape accepted as a server (see
 * websocket-accept.ts), for channelWriter's direct path. Client-side
 * WebSockets are not here: their frames must be masked, which `ws` does.
 */
const serverSockets = new WeakMap<WebSocket, Duplex>();

export function registerServerSocket(ws: WebSocket, socket: Duplex): void {
  serverSockets.set(ws, socket);
}

/**
 * One complete unmasked (server-to-client) binary WebSocket message holding
 * `channel` then `data`, built with a single copy of the data. `ws.send`
 * would cost two: the channel prefix (encodeChannelFrame) and, because it
 * writes its frame header and the payload as two buffers, the merge into
 * one buffer that a TLS socket makes of every multi-buffer write (RFC 6455
 * section 5.2 for the header layout).
 */
export function serverBinaryFrame(channel: number, data: Buffer): Buffer {
  const length = data.length + 1;
  const headerSize = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerSize + length);
  out[0] = 0x82; // FIN, opcode 2 (binary)
  if (length < 126) out[1] = length;
  else if (length < 65536) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
  out[headerSize] = channel;
  data.copy(out, headerSize + 1);
  return out;
}

/**
 * Sends `frame` (a whole WebSocket frame) straight to the socket under a
 * server-side `ws`: safe because `ws` without permessage-deflate writes its
 * own frames (pings, close) to the same socket synchronously, never from a
 * queue, so frames keep their order. `done` as in sendMessage.
 */
function sendRawFrame(ws: WebSocket, socket: Duplex, frame: Buffer, done: () => void): void {
  if (ws.readyState !== WebSocket.OPEN || socket.destroyed || socket.writableEnded) {
    done();
    return;
  }
  let called = false;
  const once = (): void => {
    if (called) return;
    called = true;
    done();
  };
  socket.write(frame, () => once());
  if (socket.writableLength < HIGH_WATER) once();
}

/** A Writable whose chunks become messages on `channel`. `onFinal` runs at end() (v5 sends its close signal there). */
export function channelWriter(ws: WebSocket, channel: number, binary: boolean, onFinal?: () => void): Writable {
  // Output to kubectl (the bulk of any exec) takes the one-copy path; see serverBinaryFrame.
  const socket = binary ? serverSockets.get(ws) : undefined;
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      for (let at = 0; at < chunk.length; at += MAX_MESSAGE_DATA) {
        const last = at + MAX_MESSAGE_DATA >= chunk.length;
        const piece = chunk.subarray(at, at + MAX_MESSAGE_DATA);
        const done = last ? () => callback() : undefined;
        if (socket) sendRawFrame(ws, socket, serverBinaryFrame(channel, piece), done ?? noop);
        else sendMessage(ws, encodeChannelFrame(channel, piece, binary), done);
      }
    },
    final(callback) {
      onFinal?.();
      callback();
    },
  });
}

const noop = (): void => undefined;

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
  forceCloseWhenFlushed(
    ws,
    () => ws.bufferedAmount,
    () => ws.terminate(),
    graceMs,
  );
}
