// The admin listener: health, readiness and metrics on their own port,
// because /healthz, /readyz and /metrics on the API port belong to the
// Kubernetes API behind kubetape.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Metrics } from './metrics.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export function createAdminServer(metrics: Metrics, checks: ReadinessCheck[], activeSessions: () => number): Server {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/healthz' || path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else if (path === '/readyz') {
        const failures: string[] = [];
        await Promise.all(
          checks.map((c) =>
            c.check().catch((e: Error) => {
              failures.push(`${c.name}: ${e.message}`);
            }),
          ),
        );
        if (failures.length) res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready\n${failures.join('\n')}\n`);
        else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else if (path === '/metrics') {
        metrics.activeSessions.set(activeSessions());
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz or /metrics\n');
      }
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`error: ${(e as Error).message}\n`);
    }
  };
  return createServer((req, res) => {
    void serve(req, res);
  });
}
