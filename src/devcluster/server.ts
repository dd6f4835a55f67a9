// The built-in Kubernetes API server: the tests' faithful fake
// kube-apiserver and what `kubetape dev` runs. In memory, one process:
// discovery, tables, watch, logs, OpenAPI for apply, server-side apply, and
// exec/attach/port-forward into local processes (streams/). Not a cluster.
//
// The listener: HTTPS (HTTP/1.1), authentication, impersonation,
// authorization, the request log, routing, and upgrades handed to a hook.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createLoopbackTls } from '../listen/tls.js';
import { authenticate, type AuthConfig, type AuthResult } from './auth.js';
import { sendStatus, type RequestCtx, type ServerState } from './context.js';
import { resolveDef, serveResource } from './dispatch.js';
import { ApiError, badRequest, internalError, notFound, status, tooLarge, unauthorized } from './errors.js';
import { IpAllocator } from './kinds.js';
import { LogSource, resolveContainer } from './logs.js';
import { serveNonResource } from './nonresource.js';
import { ObjectStore } from './objects.js';
import { OpenApi } from './openapi.js';
import { Authorizer, impersonate, type Attributes, type Identity } from './rbac.js';
import { gr } from './read.js';
import { parseResourcePath } from './routes.js';
import { seedCluster } from './seed.js';
import type { ApiServerOptions, KubeObject, ReceivedRequest, UpgradeHandler, UpgradeRequest } from './types.js';
import { rejectUpgrade, UPGRADE_SUBRESOURCES } from './upgrade.js';
import { StreamRuntime, type StreamProtocols, type StreamSessionLog } from './streams/index.js';

export interface ApiServer {
  /** https://127.0.0.1:PORT */
  url: string;
  port: number;
  /** PEM of the CA that signed the serving certificate. */
  ca: string;
  /** Every request, in arrival order (bodies capped at 1 MiB). */
  received: ReceivedRequest[];
  objects: ObjectStore;
  logs: LogSource;
  /** Handler for exec/attach/portforward upgrades; settable at any time. */
  upgradeHandler: UpgradeHandler | undefined;
  /** Sessions the default upgrade handler ran (exec, attach, port-forward), in arrival order. */
  streams: StreamSessionLog[];
  /** What the default handler accepts; change it at any time (e.g. websocket=false to force SPDY fallback). */
  streamProtocols: StreamProtocols;
  /** Resolves once every stream session started so far has ended; rejects after timeoutMs (default 10 s). */
  streamsSettled(timeoutMs?: number): Promise<void>;
  /** The directory a pod's exec/attach processes run in (created on demand). */
  podDir(namespace: string, pod: string): string;
  /** Closes the listener and every open connection, watch and log stream. */
  close(): Promise<void>;
}

const MAX_BODY = 3 * 1024 * 1024;
const LOG_BODY_CAP = 1024 * 1024;
const DEFAULT_USERS = [{ token: 'admin-token', user: 'admin', groups: ['system:masters'] }];

function flattenHeaders(req: IncomingMessage): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(req.headersDistinct)) out[k] = v && v.length === 1 ? v[0] : v;
  return out;
}

function newRecord(req: IncomingMessage): ReceivedRequest {
  return { time: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: flattenHeaders(req), body: '' };
}

/**
 * Authentication plus impersonation: the identity the request acts as.
 * Synchronous unless an EKS token has to be checked with STS, so every other
 * request is handled in the same tick it arrived, as before.
 */
function identify(req: IncomingMessage, auth: AuthConfig, authz: Authorizer, record: ReceivedRequest): Identity | Promise<Identity> {
  const finish = (who: AuthResult): Identity => {
    if (who === 'none' || who === 'invalid') throw unauthorized();
    record.authenticatedUser = who.user;
    const acting = impersonate(req.headersDistinct, who, authz) ?? who;
    record.user = acting.user;
    record.groups = acting.groups;
    return acting;
  };
  const who = authenticate(req, auth);
  return who instanceof Promise ? who.then(finish) : finish(who);
}

