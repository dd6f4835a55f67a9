// exec and attach run the same way over any protocol: these are the streams a
// session needs, whichever transport carries them.
import type { Readable, Writable } from 'node:stream';
import type { StreamTransport } from './session-log.js';
import type { StreamStatus } from './status.js';

export interface CommandFlags {
  stdin: boolean;
  stdout: boolean;
  /** Already false when tty is set (the kubelet drops stderr with a tty). */
  stderr: boolean;
  tty: boolean;
}

export interface CommandStreams {
  readonly transport: StreamTransport;
  readonly protocol: string;
  /** Client's input; ends on stdin EOF (v5 close, SPDY FIN) or when the client goes. */
  readonly stdin: Readable | null;
  readonly stdout: Writable | null;
  readonly stderr: Writable | null;
  /** Raw TerminalSize JSON from the client. */
  readonly resize: Readable | null;
  /** Sends the final Status as the protocol does (JSON, text, or nothing for success before v4). */
  writeStatus(s: StreamStatus): void;
  /** After the status: end the session from the server side and wait (bounded) for the client to close. */
  finish(): Promise<void>;
  /** Resolves when the connection to the client is gone. */
  readonly closed: Promise<void>;
  /** Drops the connection at once (server shutdown). */
  destroy(): void;
}

/** Ends a writable and resolves once everything written was handed on (or it failed). */
export function endWritable(w: Writable | null): Promise<void> {
  if (!w || w.writableFinished || w.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => resolve();
    w.once('finish', done);
    w.once('close', done);
    w.once('error', done);
    w.end();
  });
}
