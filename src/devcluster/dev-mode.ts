// `kubetape dev`: kubetape in front of the built-in API server, to try it
// without a cluster (in the spirit of `vault server -dev`). Everything the
// API holds is in memory and gone when it stops; recordings go to the data
// dir like `serve`'s, under the cluster name `kubetape-dev`. The API server
// says what it is: /version's gitVersion is v1.32.0-kubetape-dev, the pods
// run on the node `kubetape-dev-not-a-cluster`. A pod `web-0` in `default`
// has a log that grows; exec runs real processes (`sh`, `echo`) in a
// throwaway directory per pod with a minimal environment, as the user who
// started kubetape (not isolated: this is your machine, not a container);
// port-forward to any port of a pod reaches a small HTTP greeting.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServeConfig } from '../config/config.js';
import { startKubetape, type RunningKubetape } from '../listen/start.js';
import type { Upstream } from '../model/upstream.js';
import { startApiServer, type ApiServer } from './server.js';
import type { KubeObject } from './types.js';

export const DEV_CLUSTER_NAME = 'kubetape-dev';
export const DEV_GIT_VERSION = 'v1.32.0-kubetape-dev';
export const DEV_NODE_NAME = 'kubetape-dev-not-a-cluster';
export const DEV_POD = { namespace: 'default', name: 'web-0', container: 'web' };

export interface RunningDev {
  kubetape: RunningKubetape;
  /** The built-in API server kubetape forwards to (https://127.0.0.1:PORT, its own token). */
  api: ApiServer;
  close(): Promise<void>;
}

export interface DevOptions {
  log?: (line: string) => void;
  /** How often web-0 logs a line (default 5000 ms). */
  logEveryMs?: number;
}

/** Starts the built-in API server, seeds it, and kubetape in front of it in `c.dataDir`. */
export async function startDevMode(c: ServeConfig, opts: DevOptions = {}): Promise<RunningDev> {
  const token = randomBytes(32).toString('base64url');
  const greeter = await startGreeter();
  let api: ApiServer | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const stopApi = async (): Promise<void> => {
    if (ticker) clearInterval(ticker);
    await api?.close();
    greeter.closeAllConnections();
    await new Promise<void>((resolve) => greeter.close(() => resolve()));
  };
  try {
    const greeterPort = (greeter.address() as AddressInfo).port;
    api = await startApiServer({
      name: 'kubetape dev API',
      minor: '32',
      gitVersion: DEV_GIT_VERSION,
      users: [{ token, user: 'kubetape-dev', groups: ['system:masters'] }],
      recordRequests: false, // kubetape records; the API server keeps no log of its own
      podDirPrefix: 'kubetape-dev-pods-',
      portForwardTarget: () => ({ host: '127.0.0.1', port: greeterPort }),
    });
    ticker = seed(api, opts.logEveryMs ?? 5000);
    const upstream: Upstream = {
      name: DEV_CLUSTER_NAME,
      server: new URL(api.url),
      ca: api.ca,
      insecureSkipTlsVerify: false,
      credentials: { get: async () => ({ authorization: `Bearer ${token}` }), invalidate: () => undefined },
      namespace: 'default',
    };
    const kubetape = await startKubetape(c, { upstream, command: 'dev', ...(opts.log ? { log: opts.log } : {}) });
    let closing: Promise<void> | undefined;
    return {
      kubetape,
      api,
      close: () =>
        (closing ??= (async () => {
          await kubetape.close();
          await stopApi();
        })()),
    };
  } catch (err) {
    await stopApi();
    throw err;
  }
}

/** A namespace `default` with a running pod `web-0` (container `web`) whose log says what this is and keeps going. */
function seed(api: ApiServer, everyMs: number): NodeJS.Timeout {
  const { namespace, name, container } = DEV_POD;
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { app: 'web' },
      annotations: { 'kubetape.dev/about': 'a pretend pod in kubetape dev: exec runs on this machine, in a temporary directory' },
    },
    spec: { nodeName: DEV_NODE_NAME, containers: [{ name: container, image: 'kubetape/dev-web:1.0', ports: [{ containerPort: 80, name: 'http' }] }] },
  };
  api.objects.put(pod);
  api.logs.set(namespace, name, container, [
    `web-0: hello from kubetape dev. This is not a cluster: the API is kubetape's built-in test API server, in memory.`,
    `web-0: kubectl exec runs /bin/sh on this machine in a temporary directory; kubectl port-forward reaches a small greeting page.`,
    `web-0: listening on :80`,
  ]);
  let n = 0;
  const ticker = setInterval(() => {
    n++;
    api.logs.append(namespace, name, container, `web-0: ${new Date().toISOString()} GET / 200 (request ${n})`);
  }, everyMs);
  ticker.unref();
  return ticker;
}

/** What every forwarded port of every pod reaches: one line of HTTP. */
function startGreeter(): Promise<Server> {
  const server = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`hello from kubetape dev (not a cluster): you asked for ${req.method} ${req.url}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
