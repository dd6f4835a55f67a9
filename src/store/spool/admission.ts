// What happens to an event when the spool is at its size limit (the remote
// store has been unreachable for a while). Nothing is ever dropped quietly:
//
//   failMode closed: new sessions and new requests (the durable appends made
//     before forwarding) are refused, so kubetape answers 503. Data of
//     exchanges already forwarded (responses, stream bytes) and session ends
//     are still written: refusing them would lose evidence of what already
//     happened; their growth is bounded by maxStreamBytes per exchange.
//   failMode open: requests go through; events that do not fit are not
//     recorded, counted in kubetape_spool_dropped_events_total and
//     kubetape_recording_failures_total, and logged (one line per 10 s).
import type { Metrics } from '../../admin/metrics.js';
import type { Spool } from './spool.js';

export class SpoolFullError extends Error {
  override name = 'SpoolFullError';
}

/** start: a session's first event; request: a durable append; data: anything else; end: a session's last event. */
export type EventKind = 'start' | 'request' | 'data' | 'end';
export type Decision = 'write' | 'drop';

const LOG_EVERY_MS = 10_000;

export class Admission {
  private dropped = 0;
  private lastLog = 0;

  constructor(
    private readonly spool: Spool,
    private readonly maxBytes: number,
    private readonly failMode: 'closed' | 'open',
    private readonly describe: string,
    private readonly metrics: Metrics | undefined,
    private readonly log: (line: string) => void,
  ) {}

  full(): boolean {
    return this.spool.bytes >= this.maxBytes;
  }

  /** 'write' or 'drop'; throws SpoolFullError when the event must be refused. */
  decide(kind: EventKind): Decision {
    if (!this.full()) return 'write';
    if (this.failMode === 'closed') {
      if (kind === 'start' || kind === 'request') {
        this.metrics?.spoolRefusals.inc();
        throw new SpoolFullError(this.message());
      }
      return 'write';
    }
    if (kind === 'end') return 'write';
    this.noteDropped(1);
    return 'drop';
  }

  /** Events of a session whose start was not recorded are dropped with it. */
  noteDropped(n: number): void {
    this.dropped += n;
    this.metrics?.spoolDroppedEvents.inc(n);
    this.metrics?.recordFailures.inc(n);
    const now = Date.now();
    if (now - this.lastLog >= LOG_EVERY_MS) {
      this.lastLog = now;
      this.log(`kubetape: RECORDING SPOOL FULL (failMode open): ${this.dropped} events not recorded so far; ${this.message()}`);
    }
  }

  message(): string {
    return `recording spool full: ${mib(this.spool.bytes)} of ${mib(this.maxBytes)} waiting to be uploaded to ${this.describe}`;
  }
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 3 : 1)} MiB`;
