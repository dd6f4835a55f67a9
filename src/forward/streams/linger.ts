// Closing a client connection without cutting off its last output. A
// graceful close (GOAWAY, a WebSocket close frame) waits for the client; a
// client that never answers is cut off, but only once nothing of ours is
// still queued in the process: bytes already in the kernel's send buffer are
// delivered by the socket close, bytes still queued in Node would be lost.
import type { EventEmitter } from 'node:events';

export function forceCloseWhenFlushed(emitter: EventEmitter, pending: () => number, force: () => void, graceMs = 5000): void {
  let timer: NodeJS.Timeout;
  const check = (): void => {
    if (pending() > 0) {
      timer = setTimeout(check, graceMs);
      timer.unref();
      return;
    }
    force();
  };
  timer = setTimeout(check, graceMs);
  timer.unref();
  emitter.once('close', () => clearTimeout(timer));
}
