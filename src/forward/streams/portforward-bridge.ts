// Joins a port-forward client end to kubetape's SPDY session with the
// cluster: every client connection gets its own upstream stream pair, bytes
// flow both ways (recorded as `in` and `out` per connection), the cluster's
// error text is passed through, and the client's error stream is ended when
// the data is over (kubectl waits for that before it lets go). Bytes are
// recorded before they are forwarded (exchange.relay), a new connection is
// recorded before it is started; when the recording cannot go on, every
// connection is told why on its error stream and the session closes.
// A tap (record/decode/) sees each chunk once it is forwarded and decodes it
// later, off this path: HTTP exchanges, WebSocket frames, MCP messages.
import type { Exchange } from '../../record/recorder.js';
import { ENVELOPE_BOUND } from '../../record/stream-pacing.js';
import { Valve, forward } from './flow.js';
import type { PortForwardClientConnection, PortForwardClientEnd } from './portforward-types.js';
import type { PortForwardUpstream, UpstreamPortPair } from './portforward-upstream.js';

/** After the pod's side of a connection ends, how long the cluster's error stream may lag before we end the client's. */
const ERROR_STREAM_GRACE_MS = 1000;
/** What a connection pays for its end when it opens: its close and the forced records of its directions (stream-pacing.ts). */
const CONNECTION_END_RESERVE = 4 * ENVELOPE_BOUND;

export interface PortForwardResult {
  connections: number;
  error?: string;
}

export function bridgePortForward(client: PortForwardClientEnd, upstream: PortForwardUpstream, exchange: Exchange): Promise<PortForwardResult> {
  exchange.setStreamProtocol(client.label, upstream.label);
  const tap = exchange.decodeTap();
  const towardsClient = new Valve(
    () => upstream.pause(),
    () => upstream.resume(),
  );
  const towardsUpstream = new Valve(
    () => client.pause(),
    () => client.resume(),
  );
  const live = new Map<() => void, PortForwardClientConnection>();
  let count = 0;
  let over = false;

  return new Promise((resolve) => {
    const end = (error?: string): void => {
      if (over) return;
      over = true;
      for (const abort of [...live.keys()]) abort();
      tap?.close();
      exchange.finish(error, 101);
      resolve(error === undefined ? { connections: count } : { connections: count, error });
    };

    // The recording cannot go on: each connection's client hears why on its error stream, then everything closes.
    exchange.onStopped((reason) => {
      if (over) return;
      const message = `kubetape stopped the port-forward: ${reason.message}`;
      for (const c of live.values()) {
        if (!c.error.writableEnded && !c.error.destroyed) c.error.write(message);
      }
      upstream.close();
      client.close();
      end(message);
    });

    upstream.connection.on('close', () => {
      if (over) return;
      client.close();
      end('the cluster closed the port-forward session');
    });

    const run = async (c: PortForwardClientConnection, n: number): Promise<void> => {
      const where = { connection: n, port: c.port };
      // Hold the client's bytes until the cluster has accepted the streams.
      const early: Buffer[] = [];
      let pair: UpstreamPortPair | undefined;
      let clientEnded = false;
      let closed = false;
      const close = (why: string): void => {
        if (closed) return;
        closed = true;
        live.delete(abort);
        // Frames still held by the pacing are recorded now; with `closed` set they are not
        // forwarded, but the decoder sees them, so a request cut mid-body is decoded as cut.
        exchange.drainConnection(n);
        tap?.end(n);
        exchange.streamEvent('close', why, where, { prepaid: true });
      };
      const abort = (): void => {
        pair?.data.reset();
        pair?.error.reset();
        c.reset();
        close('reset');
      };
      live.set(abort, c);
      tap?.open(n, c.port);
      c.start({
        data(chunk) {
          exchange.relay(
            'in',
            chunk,
            () => {
              // The decoder follows the record, whether or not the connection is still open.
              tap?.push(n, 'in', chunk);
              if (closed) return;
              if (pair) forward(pair.data, chunk, towardsUpstream);
              else early.push(chunk);
            },
            where,
          );
        },
        end() {
          clientEnded = true;
          if (pair && !pair.data.writableEnded && !pair.data.destroyed) pair.data.end();
        },
        reset() {
          abort();
        },
      });

      towardsUpstream.hold(c);
      try {
        pair = await upstream.openPair(c.port);
      } catch (err) {
        towardsUpstream.release(c);
        const message = `kubetape could not open a connection to port ${c.port} in the pod: ${(err as Error).message}`;
        if (!exchange.streamEvent('error', message, where, { prepaid: true })) return;
        if (!c.error.writableEnded && !c.error.destroyed) c.error.write(message);
        await c.finish();
        close('failed');
        return;
      }
      towardsUpstream.release(c);
      if (closed || over) {
        pair.data.reset();
        pair.error.reset();
        return;
      }
      const p = pair;
      for (const chunk of early.splice(0)) forward(p.data, chunk, towardsUpstream);
      if (clientEnded) p.data.end();

      p.data.on('data', (chunk: Buffer) => {
        exchange.relay(
          'out',
          chunk,
          () => {
            tap?.push(n, 'out', chunk);
            if (closed) return;
            forward(c.data, chunk, towardsClient);
          },
          where,
        );
      });
      p.error.on('data', (chunk: Buffer) => {
        exchange.relay('error', chunk, () => void (closed || forward(c.error, chunk, towardsClient)), where);
      });

      let dataDone = false;
      let errorDone = false;
      let grace: NodeJS.Timeout | undefined;
      const maybeFinish = (): void => {
        if (!dataDone || !errorDone || closed) return;
        clearTimeout(grace);
        void c.finish().then(() => close('ended'));
      };
      const onceDone = (s: typeof p.data, fn: () => void): void => {
        let fired = false;
        const once = (): void => {
          if (fired) return;
          fired = true;
          // What the pod sent and is still held for its record goes out before the end.
          exchange.drainConnection(n);
          if (exchange.stopError) return;
          fn();
        };
        s.once('end', once);
        s.once('close', once);
      };
      onceDone(p.error, () => {
        errorDone = true;
        if (!c.error.writableEnded && !c.error.destroyed) c.error.end();
        maybeFinish();
      });
      onceDone(p.data, () => {
        dataDone = true;
        if (!c.data.writableEnded && !c.data.destroyed) c.data.end();
        if (!errorDone) {
          grace = setTimeout(() => {
            errorDone = true;
            maybeFinish();
          }, ERROR_STREAM_GRACE_MS);
          grace.unref();
        }
        maybeFinish();
      });
    };

    client.start({
      connection(c) {
        if (over || exchange.stopError) {
          c.reset();
          return;
        }
        const n = ++count;
        // Recorded before it starts; a burst of new connections waits for the recording's pacing like data does.
        exchange.relay('open', Buffer.alloc(0), () => void run(c, n), { connection: n, port: c.port }, { reserve: CONNECTION_END_RESERVE });
      },
      closed(reason, protocolError) {
        upstream.close();
        // kubectl port-forward ends by going away: that is the normal end, not an error.
        end(protocolError ? reason : undefined);
      },
    });
  });
}
