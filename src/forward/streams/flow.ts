// Backpressure between two transports. Go's spdystream ignores SPDY flow
// control, so a slow reader on one side can only slow the other side by not
// reading its socket: a Valve pauses a whole transport (TCP socket or
// WebSocket) while any destination it feeds is over its high-water mark.
// Sources are never paused at the Node stream level, so a stream reset
// right after its last data cannot strand that data in a readable buffer.
import type { Writable } from 'node:stream';

export class Valve {
  private readonly holds = new Set<unknown>();

  /** Starts closed (held by `initial`) when given, so nothing flows until open(). */
  constructor(
    private readonly pause: () => void,
    private readonly resume: () => void,
    initiallyClosed = false,
  ) {
    if (initiallyClosed) this.hold(INITIAL);
  }

  /** Releases the initial hold. */
  open(): void {
    this.release(INITIAL);
  }

  hold(key: unknown): void {
    if (this.holds.has(key)) return;
    this.holds.add(key);
    if (this.holds.size === 1) this.pause();
  }

  release(key: unknown): void {
    if (!this.holds.delete(key)) return;
    if (this.holds.size === 0) this.resume();
  }
}

const INITIAL = Symbol('initial');

/**
 * Writes `chunk` to `dest`; when dest reports backpressure, the valve of
 * the transport the chunk came from closes until dest drains (or goes away).
 * Returns false when dest can no longer take data.
 */
export function forward(dest: Writable | undefined, chunk: Buffer, valve: Valve): boolean {
  if (!dest || dest.destroyed || dest.writableEnded) return false;
  if (!dest.write(chunk) && !waiting.has(dest)) {
    waiting.add(dest);
    valve.hold(dest);
    const release = (): void => {
      dest.off('drain', release);
      dest.off('close', release);
      waiting.delete(dest);
      valve.release(dest);
    };
    dest.on('drain', release);
    dest.on('close', release);
  }
  return true;
}

/** Destinations already waiting for 'drain' (one set of listeners each). */
const waiting = new WeakSet<Writable>();

/** Resolves once `w` has flushed everything (finish) or is gone (close). */
export function whenFlushed(w: Writable | undefined): Promise<void> {
  if (!w || w.writableFinished || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('finish', done);
      w.off('close', done);
      w.off('error', done);
      resolve();
    };
    w.on('finish', done);
    w.on('close', done);
    w.on('error', done);
  });
}

/** Ends `w` (if still open) and resolves when it has flushed. */
export function endAndFlush(w: Writable | undefined): Promise<void> {
  if (w && !w.writableEnded && !w.destroyed) w.end();
  return whenFlushed(w);
}
