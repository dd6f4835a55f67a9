// Assembles a running kubetape from its configuration, in data-path order:
// listen (TLS) -> authenticate -> record -> forward, plus the admin listener.
// `kubetape serve` and the tests both start kubetape through here.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { userInfo } from 'node:os';
import { writeFileSync } from 'node:fs';
import express from 'express';
import type { ServeConfig } from '../config/config.js';
import { parseHostPort } from '../config/config.js';
import { ensureDataDir, ensureServingCertificate } from './data-dir.js';
import { TokenFileAuthenticator, ensureLocalTokenFile } from '../authenticate/token-file.js';
import { authenticate } from '../authenticate/middleware.js';
import type { Authenticator } from '../authenticate/identity.js';
import { Metrics } from '../admin/metrics.js';
import { createAdminServer } from '../admin/admin-server.js';
import { LocalStore } from '../store/local/local-store.js';
import type { RecordingStore } from '../store/store.js';
import { Recorder } from '../record/recorder.js';
import { createRestForwarder } from '../forward/rest.js';
import { createUpgradeTunnel } from '../forward/upgrade-tunnel.js';
import { createStreamHandler } from '../forward/streams/index.js';
import { upstreamAgent, type Upstream } from '../forward/upstream.js';
import { kubeconfigPaths, loadKubeconfig, resolveUpstream } from '../kubeconfig/load.js';
import { UpstreamCredentials } from '../credentials/upstream-credentials.js';
import { buildProxyKubeconfig } from '../kubeconfig/proxy-kubeconfig.js';
import { probeUpstream } from './probe.js';

export interface RunningKubetape {
  /** https://host:port of the API listener. */
  url: string;
  /** http://host:port of the admin listener. */
  adminUrl: string;
  /** PEM of the CA that signed kubetape's serving certificate. */
  ca: string;
  /** The kubeconfig written for the local user (local mode), pointing at kubetape. */
  kubeconfigPath: string;
  /** The local user's token, when kubetape made the token file. */
  localToken?: string;
  upstream: Upstream;
  store: RecordingStore;
  recorder: Recorder;
  metrics: Metrics;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this upstream instead of resolving one from a kubeconfig (tests, embedding). */
  upstream?: Upstream;
  /** Use this store instead of the local store in the data dir. */
  store?: RecordingStore;
  log?: (line: string) => void;
}

