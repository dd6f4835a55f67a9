// Where a forwarded pod port goes: the test's mapping, or by default a
// per-server TCP echo service. A port without a target fails the way the
// kubelet reports a refused connection inside the pod's network namespace.
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { KubeObject } from '../types.js';

export interface PortTarget {
  host: string;
  port: number;
}

/** undefined: nothing listens on that port in the pod. */
export type PortForwardTargetFn = (pod: KubeObject, port: number) => PortTarget | undefined;

/** The pod's sandbox id, which is what the kubelet names in port-forward errors. */
export function sandboxId(pod: KubeObject): string {
  return createHash('sha256')
    .update(`sandbox/${String(pod.metadata.uid ?? pod.metadata.name)}`)
    .digest('hex');
}

export function forwardError(pod: KubeObject, port: number, cause: string): string {
  const id = sandboxId(pod);
  return `error forwarding port ${port} to pod ${id}, uid : failed to execute portforward in network namespace "/var/run/netns/cni-${id.slice(0, 8)}": failed to connect to localhost:${port} inside namespace "${id}", IPv4: ${cause} `;
}

export class PortForwardTargets {
  private echo: Promise<net.Server> | undefined;
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  constructor(private readonly mapping?: PortForwardTargetFn) {}

  /** Connects to the port's target; rejects with the kubelet's error text. */
  async connect(pod: KubeObject, port: number): Promise<net.Socket> {
    if (this.closed) throw new Error(forwardError(pod, port, 'server is shutting down'));
    const target = this.mapping ? this.mapping(pod, port) : await this.echoTarget();
    if (!target) throw new Error(forwardError(pod, port, `dial tcp4 127.0.0.1:${port}: connect: connection refused`));
    return new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: target.host, port: target.port });
      this.track(s);
      s.once('connect', () => {
        s.off('error', onError);
        s.on('error', () => undefined);
        s.setNoDelay(true);
        resolve(s);
      });
      const onError = (err: NodeJS.ErrnoException): void => {
        s.destroy();
        const why = err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message;
        reject(new Error(forwardError(pod, port, `dial tcp4 ${target.host}:${target.port}: ${why}`)));
      };
      s.once('error', onError);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    const echo = this.echo;
    this.echo = undefined;
    if (!echo) return Promise.resolve();
    return echo.then((server) => new Promise<void>((resolve) => server.close(() => resolve())));
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private async echoTarget(): Promise<PortTarget> {
    this.echo ??= new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer((s) => {
        this.track(s);
        s.on('error', () => s.destroy());
        s.pipe(s);
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
    const server = await this.echo;
    const addr = server.address() as net.AddressInfo;
    return { host: '127.0.0.1', port: addr.port };
  }
}
