// The two ends of an exec or attach, whatever protocol each speaks. The
// bridge (exec-bridge.ts) joins any client end to any upstream end; each
// end translates between its wire protocol and these calls.
import type { Writable } from 'node:stream';
import type { TerminalSizeMessage, TerminalSize } from './channel-frames.js';
import type { ExecOutcome } from './exec-status.js';

/** What the user does, as the client end reports it. */
export interface ExecClientEvents {
  stdin(chunk: Buffer): void;
  /** stdin EOF: a SPDY FIN or WebSocket v5's close signal. */
  stdinEnd(): void;
  resize(size: TerminalSizeMessage): void;
  /**
   * The client went away before the exec ended (its user's choice: Ctrl-C, or
   * kubectl cp done reading), or, with `protocolError`, broke the protocol.
   */
  closed(reason: string, protocolError?: boolean): void;
}

/** kubectl's side. */
export interface ExecClientEnd {
  /** e.g. "websocket v5.channel.k8s.io", "spdy v4.channel.k8s.io". */
  readonly label: string;
  /** Whether this client reads a Status JSON (v4+) on its error channel. */
  readonly statusJson: boolean;
  readonly stdout: Writable | undefined;
  readonly stderr: Writable | undefined;
  /** Starts delivering events (the transport was paused until now). */
  start(events: ExecClientEvents): void;
  /** Flushes output, writes the error channel (`errorBytes`, possibly empty) and closes. */
  finish(errorBytes: Buffer): Promise<void>;
  /** Ends at once (the upstream broke in a way that leaves nothing to say). */
  abort(reason: string): void;
  pause(): void;
  resume(): void;
}

export interface ExecUpstreamEvents {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** The exec is over on the cluster's side: every output stream has ended. */
  done(outcome: ExecOutcome): void;
}

/** kubetape's own connection to the cluster. */
export interface ExecUpstreamEnd {
  readonly label: string;
  readonly statusJson: boolean;
  /** end() is stdin EOF (SPDY FIN, or v5's close signal; lost on WebSocket v4 and older). */
  readonly stdin: Writable | undefined;
  resize(size: TerminalSize): void;
  start(events: ExecUpstreamEvents): void;
  /** The client went away: tear the upstream session down. */
  close(): void;
  pause(): void;
  resume(): void;
}