function attributesFor(method: string, url: URL): { attrs: Attributes; resource?: ReturnType<typeof parseResourcePath> } {
  const r = parseResourcePath(method, url.pathname, url.searchParams);
  if (!r) return { attrs: { resourceRequest: false, verb: method.toLowerCase(), path: url.pathname } };
  return {
    attrs: { resourceRequest: true, verb: r.verb, apiGroup: r.group, resource: r.resource, subresource: r.subresource, namespace: r.namespace, name: r.name },
    resource: r,
  };
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  let tls = opts.tls;
  if (!tls) {
    const made = await createLoopbackTls('fake-kube-apiserver');
    tls = { cert: made.server.cert, key: made.server.key, ca: made.ca.cert };
  }
  const minor = opts.minor ?? '32';
  const store = new ObjectStore(new IpAllocator());
  const logs = new LogSource();
  const authz = new Authorizer(opts.rbac ?? []);
  const auth: AuthConfig = { users: opts.users ?? DEFAULT_USERS, clientCerts: !!opts.clientCa, anonymous: opts.anonymous ?? false };
  if (opts.tokenAuthenticators) auth.tokenAuthenticators = opts.tokenAuthenticators;
  const received: ReceivedRequest[] = [];
  const recording = opts.recordRequests ?? true;
  const streamProtocols: StreamProtocols = { websocket: true, spdy: true, ...opts.streamProtocols };
  const streamRuntime =
    opts.streams === false
      ? undefined
      : new StreamRuntime({
          logs,
          protocols: streamProtocols,
          portForwardTarget: opts.portForwardTarget,
          attachCommand: opts.attachCommand,
          podDirPrefix: opts.podDirPrefix,
        });
  const flowSchemaUid = randomUUID();
  const priorityLevelUid = randomUUID();
  const state: ServerState = {
    store,
    logs,
    authz,
    openapi: new OpenApi(minor),
    minor,
    ...(opts.gitVersion ? { gitVersion: opts.gitVersion } : {}),
    aggregatedDiscovery: opts.aggregatedDiscovery ?? true,
    compression: opts.compression ?? true,
    podTerminationMs: opts.podTerminationMs ?? 0,
    serverAddress: '127.0.0.1:0',
    timers: new Set(),
    streams: new Set(),
    upgradeHandler: opts.upgradeHandler ?? streamRuntime?.handler,
    closed: false,
  };
  seedCluster(store);

  const server: Server = createServer({
    cert: tls.cert,
    key: tls.key,
    ...(opts.clientCa ? { ca: opts.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    ALPNProtocols: ['http/1.1'],
  });
  // Go clients keep idle connections ~90 s; closing them after Node's default 5 s
  // races with a reused connection and fails non-idempotent requests.
  server.keepAliveTimeout = 90_000;
  server.headersTimeout = 95_000;
  const sockets = new Set<Duplex>();
  server.on('secureConnection', (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  server.on('clientError', (_err, socket) => socket.destroy());

  const commonHeaders = (res: ServerResponse): void => {
    res.setHeader('Audit-Id', randomUUID());
    res.setHeader('Cache-Control', 'no-cache, private');
    res.setHeader('X-Kubernetes-Pf-Flowschema-Uid', flowSchemaUid);
    res.setHeader('X-Kubernetes-Pf-Prioritylevel-Uid', priorityLevelUid);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    if (err instanceof ApiError) {
      sendStatus(req, res, err.status, state.compression);
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${opts.name ?? 'api-server'}: ${req.method} ${req.url}: ${err instanceof Error ? err.stack : message}\n`);
    if (res.headersSent) res.destroy();
    else sendStatus(req, res, internalError(message).status, state.compression);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, record: ReceivedRequest, body: Buffer): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      const who = identify(req, auth, authz, record);
      const id = who instanceof Promise ? await who : who;
      const { attrs, resource } = attributesFor(req.method ?? 'GET', url);
      authz.check(id, attrs);
      const ctx: RequestCtx = { req, res, url, query: url.searchParams, id, body, state, record };
      if (resource) serveResource(ctx, resource);
      else serveNonResource(ctx);
    } catch (err) {
      fail(req, res, err);
    }
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const record = newRecord(req);
    if (recording) received.push(record);
    const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
    (res as unknown as { writeHead: (...a: unknown[]) => ServerResponse }).writeHead = (...args: unknown[]) => {
      const r = writeHead(...args);
      record.status = res.statusCode;
      return r;
    };
    commonHeaders(res);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        tooBig = true;
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      record.rawBody = body.subarray(0, LOG_BODY_CAP);
      record.body = record.rawBody.toString('utf8');
      if (tooBig) {
        sendStatus(req, res, tooLarge(MAX_BODY).status, false);
        return;
      }
      if (state.closed) {
        res.destroy();
        return;
      }
      void handle(req, res, record, body);
    });
  });

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const record = newRecord(req);
    if (recording) received.push(record);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reject = (s: ReturnType<typeof status>): void => {
      record.status = s.code;
      rejectUpgrade(socket, s);
    };
    try {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      const who = identify(req, auth, authz, record);
      const id = who instanceof Promise ? await who : who;
      const method = req.method ?? 'GET';
      const { attrs, resource: r } = attributesFor(method, url);
      authz.check(id, attrs);
      if (!r || !r.subresource || !UPGRADE_SUBRESOURCES.has(r.subresource) || r.resource !== 'pods') {
        throw badRequest(`upgrade to ${String(req.headers.upgrade)} is not supported for ${url.pathname}`);
      }
      // Since 1.30 a websocket GET must also be allowed to create the subresource.
      if (attrs.resourceRequest && attrs.verb === 'get') authz.check(id, { ...attrs, verb: 'create' });
      const d = resolveDef(r);
      const pod = store.lookup(d, r.namespace, r.name as string);
      if (!pod) throw notFound(gr(d), r.name as string);
      let container: string | undefined;
      if (r.subresource !== 'portforward') {
        container = resolveContainer(pod, url.searchParams.get('container'));
        if (r.subresource === 'exec' && url.searchParams.getAll('command').length === 0) throw badRequest('you must specify at least 1 command');
      }
      const handler = state.upgradeHandler;
      const u: UpgradeRequest = {
        req,
        socket,
        head,
        subresource: r.subresource as UpgradeRequest['subresource'],
        namespace: String(r.namespace),
        pod: JSON.parse(JSON.stringify(pod)) as KubeObject,
        container,
        query: url.searchParams,
        user: id.user,
        groups: id.groups,
        record,
      };
      if (handler && handler(u)) return;
      throw badRequest(`${r.subresource} is not implemented by this test API server (no upgrade handler accepted the request)`);
    } catch (err) {
      if (err instanceof ApiError) reject(err.status);
      else reject(internalError(err instanceof Error ? err.message : String(err)).status);
    }
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void onUpgrade(req, socket, head);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  state.serverAddress = `127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  const api: ApiServer = {
    url: `https://127.0.0.1:${port}`,
    port,
    ca: tls.ca,
    received,
    objects: store,
    logs,
    get upgradeHandler() {
      return state.upgradeHandler;
    },
    set upgradeHandler(h: UpgradeHandler | undefined) {
      state.upgradeHandler = h;
    },
    streams: streamRuntime?.log.sessions ?? [],
    streamProtocols,
    streamsSettled: (timeoutMs?: number) => streamRuntime?.log.settled(timeoutMs) ?? Promise.resolve(),
    podDir(namespace: string, pod: string): string {
      if (!streamRuntime) throw new Error('podDir: this server runs without the default stream handler (streams: false)');
      return streamRuntime.podDir(namespace, pod);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        state.closed = true;
        const runtimeClosed = streamRuntime?.close() ?? Promise.resolve();
        for (const t of state.timers) clearTimeout(t);
        state.timers.clear();
        logs.closeAll();
        for (const res of state.streams) res.destroy();
        state.streams.clear();
        server.close(() => void runtimeClosed.then(resolve, resolve));
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
  return api;
}
