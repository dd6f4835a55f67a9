// port-forward with the kubelet's WebSocket framing (v4.channel.k8s.io and
// friends): the ports come from the query; port i uses channel 2i for data
// (both ways) and 2i+1 for errors (server to client). The server first sends
// each port as 2 bytes little-endian on both channels, connects once per
// port, and closes the WebSocket when every port's connection has ended.
import type WebSocket from 'ws';
import type { KubeObject } from '../types.js';
import { copyBothWays } from './portforward-copy.js';
import type { PortForwardTargets } from './portforward-targets.js';
import type { WebSocketChoice } from './protocols.js';
import type { PortForwardConnectionLog, StreamSessionLog } from './session-log.js';
import { ChannelSocket } from './websocket-channels.js';

/** The ports asked for (`ports` as the API server takes them, `port` as the kubelet does); throws the kubelet's message. */
export function queryPorts(q: URLSearchParams): number[] {
  const raw = [...q.getAll('ports'), ...q.getAll('port')];
  if (raw.length === 0) throw new Error('query parameter "port" is required');
  const ports: number[] = [];
  for (const value of raw) {
    if (value === '') throw new Error('query parameter "port" cannot be empty');
    for (const p of value.split(',')) {
      const n = /^\d+$/.test(p) ? Number(p) : NaN;
      if (!Number.isInteger(n) || n > 65535) throw new Error(`unable to parse "${value}" as a port: strconv.ParseUint: parsing "${p}": invalid syntax`);
      if (n < 1) throw new Error(`port "${value}" must be > 0`);
      ports.push(n);
    }
  }
  return ports;
}

export async function servePortForwardWebSocket(
  ws: WebSocket,
  choice: WebSocketChoice,
  ports: number[],
  ctx: { pod: KubeObject; targets: PortForwardTargets; log: StreamSessionLog },
): Promise<'completed' | 'client-closed'> {
  const channels = new ChannelSocket(ws, { base64: choice.base64, closeSignal: false });
  ctx.log.ports.push(...ports);
  const forwards = ports.map(async (port, i) => {
    const data = 2 * i;
    const error = 2 * i + 1;
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    channels.send(data, portBytes);
    channels.send(error, portBytes);
    const entry: PortForwardConnectionLog = { port, bytesFromClient: 0, bytesToClient: 0 };
    ctx.log.connections.push(entry);
    try {
      const target = await ctx.targets.connect(ctx.pod, port);
      await copyBothWays(channels.reader(data), channels.writer(data), target, entry);
    } catch (err) {
      entry.error = err instanceof Error ? err.message : String(err);
      channels.send(error, Buffer.from(entry.error));
    }
    entry.endedAt = Date.now();
  });
  const outcome = await Promise.race([Promise.all(forwards).then(() => 'completed' as const), channels.closed.then(() => 'client-closed' as const)]);
  if (outcome === 'completed') await channels.close(1000);
  return outcome;
}
