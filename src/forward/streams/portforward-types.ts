// The client end of a port-forward, whatever its protocol: a source of
// forwarded connections, each with a data and an error direction.
import type { Writable } from 'node:stream';

export interface PortConnectionEvents {
  data(chunk: Buffer): void;
  /** The client will send nothing more on this connection (SPDY FIN). */
  end(): void;
  /** The client abandoned this connection (reset, or the whole session closed). */
  reset(): void;
}

export interface PortForwardClientConnection {
  readonly port: number;
  /** Towards the client: what the pod sent. */
  readonly data: Writable;
  /** Towards the client: the error stream (any text there is a failure to kubectl). */
  readonly error: Writable;
  start(events: PortConnectionEvents): void;
  /** Ends both directions towards the client once flushed. */
  finish(): Promise<void>;
  reset(): void;
}

export interface PortForwardClientEvents {
  connection(c: PortForwardClientConnection): void;
  /**
   * The session is over towards the client. `reason` is set when the client
   * (not kubetape) ended it; `protocolError` when it did so by breaking the
   * protocol (going away is how kubectl ends a port-forward, not an error).
   */
  closed(reason: string | undefined, protocolError: boolean): void;
}

export interface PortForwardClientEnd {
  readonly label: string;
  start(events: PortForwardClientEvents): void;
  /** Ends the session towards the client (every connection is done or abandoned). */
  close(): void;
  pause(): void;
  resume(): void;
}
