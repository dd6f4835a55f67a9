// exec/attach streams over SPDY/3.1: the client opens one stream per
// `streamtype` (error, stdin, stdout, stderr, resize). Like the kubelet we
// reply to each, wait until all the expected ones are there (or time out),
// then run. The end: output streams FIN, the Status on the error stream and
// FIN, then GOAWAY; the client resets its streams and closes.
import type { SpdyConnection, SpdyStream } from '../../forward/spdy/index.js';
import type { CommandFlags, CommandStreams } from './command-streams.js';
import { spdySupportsResize, statusIsJson } from './protocols.js';
import { encodeStatus, type StreamStatus } from './status.js';

const CLOSE_WAIT_MS = 5000;

/** The stream types the kubelet waits for, given the flags and protocol. */
export function expectedStreamTypes(flags: CommandFlags, protocol: string): string[] {
  const types = ['error'];
  if (flags.stdin) types.push('stdin');
  if (flags.stdout) types.push('stdout');
  if (flags.stderr) types.push('stderr');
  if (flags.tty && spdySupportsResize(protocol)) types.push('resize');
  return types;
}

/** Resolves with the streams by type, or rejects after `timeoutMs` or when the connection closes first. */
export function collectStreams(conn: SpdyConnection, expected: string[], timeoutMs: number): Promise<Map<string, SpdyStream>> {
  return new Promise((resolve, reject) => {
    const got = new Map<string, SpdyStream>();
    const timer = setTimeout(() => fail(new Error('timed out waiting for client to create streams')), timeoutMs);
    const onStream = (s: SpdyStream): void => {
      s.on('error', () => undefined);
      s.reply();
      const type = s.headers.streamtype ?? '';
      if (!expected.includes(type) || got.has(type)) {
        s.resume(); // an unexpected stream: replied to and ignored, as the kubelet does
        return;
      }
      got.set(type, s);
      if (expected.every((t) => got.has(t))) {
        cleanup();
        resolve(got);
      }
    };
    const onClose = (): void => fail(new Error('connection closed before all streams were created'));
    const cleanup = (): void => {
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.off('close', onClose);
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    conn.on('stream', onStream);
    conn.once('close', onClose);
  });
}

export function spdyCommandStreams(conn: SpdyConnection, protocol: string, streams: Map<string, SpdyStream>): CommandStreams {
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  // Later streams (none expected) are refused rather than left hanging.
  conn.on('stream', (s: SpdyStream) => s.reset());
  const error = streams.get('error')!;
  error.resume(); // the client sends nothing on it but its FIN
  const stdout = streams.get('stdout') ?? null;
  const stderr = streams.get('stderr') ?? null;
  stdout?.resume();
  stderr?.resume();
  const json = statusIsJson(protocol);
  return {
    transport: 'spdy',
    protocol,
    stdin: streams.get('stdin') ?? null,
    stdout,
    stderr,
    resize: streams.get('resize') ?? null,
    writeStatus(s: StreamStatus): void {
      const body = encodeStatus(s, json);
      if (body && !error.destroyed) error.write(body);
    },
    async finish(): Promise<void> {
      for (const s of streams.values()) if (!s.destroyed && !s.writableEnded) s.end();
      conn.close();
      const timer = setTimeout(() => conn.destroy(), CLOSE_WAIT_MS);
      await closed;
      clearTimeout(timer);
    },
    closed,
    destroy: () => conn.destroy(),
  };
}
