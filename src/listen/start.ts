// Assembles a running kubetape from its configuration, in data-path order:
// listen (TLS) -> authenticate -> record -> forward, plus the admin listener.
// `kubetape serve` and the tests both start kubetape through here.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { statusObject } from '../model/status.js';
import type { AddressInfo, Socket } from 'node:net';
import { userInfo } from 'node:os';
import { writeFileSync } from 'node:fs';
import express, { type RequestHandler } from 'express';
import { requestChain } from './request-chain.js';
import { parseTargets, parseUpgradeTargets, type UpgradeHandler } from './request-target.js';
import type { ServeConfig } from '../config/config.js';
import { parseHostPort } from '../config/config.js';
import { ensureDataDir, ensureServingCertificate } from './data-dir.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';
import { TokenFileAuthenticator, ensureLocalTokenFile } from '../authenticate/token-file.js';
import { authenticate } from '../authenticate/middleware.js';
import type { Authenticator } from '../authenticate/identity.js';
import { ChainAuthenticator } from '../authenticate/chain.js';
import { OidcAuthenticator, type OidcAuthenticatorOptions } from '../authenticate/oidc/oidc-authenticator.js';
import { Metrics } from '../admin/metrics.js';
import { createAdminServer } from '../admin/admin-server.js';
import { openWritableStore } from '../store/open-store.js';
import type { RecordingStore } from '../store/store.js';
import { Recorder } from '../record/recorder.js';
import { DEFAULT_USER_DAILY_BYTES, RecordingLimits } from '../record/limits.js';
import { createClusterRoute, routeRequests, routeUpgrades } from './cluster-routes.js';
import { buildClusters } from '../clusters/build.js';
import { CLUSTER_PREFIX } from '../clusters/routing.js';
import type { RoleSessions } from '../credentials/role-sessions.js';
import { upstreamAgent, type Upstream } from '../model/upstream.js';
import { KubeconfigNotFoundError, kubeconfigPaths, loadKubeconfig, resolveUpstream } from '../kubeconfig/load.js';
import { UpstreamCredentials } from '../credentials/upstream-credentials.js';
import { buildProxyKubeconfig } from '../kubeconfig/proxy-kubeconfig.js';
import { probeUpstream } from './probe.js';
import { PolicyHolder } from '../authorize/policy/holder.js';
import { notifyApprovers } from '../authorize/approvals/notify.js';
import { openApprovalStore } from '../authorize/approvals/open.js';
import { createApprovalRoutes } from '../authorize/approvals/routes.js';
import { createConsole } from '../console/console.js';
import { openLoginStore } from '../console/login-stores.js';
import { createUiStatic } from '../console/ui-static.js';

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
  /** The upstream (the first cluster when several are configured). */
  upstream: Upstream;
  store: RecordingStore;
  /** The recorder of `upstream`. */
  recorder: Recorder;
  metrics: Metrics;
  /** The OIDC authenticator, when issuers are configured. */
  oidc?: OidcAuthenticator;
  /** Every cluster served (one unless `clusters:` is configured), with its recorder. */
  clusters: Array<{ upstream: Upstream; recorder: Recorder }>;
  /** Per-person AWS role sessions (EKS clusters). */
  roleSessions?: RoleSessions;
  /** The guardrail policy in force, when one is configured. */
  policy?: PolicyHolder;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this upstream instead of resolving one from a kubeconfig (tests, embedding). */
  upstream?: Upstream;
  /** Use this store instead of the local store in the data dir. */
  store?: RecordingStore;
  log?: (line: string) => void;
  /** Tuning of OIDC key fetching (tests shorten the cooldowns). */
  oidc?: OidcAuthenticatorOptions;
  /** How often a policy file is checked for changes (default 1000 ms). */
  policyPollMs?: number;
  /** What the data dir lock says is running there (default `serve`). */
  command?: string;
}

/**
 * Starts kubetape in `c.dataDir`, which it holds (DATA/kubetape.lock) until
 * close(): a second kubetape on the same data dir is refused before it
 * changes anything (DataDirLockedError). The data dir's ownership (the live
 * sessions' instance.json, the kubeconfig) is written only once both
 * listeners are bound, so a start that fails changes nothing a running
 * kubetape relies on.
 */
