// kubectl's port-forward over SPDY (direct, or as the raw SPDY byte stream
// inside a SPDY/3.1+portforward.k8s.io WebSocket): per local connection the
// client opens an error stream and a data stream with the same requestid and
// port headers; the pair is one forwarded connection.
import type { Writable } from 'node:stream';
import type { SpdyConnection } from '../spdy/connection.js';
import { SpdyProtocolError } from '../spdy/frames.js';
import { clientFailure } from './exec-client-spdy.js';
import type { SpdyStream } from '../spdy/stream.js';
import { endAndFlush } from './flow.js';
import { forceCloseWhenFlushed } from './linger.js';
import { parsePortHeader } from './stream-request.js';
import type { PortConnectionEvents, PortForwardClientConnection, PortForwardClientEnd, PortForwardClientEvents } from './portforward-types.js';

/** How long the first stream of a pair waits for the second (the kubelet's stream creation timeout). */
const PAIR_TIMEOUT_MS = 30_000;

class SpdyPortConnection implements PortForwardClientConnection {
  constructor(
    readonly port: number,
    private readonly dataStream: SpdyStream,
    private readonly errorStream: SpdyStream,
  ) {}

  get data(): Writable {
    return this.dataStream;
  }

  get error(): Writable {
    return this.errorStream;
  }

  start(events: PortConnectionEvents): void {
    let ended = false;
    this.dataStream.on('data', (c: Buffer) => events.data(c));
    this.dataStream.once('end', () => {
      ended = true;
      events.end();
    });
    this.dataStream.once('close', () => {
      if (!ended || this.dataStream.resetByPeer) events.reset();
    });
    // The client closes its half of the error stream at once; read it to the end.
    this.errorStream.resume();
  }

  async finish(): Promise<void> {
    await Promise.all([endAndFlush(this.dataStream), endAndFlush(this.errorStream)]);
  }

  reset(): void {
    this.dataStream.reset();
    this.errorStream.reset();
  }
}

interface HalfPair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

export class SpdyPortForwardClient implements PortForwardClientEnd {
  private closing = false;
  private closeReason: string | undefined;
  private protocolError = false;

  constructor(
    private readonly conn: SpdyConnection,
    readonly label: string,
    private readonly pauseTransport: () => void,
    private readonly resumeTransport: () => void,
    /** Bytes of ours still queued on the transport. */
    private readonly pending: () => number,
  ) {
    conn.on('error', (err) => {
      this.closeReason ??= clientFailure(err);
      if (err instanceof SpdyProtocolError) this.protocolError = true;
    });
    // Held until start(): the first streams may already be on their way.
    pauseTransport();
  }

  start(events: PortForwardClientEvents): void {
    const pending = new Map<string, HalfPair>();
    this.conn.on('stream', (s: SpdyStream) => {
      const type = s.headers['streamtype'];
      if (type !== 'error' && type !== 'data') {
        s.reset();
        return;
      }
      // Clients older than requestid pair a data stream with the error stream just before it.
      const key = s.headers['requestid'] ?? String(type === 'error' ? s.id : s.id - 2);
      const half = pending.get(key) ?? {
        timer: setTimeout(() => {
          pending.delete(key);
          half.error?.reset();
          half.data?.reset();
        }, PAIR_TIMEOUT_MS),
      };
      half.timer.unref();
      if (half[type]) {
        s.reset();
        return;
      }
      s.reply();
      half[type] = s;
      pending.set(key, half);
      if (!half.error || !half.data) return;
      pending.delete(key);
      clearTimeout(half.timer);
      const port = parsePortHeader(half.data.headers['port']);
      if (port === undefined || half.error.headers['port'] !== half.data.headers['port']) {
        half.error.end(`invalid port header ${JSON.stringify(half.data.headers['port'] ?? '')}`);
        half.data.end();
        return;
      }
      events.connection(new SpdyPortConnection(port, half.data, half.error));
    });
    this.conn.on('close', () => {
      for (const half of pending.values()) clearTimeout(half.timer);
      events.closed(this.closing ? undefined : (this.closeReason ?? 'the client closed the connection'), this.protocolError);
    });
    this.resumeTransport();
  }

  close(): void {
    this.closing = true;
    this.conn.close();
    forceCloseWhenFlushed(this.conn, this.pending, () => this.conn.destroy());
  }

  /** Immediate teardown (the cluster went away). */
  destroy(): void {
    this.closing = true;
    this.conn.destroy();
  }

  pause(): void {
    this.pauseTransport();
  }

  resume(): void {
    this.resumeTransport();
  }
}
