// Paces the recording of one exec, attach or port-forward so that what a
// caller sends cannot grow the recording faster than a stated multiple of it.
//
// Every decoded frame (stdin, stdout, a port-forward connection's bytes,
// empty ones too) is recorded before it is forwarded. Each recorded event
// costs its stored size, envelope included (about 200 bytes), so 100,000
// one-byte frames recorded one by one made a 20 MB recording out of 800 KB.
// A token bucket decides: every frame earns PACING.perWireByte tokens per
// byte it carries plus one (its channel byte), time earns
// PACING.bytesPerSecond, and the bucket starts full at PACING.burstBytes
// (the cap while nothing is held). An event is written when the bucket holds
// its cost. When it does not, the frame is held, with its forwarding, and
// frames of the same channel that follow are merged into it (one event,
// `frames` saying how many), until the bucket can pay. So, for the frames of
// one stream:
//
//   stored bytes <= 2 x frame bytes + 256 KiB + 8 KiB per second of the stream
//
// (frame bytes: payload + 1 per frame, below what the wire carried). Typing
// and normal output never wait: a shell at 10 keystrokes a second with their
// echo uses about 4 KiB/s. A flood of tiny frames waits a few milliseconds
// and is recorded in merged events instead. The few structural events (the
// exec's status, stdin close; a port-forward connection's close, paid for
// when it opened) are written at once.
import type { StreamChannel } from '../model/recording.js';

export const PACING = {
  /** Tokens per frame byte (payload + 1): the K of the bound. */
  perWireByte: 2,
  /** Tokens at the start, and the most the bucket holds while nothing waits. */
  burstBytes: 256 * 1024,
  /** Tokens earned per second. */
  bytesPerSecond: 8 * 1024,
} as const;

/** Upper bound of an event's stored size without its data (the envelope of the largest stream event, chain field included). */
export const ENVELOPE_BOUND = 512;

export interface Where {
  connection?: number;
  port?: number;
}

/** Frames of one channel (and connection) recorded as one event. */
export interface Batch {
  channel: StreamChannel;
  where: Where;
  parts: Buffer[];
  bytes: number;
  frames: number;
  /** Forwards each frame, in order, once the batch is recorded. */
  delivers: Array<() => void>;
  /** Tokens paid beyond the event itself (a port-forward connection pays for its close when it opens). */
  reserve: number;
  key: string;
}

export interface PacerSink {
  /** Records the batch and delivers its frames; returns the stored bytes (0 when nothing was written). */
  write(b: Batch): number;
}

export class StreamPacer {
  private tokens: number = PACING.burstBytes;
  private last: number;
  private readonly queue: Batch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly sink: PacerSink,
    private readonly now: () => number = Date.now,
  ) {
    this.last = now();
  }

  /**
   * One frame. `merge: 'last'` (resize) keeps only the newest held frame of
   * its channel: a terminal size replaced before it was sent never reaches
   * the container, and is not recorded either.
   */
  offer(channel: StreamChannel, data: Buffer, deliver: () => void, where: Where = {}, o: { merge?: 'concat' | 'last'; reserve?: number } = {}): void {
    if (this.stopped) return;
    this.refill();
    this.tokens += PACING.perWireByte * (data.length + 1);
    const key = where.connection === undefined ? channel : `${channel}\0${where.connection}`;
    const reserve = o.reserve ?? 0;
    if (this.queue.length === 0) {
      const b: Batch = { channel, where, parts: [data], bytes: data.length, frames: 1, delivers: [deliver], reserve, key };
      if (this.tokens >= bound(b)) {
        this.pay(b);
        return;
      }
      this.queue.push(b);
      this.schedule();
      return;
    }
    const b = this.queue.find((x) => x.key === key);
    if (!b) this.queue.push({ channel, where, parts: [data], bytes: data.length, frames: 1, delivers: [deliver], reserve, key });
    else if (o.merge === 'last') {
      b.parts = [data];
      b.bytes = data.length;
      b.delivers = [deliver];
      b.frames++;
    } else {
      b.parts.push(data);
      b.bytes += data.length;
      b.frames++;
      b.delivers.push(deliver);
    }
    this.flush(false);
  }

  /** Writes (and delivers) what is held at once, whatever the bucket holds: before a structural event or the end. */
  drain(filter?: (b: Batch) => boolean): void {
    this.flush(true, filter);
  }

  /** A structural event written at once: its cost comes out of the bucket (it may go below zero). */
  charge(bytes: number): void {
    this.tokens -= bytes;
  }

  /** The stream stopped: everything held is dropped, never recorded nor forwarded. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(force: boolean, filter?: (b: Batch) => boolean): void {
    this.refill();
    for (let i = 0; i < this.queue.length && !this.stopped;) {
      const b = this.queue[i];
      if (filter && !filter(b)) {
        i++;
        continue;
      }
      if (!force && this.tokens < bound(b)) {
        this.schedule();
        return;
      }
      this.queue.splice(i, 1);
      this.pay(b);
    }
    if (this.queue.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private pay(b: Batch): void {
    const cost = this.sink.write(b) + b.reserve;
    this.tokens -= cost;
    if (this.queue.length === 0) this.tokens = Math.min(this.tokens, PACING.burstBytes);
  }

  private refill(): void {
    const t = this.now();
    this.tokens += ((t - this.last) * PACING.bytesPerSecond) / 1000;
    this.last = t;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    const first = this.queue[0];
    if (!first) return;
    const wait = Math.max(1, Math.ceil(((bound(first) - this.tokens) * 1000) / PACING.bytesPerSecond));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush(false);
    }, wait);
  }
}

/**
 * What a batch may cost at most: the envelope, its data at twice its bytes
 * (text as JSON writes it; base64 is 4/3), the reserve. A frame brings two
 * tokens per byte, so a large frame always pays for its own data: only the
 * envelope ever waits for tokens.
 */
function bound(b: Batch): number {
  return ENVELOPE_BOUND + 2 * b.bytes + b.reserve;
}