export async function startKubetape(c: ServeConfig, opts: StartOptions = {}): Promise<RunningKubetape> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const paths = ensureDataDir(c.dataDir);
  const lock = acquireDataDirLock(paths.root, { listen: c.listen, adminListen: c.adminListen, command: opts.command ?? 'serve' }, log);
  try {
    return await startHolding(c, opts, log, paths, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startHolding(
  c: ServeConfig,
  opts: StartOptions,
  log: (l: string) => void,
  paths: ReturnType<typeof ensureDataDir>,
  lock: DataDirLock,
): Promise<RunningKubetape> {
  const listen = parseHostPort(c.listen, 'listen');
  const admin = parseHostPort(c.adminListen, 'adminListen');

  // A broken policy file stops startup: running without the guardrails an operator asked for is worse.
  const policy = c.policyFile ? PolicyHolder.fromFile(c.policyFile, log, opts.policyPollMs) : c.policy ? PolicyHolder.fixed(c.policy) : undefined;
  const multiCluster = !opts.upstream && (c.clusters?.length ?? 0) > 0;
  const built = multiCluster ? await buildClusters(c, log) : undefined;
  const upstreams = built ? built.upstreams : [opts.upstream ?? resolveConfiguredUpstream(c, log)];
  const upstream = upstreams[0];
  let tls;
  try {
    tls = await loadServingTls(c, paths, listen.host);
  } catch (err) {
    built?.close();
    throw err;
  }

  let localToken: string | undefined;
  const issuers = c.authentication?.oidc ?? [];
  let tokenFile = c.authentication?.tokenFile ?? c.tokenFile;
  // With OIDC, people log in; a token for the OS user would be a way around that.
  if (!tokenFile && issuers.length === 0) {
    tokenFile = paths.tokens;
    localToken = ensureLocalTokenFile(tokenFile, userInfo().username, ['kubetape:local']).token;
  }
  const oidc = issuers.length > 0 ? new OidcAuthenticator(issuers, opts.oidc) : undefined;
  const authenticator: Authenticator = new ChainAuthenticator(tokenFile ? new TokenFileAuthenticator(tokenFile) : undefined, oidc);

  const metrics = new Metrics();
  const store = opts.store ?? (await openWritableStore({ dataDir: paths.root, recording: c.recording, metrics, log }));
  // The disk's reserve and each person's daily budget, and whether recording works now (readiness).
  const limits = new RecordingLimits({
    dataDir: paths.root,
    diskReserveBytes: c.recording.diskReserveBytes,
    userDailyBytes: c.recording.userDailyBytes ?? DEFAULT_USER_DAILY_BYTES,
    failMode: c.recording.failMode,
  });
  const agent = upstreamAgent();
  // Approval state lives with the recordings (data dir or DynamoDB table), so kubetape processes sharing them agree.
  const approvals = policy ? await openApprovalStore({ file: paths.approvals, recording: c.recording }) : undefined;
  if (approvals && policy) {
    approvals.onRequested = (s) => {
      const webhook = policy.current.approvals?.webhook;
      if (webhook) void notifyApprovers(webhook, s, { log, onFailure: () => metrics.approvalWebhookFailures.inc() });
    };
  }
  const routes = upstreams.map((u) =>
    createClusterRoute(u, { config: c, store, authenticator, metrics, agent, log, limits, ...(policy ? { policy } : {}), ...(approvals ? { approvals } : {}) }),
  );
  const recorder = routes[0].recorder;

  // A plain handler chain, not express: express cost about a quarter of kubetape's CPU per small GET (request-chain.ts).
  // The console (sessions API, browser login, UI files): its front runs before authentication (a login
  // cookie authenticates only kubetape's own paths), its API after; nothing under /kubetape/ is forwarded.
  // Browser logins live with the recordings too, so a restart or another replica keeps them.
  const logins = await openLoginStore({ file: paths.consoleLogins, recording: c.recording });
  const consoleApp = createConsole({
    config: c,
    logins,
    dataDir: paths.root,
    store,
    recorder,
    authenticator,
    ui: createUiStatic(),
    ...(policy ? { policy } : {}),
    log,
  });
  const authenticated = authenticate(authenticator, metrics);
  const handlers: RequestHandler[] = [parseTargets(), consoleApp.front, (req, res, next) => (res.locals['identity'] ? next() : authenticated(req, res, next))];
  if (approvals) handlers.push(approvalRoutesApp(createApprovalRoutes(approvals, recorder)));
  handlers.push(consoleApp.routes, consoleApp.notFound);
  handlers.push(multiCluster ? routeRequests(routes) : routes[0].rest);
  const app = requestChain(handlers, log);

  const server: HttpsServer = createHttpsServer({ cert: tls.cert, key: tls.key, ALPNProtocols: ['http/1.1'] }, app);
  // Watches and follows may stay quiet for minutes; Node's defaults would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const upgrades: UpgradeHandler = multiCluster ? routeUpgrades(routes) : (req, socket, head, target) => void routes[0].upgrade(req, socket, head, target);
  server.on('upgrade', parseUpgradeTargets(upgrades));
  // What node's HTTP parser itself refuses (control or non-ASCII bytes in the request line,
  // a malformed head) gets a Status too, instead of node's bare 400.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const adminServer = createAdminServer(
    metrics,
    [
      { name: 'recording store', check: async () => void (store.ready ? await store.ready() : await store.listSessions({ limit: 1 })) },
      { name: 'recording', check: () => limits.ready() },
      ...upstreams.map((u) => ({ name: multiCluster ? `cluster ${u.name}` : 'upstream', check: () => probeUpstream(u, agent) })),
    ],
    () => routes.reduce((n, r) => n + r.recorder.activeSessions, 0),
  );
  let url: string;
  let adminUrl: string;
  try {
    // Anything failing from here on must not leave a listener, the store or a recorder open
    // (the process would never exit, a test would leak them).
    await listenOn(server, listen.host, listen.port);
    url = `https://${urlHost(listen.host)}:${(server.address() as AddressInfo).port}`;
    await listenOn(adminServer, admin.host, admin.port);
    adminUrl = `http://${urlHost(admin.host)}:${(adminServer.address() as AddressInfo).port}`;
    // Both listeners are bound: only now does this process take the data dir's live sessions and kubeconfig.
    lock.update({ url, adminUrl });
    store.claim?.();
    if (localToken) {
      writeFileSync(
        paths.kubeconfig,
        buildProxyKubeconfig({
          server: multiCluster ? `${url}${CLUSTER_PREFIX}${upstream.name}` : url,
          caPem: tls.ca,
          token: localToken,
          contextName: 'kubetape',
          clusterName: 'kubetape',
          ...(upstream.namespace ? { namespace: upstream.namespace } : {}),
        }),
        { mode: 0o600 },
      );
    }
  } catch (err) {
    policy?.close();
    server.close();
    adminServer.close();
    for (const r of routes) r.upgrade.close();
    await Promise.all(routes.map((r) => r.recorder.close()));
    await store.close();
    limits.close();
    approvals?.close();
    logins.close();
    agent.destroy();
    built?.close();
    throw err;
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
    clusters: routes.map((r) => ({ upstream: r.upstream, recorder: r.recorder })),
    ...(built?.sessions ? { roleSessions: built.sessions } : {}),
    metrics,
    ...(oidc ? { oidc } : {}),
    ...(policy ? { policy } : {}),
    close: () =>
      (closing ??= (async () => {
        policy?.close();
        server.close();
        adminServer.close();
        for (const r of routes) r.upgrade.close();
        // Open watches would hold close() forever: end them; their records are finished by the recorder.
        for (const s of sockets) s.destroy();
        await Promise.all(routes.map((r) => r.recorder.close()));
        await store.close();
        limits.close();
        approvals?.close();
        logins.close();
        agent.destroy();
        built?.close();
        lock.release();
      })()),
  };
}

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const code = tooLarge ? 431 : 400;
  const body = JSON.stringify(
    statusObject(
      code,
      tooLarge
        ? 'kubetape: the request head is too large'
        : `kubetape could not parse the request: ${err.code ?? 'malformed'}; the request line must be an origin-form target of printable ASCII`,
      tooLarge ? 'RequestHeaderFieldsTooLarge' : 'BadRequest',
    ),
  );
  socket.end(
    `HTTP/1.1 ${code} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** kubetape's own API (/kubetape/..., also under /clusters/NAME/): never forwarded. */
const OWN_API = /^(?:\/clusters\/[^/]+)?\/kubetape\//;

/**
 * kubetape's own API routes (approvals) run in an express app, whose
 * response helpers they use. Only requests to those paths enter it: express
 * re-prototypes every request it sees, which the data path cannot afford.
 */
function approvalRoutesApp(routes: RequestHandler): RequestHandler {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false); // kubetape reads raw query strings
  app.use(routes);
  const handle = app as unknown as RequestHandler;
  return (req, res, next) => (OWN_API.test(req.originalUrl) ? handle(req, res, next) : next());
}

function resolveConfiguredUpstream(c: ServeConfig, log: (l: string) => void): Upstream {
  let cfg;
  try {
    cfg = loadKubeconfig(kubeconfigPaths(c.kubeconfig));
  } catch (e) {
    if (!(e instanceof KubeconfigNotFoundError)) throw e;
    // The first thing a newcomer without a cluster sees: say what to do next.
    throw new KubeconfigNotFoundError(
      `${e.message}; kubetape records in front of a cluster: give its kubeconfig with --kubeconfig FILE (and --context NAME), ` +
        'or try kubetape without a cluster: `kubetape dev` starts it in front of a built-in, in-memory test API',
    );
  }
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
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `${host}:${port} is already in use (another kubetape?); choose another with --listen / --admin-listen`
            : `cannot listen on ${host}:${port}: ${err.message}`,
        ),
      );
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