export async function startKubetape(c: ServeConfig, opts: StartOptions = {}): Promise<RunningKubetape> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const paths = ensureDataDir(c.dataDir);
  const listen = parseHostPort(c.listen, 'listen');
  const admin = parseHostPort(c.adminListen, 'adminListen');

  const upstream = opts.upstream ?? resolveConfiguredUpstream(c, log);
  const tls = await loadServingTls(c, paths, listen.host);

  let localToken: string | undefined;
  let tokenFile = c.tokenFile;
  if (!tokenFile) {
    tokenFile = paths.tokens;
    localToken = ensureLocalTokenFile(tokenFile, userInfo().username, ['kubetape:local']).token;
  }
  const authenticator: Authenticator = new TokenFileAuthenticator(tokenFile);

  const metrics = new Metrics();
  const store = opts.store ?? new LocalStore(paths.root, { writable: true });
  const recorder = new Recorder(store, {
    cluster: upstream.name,
    maxBodyBytes: c.recording.maxBodyBytes,
    maxStreamBytes: c.recording.maxStreamBytes,
    idleMs: c.recording.sessionIdleSeconds * 1000,
    failMode: c.recording.failMode,
    onRecordFailure: (err) => {
      metrics.recordFailures.inc();
      log(`kubetape: RECORDING FAILURE: ${err.message}`);
    },
  });

  const agent = upstreamAgent();
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false); // kubetape reads raw query strings; express's parser is wasted work
  app.use(authenticate(authenticator, metrics));
  app.use(
    createRestForwarder({
      upstream,
      recorder,
      metrics,
      agent,
      responseTimeoutMs: c.upstreamTimeoutSeconds * 1000,
      maxRequestBodyBytes: c.maxRequestBodyBytes,
    }),
  );

  const server: HttpsServer = createHttpsServer({ cert: tls.cert, key: tls.key, ALPNProtocols: ['http/1.1'] }, app);
  // Watches and follows may stay quiet for minutes; Node's defaults would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  // exec, attach and port-forward are terminated and decoded; any other
  // upgrade (a WebSocket watch, a proxy subresource) is tunnelled as bytes.
  const tunnel = createUpgradeTunnel({ authenticator, upstream, recorder, metrics, connectTimeoutMs: c.upstreamTimeoutSeconds * 1000 });
  const streams = createStreamHandler({
    authenticator,
    upstream,
    recorder,
    metrics,
    connectTimeoutMs: c.upstreamTimeoutSeconds * 1000,
    otherUpgrades: (req, socket, head) => void tunnel(req, socket, head),
  });
  server.on('upgrade', (req, socket, head) => void streams(req, socket, head));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await listenOn(server, listen.host, listen.port);

  const adminServer = createAdminServer(
    metrics,
    [
      { name: 'recording store', check: async () => void (await store.listSessions({ limit: 1 })) },
      { name: 'upstream', check: () => probeUpstream(upstream, agent) },
    ],
    () => recorder.activeSessions,
  );
  await listenOn(adminServer, admin.host, admin.port);

  const url = `https://${urlHost(listen.host)}:${(server.address() as AddressInfo).port}`;
  const adminUrl = `http://${urlHost(admin.host)}:${(adminServer.address() as AddressInfo).port}`;
  if (localToken) {
    writeFileSync(
      paths.kubeconfig,
      buildProxyKubeconfig({ server: url, caPem: tls.ca, token: localToken, contextName: 'kubetape', clusterName: 'kubetape', ...(upstream.namespace ? { namespace: upstream.namespace } : {}) }),
      { mode: 0o600 },
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    adminUrl,
    ca: tls.ca,
    kubeconfigPath: paths.kubeconfig,
    ...(localToken ? { localToken } : {}),
    upstream,
    store,
    recorder,
    metrics,
    close: () =>
      (closing ??= (async () => {
        server.close();
        adminServer.close();
        streams.close();
        // Open watches would hold close() forever: end them; their records are finished by the recorder.
        for (const s of sockets) s.destroy();
        await recorder.close();
        await store.close();
        agent.destroy();
      })()),
  };
}

function resolveConfiguredUpstream(c: ServeConfig, log: (l: string) => void): Upstream {
  const cfg = loadKubeconfig(kubeconfigPaths(c.kubeconfig));
  const cluster = resolveUpstream(cfg, c.context);
  const credentials = new UpstreamCredentials(cluster, { onPluginStderr: (t) => log(`kubetape: credential plugin: ${t}`) });
  const u: Upstream = {
    name: c.clusterName ?? cluster.contextName,
    server: new URL(cluster.server),
    insecureSkipTlsVerify: cluster.insecureSkipTlsVerify,
    credentials,
  };
  if (cluster.ca) u.ca = cluster.ca;
  if (cluster.namespace) u.namespace = cluster.namespace;
  return u;
}

async function loadServingTls(c: ServeConfig, paths: ReturnType<typeof ensureDataDir>, host: string) {
  const generated = await ensureServingCertificate(paths, host);
  if (!c.tlsCert || !c.tlsKey) return generated;
  const { readFileSync } = await import('node:fs');
  // With an operator's certificate, kubectl must trust the operator's CA: the chain is in the cert file.
  const cert = readFileSync(c.tlsCert, 'utf8');
  return { ca: cert, cert, key: readFileSync(c.tlsKey, 'utf8') };
}

function listenOn(server: Server | HttpsServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'EADDRINUSE' ? `${host}:${port} is already in use (another kubetape?); choose another with --listen / --admin-listen` : `cannot listen on ${host}:${port}: ${err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
