// Puts frames on the socket strictly in the order they were queued, even when
// some are still being produced (header blocks compress asynchronously), and
// reports socket backpressure to whoever queued the bytes.
import type { Duplex } from 'node:stream';

export type WriteDone = (err?: Error | null) => void;

interface Slot {
  bytes: Buffer | undefined;
  done: WriteDone | undefined;
}

export class OrderedFrameWriter {
  private readonly slots: Slot[] = [];
  private drainWaiters: WriteDone[] = [];
  private needDrain = false;
  private failure: Error | undefined;
  private endRequested = false;

  constructor(
    private readonly socket: Duplex,
    /** Called when queued bytes could not be produced (a compression failure). */
    private readonly onProduceError: (err: Error) => void,
  ) {
    socket.on('drain', () => {
      this.needDrain = false;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const done of waiters) done();
    });
  }

  /**
   * Queues bytes behind everything queued before. `done` runs once they are
   * handed to the socket and the socket is below its high-water mark, so a
   * writable that waits for it inherits the socket's backpressure.
   */
  write(bytes: Buffer | Promise<Buffer>, done?: WriteDone): void {
    if (this.failure || this.endRequested) {
      done?.(this.failure ?? new Error('SPDY connection is closing'));
      return;
    }
    const slot: Slot = { bytes: Buffer.isBuffer(bytes) ? bytes : undefined, done };
    this.slots.push(slot);
    if (slot.bytes) {
      this.pump();
      return;
    }
    (bytes as Promise<Buffer>).then(
      (b) => {
        slot.bytes = b;
        this.pump();
      },
      (err: Error) => this.onProduceError(err),
    );
  }

  /** Ends the socket's writable side once everything queued so far is written. */
  endSocket(): void {
    this.endRequested = true;
    this.pump();
  }

  /** Drops everything queued; later writes fail with `err`. */
  close(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const pending = [...this.slots.map((s) => s.done), ...this.drainWaiters];
    this.slots.length = 0;
    this.drainWaiters = [];
    for (const done of pending) done?.(err);
  }

  private pump(): void {
    while (this.slots.length > 0 && this.slots[0].bytes && !this.failure) {
      const slot = this.slots.shift()!;
      if (this.socket.destroyed || this.socket.writableEnded) {
        slot.done?.(new Error('SPDY connection is closed'));
        continue;
      }
      if (!this.socket.write(slot.bytes!)) this.needDrain = true;
      if (!slot.done) continue;
      if (this.needDrain) this.drainWaiters.push(slot.done);
      else slot.done();
    }
    if (this.endRequested && this.slots.length === 0 && !this.socket.writableEnded && !this.socket.destroyed) this.socket.end();
  }
}
