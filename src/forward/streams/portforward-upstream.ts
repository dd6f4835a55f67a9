// port-forward to the cluster: one SPDY session (direct, or tunnelled in a
// WebSocket) carrying, per forwarded connection, an error stream and a data
// stream tied together by a request id, opened the way kubectl opens them.
import type { SpdyConnection } from '../spdy/connection.js';
import type { SpdyStream } from '../spdy/stream.js';

export interface UpstreamPortPair {
  data: SpdyStream;
  error: SpdyStream;
}

const CLOSE_GRACE_MS = 5000;

export class PortForwardUpstream {
  private nextRequestId = 0;

  constructor(
    readonly connection: SpdyConnection,
    /** e.g. "spdy portforward.k8s.io", "websocket SPDY/3.1+portforward.k8s.io". */
    readonly label: string,
    private readonly pauseTransport: () => void,
    private readonly resumeTransport: () => void,
  ) {
    connection.on('error', () => undefined);
  }

  /** Opens the error and data streams for one connection to `port` in the pod. */
  async openPair(port: number): Promise<UpstreamPortPair> {
    const requestid = String(this.nextRequestId++);
    const headers = (streamtype: string) => ({ streamtype, port: String(port), requestid });
    const error = await this.connection.openStream(headers('error'));
    // kubectl sends nothing on the error stream and says so at once.
    error.end();
    try {
      const data = await this.connection.openStream(headers('data'));
      return { data, error };
    } catch (err) {
      error.reset();
      throw err;
    }
  }

  close(): void {
    this.connection.close();
    const timer = setTimeout(() => this.connection.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.connection.once('close', () => clearTimeout(timer));
  }

  pause(): void {
    this.pauseTransport();
  }

  resume(): void {
    this.resumeTransport();
  }
}
