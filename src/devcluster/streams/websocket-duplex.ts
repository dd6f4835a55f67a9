// A WebSocket as a byte stream, for SPDY tunnelled through WebSocket
// (SPDY/3.1+portforward.k8s.io): binary messages in, concatenated, are the
// SPDY bytes; every write goes out as one binary message. Unlike ws's own
// createWebSocketStream this emits 'close', which a SpdyConnection waits for.
import { Duplex } from 'node:stream';
import WebSocket from 'ws';

const HIGH_WATER = 1024 * 1024;

export function websocketDuplex(ws: WebSocket): Duplex {
  const duplex = new Duplex({
    read() {
      ws.resume();
    },
    write(chunk: Buffer, _enc, callback) {
      if (ws.readyState !== WebSocket.OPEN) {
        callback(new Error('WebSocket is closed'));
        return;
      }
      let called = false;
      const once = (): void => {
        if (called) return;
        called = true;
        callback();
      };
      ws.send(chunk, { binary: true }, once);
      if (ws.bufferedAmount < HIGH_WATER) once();
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
  ws.on('message', (data: Buffer) => {
    if (!duplex.push(data)) ws.pause();
  });
  ws.on('error', () => undefined);
  ws.once('close', () => {
    duplex.push(null);
    // Let a flowing reader take what is buffered, then report the close.
    const done = setTimeout(() => duplex.destroy(), 1000);
    done.unref();
    duplex.once('end', () => {
      clearTimeout(done);
      duplex.destroy();
    });
  });
  return duplex;
}
