// port-forward over SPDY (portforward.k8s.io), directly or tunnelled in a
// WebSocket: per forwarded connection the client opens an error stream and a
// data stream sharing a `requestid` and a `port`. Like the kubelet: streams
// with a bad port/streamtype are refused; a pair incomplete after the
// creation timeout gets "timed out waiting for streams"; a failed connect
// writes the error text on the error stream; at the end both streams FIN.
import type { SpdyConnection, SpdyStream } from '../../forward/spdy/index.js';
import type { KubeObject } from '../types.js';
import { copyBothWays } from './portforward-copy.js';
import type { PortForwardTargets } from './portforward-targets.js';
import type { PortForwardConnectionLog, StreamSessionLog } from './session-log.js';

interface Pair {
  requestId: string;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface PortForwardContext {
  pod: KubeObject;
  targets: PortForwardTargets;
  log: StreamSessionLog;
  streamCreationTimeoutMs: number;
}

function parsePort(value: string | undefined): number | undefined {
  if (!value || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Serves port-forward streams on `conn` until it closes; resolves then. */
export function servePortForwardSpdy(conn: SpdyConnection, ctx: PortForwardContext): Promise<void> {
  const pairs = new Map<string, Pair>();
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  conn.on('error', () => undefined);

  conn.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    const type = s.headers.streamtype;
    const port = parsePort(s.headers.port);
    if (port === undefined || (type !== 'error' && type !== 'data')) {
      s.reset();
      return;
    }
    s.reply();
    // Clients before request ids: the error stream's id names the pair, the data stream follows two ids later.
    const requestId = s.headers.requestid ?? String(type === 'error' ? s.id : s.id - 2);
    let pair = pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        pair?.error?.end('timed out waiting for streams');
        pair?.data?.end();
      }, ctx.streamCreationTimeoutMs);
      timer.unref();
      pair = { requestId, timer };
      pairs.set(requestId, pair);
    }
    if (pair[type]) {
      pair.error?.write(`error processing stream for request ${requestId}: ${type} stream already assigned`);
      s.reset();
      return;
    }
    pair[type] = s;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      void forward(pair.error, pair.data, port, requestId, ctx);
    }
  });
  return closed.then(() => {
    for (const p of pairs.values()) clearTimeout(p.timer);
  });
}

async function forward(error: SpdyStream, data: SpdyStream, port: number, requestId: string, ctx: PortForwardContext): Promise<void> {
  error.resume(); // the client FINs it at once and sends nothing
  const entry: PortForwardConnectionLog = { port, requestId, bytesFromClient: 0, bytesToClient: 0 };
  ctx.log.connections.push(entry);
  if (!ctx.log.ports.includes(port)) ctx.log.ports.push(port);
  try {
    const target = await ctx.targets.connect(ctx.pod, port);
    await copyBothWays(data, data, target, entry);
  } catch (err) {
    entry.error = err instanceof Error ? err.message : String(err);
    data.resume();
    if (!error.destroyed) error.write(entry.error);
  }
  entry.endedAt = Date.now();
  if (!data.destroyed) data.end();
  if (!error.destroyed) error.end();
}
