// The tap off a port-forward's forwarding path. The bridge hands it each
// chunk after forwarding it; the tap queues it and decodes on a later turn
// of the event loop (setImmediate), so decoding never changes or delays
// what is forwarded. Memory is bounded: a connection whose queued bytes
// outgrow MAX_QUEUED_PER_CONNECTION (the decoder fell behind) is left raw,
// noted; decoding runs for at most MAX_DECODING connections at a time.
// When a connection or the port-forward ends, what is queued is decoded at
// once so the decoded events land before the exchange's end.
import type { MaskPattern } from '../../mask/patterns.js';
import { ConnectionDecoder } from './connection-decoder.js';
import { McpLinker } from './mcp.js';
import type { DecodedSink } from './types.js';

/** Queued bytes of one connection before its decoding gives up. */
export const MAX_QUEUED_PER_CONNECTION = 8 * 1024 * 1024;
/** Queued bytes of all connections of a port-forward: past it, the connection that adds more is left raw. */
export const MAX_QUEUED = 32 * 1024 * 1024;
/** Bytes decoded per turn of the event loop before yielding to forwarding. */
const SLICE_BYTES = 1024 * 1024;
/** Connections decoded at once; later ones are left raw until one ends. */
export const MAX_DECODING = 64;

export interface TapOptions {
  maxBodyBytes: number;
  patterns: MaskPattern[];
  sink: DecodedSink;
  now?: () => number;
  /** Whether connection `n`'s raw bytes are recorded exactly as forwarded so far (bodies may then be references to them). */
  refs?: (n: number) => boolean;
}

interface Conn {
  decoder: ConnectionDecoder;
  queued: number;
}

export class PortForwardTap {
  private readonly conns = new Map<number, Conn>();
  private readonly queue: Array<{ n: number; dir: 'in' | 'out'; chunk: Buffer }> = [];
  private readonly linker = new McpLinker();
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  private queued = 0;

  constructor(private readonly o: TapOptions) {}

  open(n: number, port: number | undefined): void {
    if (this.closed) return;
    if (this.conns.size >= MAX_DECODING) {
      this.o.sink({ type: 'decode.note', at: this.now(), connection: n, protocol: 'error', note: `more than ${MAX_DECODING} connections at once: left raw` });
      return;
    }
    const decoder = new ConnectionDecoder({
      connection: n,
      port,
      limit: this.o.maxBodyBytes,
      patterns: this.o.patterns,
      linker: this.linker,
      sink: (ev) => !this.closed && this.o.sink(ev),
      now: () => this.now(),
      refs: () => this.o.refs?.(n) ?? false,
    });
    this.conns.set(n, { decoder, queued: 0 });
  }

  /** A chunk forwarded on connection `n`: `in` client to pod, `out` pod to client. */
  push(n: number, dir: 'in' | 'out', chunk: Buffer): void {
    const c = this.conns.get(n);
    if (!c || !c.decoder.decoding || chunk.length === 0) return;
    if (c.queued + chunk.length > MAX_QUEUED_PER_CONNECTION || this.queued + chunk.length > MAX_QUEUED) {
      this.drop(n);
      return;
    }
    c.queued += chunk.length;
    this.queued += chunk.length;
    this.queue.push({ n, dir, chunk });
    this.scheduled ??= setImmediate(() => this.run(SLICE_BYTES));
  }

  /** Connection `n` is over: decode what it has queued, then its end. */
  end(n: number): void {
    const c = this.conns.get(n);
    if (!c) return;
    this.run(Infinity);
    this.conns.delete(n);
    c.decoder.end();
  }

  /** The port-forward is over: everything queued is decoded, every connection ended; nothing more is taken. */
  close(): void {
    if (this.closed) return;
    this.run(Infinity);
    for (const n of [...this.conns.keys()]) this.end(n);
    this.closed = true;
  }

  private run(budget: number): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    let done = 0;
    while (this.queue.length > 0 && done < budget) {
      const q = this.queue.shift()!;
      this.queued -= q.chunk.length;
      const c = this.conns.get(q.n);
      if (!c) continue;
      c.queued -= q.chunk.length;
      done += q.chunk.length;
      c.decoder.push(q.dir, q.chunk);
    }
    if (this.queue.length > 0 && !this.closed) this.scheduled = setImmediate(() => this.run(SLICE_BYTES));
  }

  private drop(n: number): void {
    this.conns.delete(n);
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].n !== n) continue;
      this.queued -= this.queue[i].chunk.length;
      this.queue.splice(i, 1);
    }
    this.o.sink({
      type: 'decode.note',
      at: this.now(),
      connection: n,
      protocol: 'error',
      note: 'decoding fell behind the traffic: the rest of this connection is left raw',
    });
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
