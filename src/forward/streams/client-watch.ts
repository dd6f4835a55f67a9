// While an upgrade request waits for a decision (a `hold:` for approval),
// nobody reads the client's socket, so a client that hangs up would go
// unnoticed. Reading it shows the hang-up; whatever bytes the client sends
// meanwhile (it should send none before the 101) are kept for the upgrade.
import type { Duplex } from 'node:stream';

export interface ClientWatch {
  /** Aborted when the client hangs up or the socket breaks. */
  signal: AbortSignal;
  /** Stops watching; returns `head` with anything the client sent meanwhile appended. */
  stop(): Buffer;
}

/** What a waiting client may send before the upgrade is answered. */
const MAX_EARLY_BYTES = 64 * 1024;

export function watchWaitingClient(socket: Duplex, head: Buffer): ClientWatch {
  const gone = new AbortController();
  const early: Buffer[] = [];
  let earlyBytes = 0;
  const onData = (c: Buffer): void => {
    // A client has nothing to send before the 101; one that keeps sending while held is cut off.
    earlyBytes += c.length;
    if (earlyBytes > MAX_EARLY_BYTES) socket.destroy();
    else early.push(c);
  };
  const onGone = (): void => gone.abort();
  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('close', onGone);
  if (socket.destroyed) gone.abort();
  return {
    signal: gone.signal,
    stop() {
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      // Back to paused: the upgrade's own reader takes over from here.
      socket.pause();
      return early.length > 0 ? Buffer.concat([head, ...early]) : head;
    },
  };
}
