// The default upgrade handler: exec, attach and port-forward the way a
// cluster answers them (API server + kubelet + containerd), over WebSocket
// and SPDY, with real local processes, and a log of every session.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { acceptSpdyUpgrade, isSpdyUpgrade, negotiateStreamProtocol, offeredStreamProtocols, SpdyConnection } from '../../forward/spdy/index.js';
import { status as kubeStatus } from '../errors.js';
import type { LogSource } from '../logs.js';
import type { KubeObject, UpgradeHandler, UpgradeRequest } from '../types.js';
import { rejectUpgrade } from '../upgrade.js';
import { DEFAULT_MAIN_PROCESS, MainProcesses, runAttach } from './attach.js';
import type { CommandFlags, CommandStreams } from './command-streams.js';
import { collectStreams, expectedStreamTypes, spdyCommandStreams } from './exec-spdy.js';
import { websocketCommandStreams } from './exec-websocket.js';
import type { RunningCommand } from './exec-runtime.js';
import { runExec, type SessionEnd } from './exec-session.js';
import { servePortForwardSpdy } from './portforward-spdy.js';
import { PortForwardTargets, type PortForwardTargetFn } from './portforward-targets.js';
import { queryPorts, servePortForwardWebSocket } from './portforward-websocket.js';
import {
  chooseExecWebSocketProtocol,
  choosePortForwardWebSocketProtocol,
  isWebSocketUpgrade,
  offeredWebSocketProtocols,
  queryFlag,
  SPDY_EXEC_PROTOCOLS,
  SPDY_PORT_FORWARD_PROTOCOLS,
  V1,
} from './protocols.js';
import { SessionLog, type StreamSessionLog } from './session-log.js';
import { websocketDuplex } from './websocket-duplex.js';
import { WebSocketAcceptor } from './websocket-accept.js';

export interface StreamProtocols {
  /** Accept WebSocket upgrades (default true); false answers them 400, like a server or proxy without WebSocket support. */
  websocket: boolean;
  /** Accept SPDY/3.1 upgrades (default true). */
  spdy: boolean;
}

/** The argv of a container's main process (what attach attaches to); undefined = the default echo loop. */
export type AttachCommandFn = (pod: KubeObject, container: string) => string[] | undefined;

export interface StreamRuntimeOptions {
  logs: LogSource;
  /** Read on every upgrade, so tests may flip it while the server runs. */
  protocols: StreamProtocols;
  portForwardTarget?: PortForwardTargetFn;
  attachCommand?: AttachCommandFn;
  /** How long the SPDY side waits for the client's streams (kubelet default 30 s). */
  streamCreationTimeoutMs?: number;
  /** Name prefix of the temporary directory holding the pods' directories (default `kubetape-pods-`). */
  podDirPrefix?: string | undefined;
}

const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class StreamRuntime {
  readonly log = new SessionLog();
  readonly handler: UpgradeHandler = (u) => this.handle(u);
  private rootDir: string | undefined;
  private readonly acceptor = new WebSocketAcceptor();
  private readonly targets: PortForwardTargets;
  private readonly mains: MainProcesses;
  private readonly processes = new Set<RunningCommand>();
  private readonly connections = new Set<{ destroy(): void }>();
  private closed = false;

  constructor(private readonly opts: StreamRuntimeOptions) {
    this.targets = new PortForwardTargets(opts.portForwardTarget);
    this.mains = new MainProcesses({
      cwd: (ns, pod) => this.podDir(ns, pod),
      env: (pod, tty) => this.env(pod, tty),
      argv: (pod, container) => opts.attachCommand?.(pod, container) ?? DEFAULT_MAIN_PROCESS,
      logs: opts.logs,
      track: (p) => this.track(p),
    });
  }

  /** The pod's working directory: exec and attach processes run here (kubectl cp with relative paths lands here). */
  podDir(namespace: string, pod: string): string {
    this.rootDir ??= mkdtempSync(join(tmpdir(), this.opts.podDirPrefix ?? 'kubetape-pods-'));
    const dir = join(this.rootDir, namespace, pod);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Kills every process, drops every connection, removes the pod directories. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections) c.destroy();
    for (const p of this.processes) p.kill();
    this.acceptor.close();
    await this.targets.close();
    await Promise.all([...this.processes].map((p) => p.exited));
    this.log.abortAll();
    if (this.rootDir) rmSync(this.rootDir, { recursive: true, force: true });
  }

  private handle(u: UpgradeRequest): boolean {
    if (this.closed) return false;
    const websocket = isWebSocketUpgrade(u.req);
    const spdy = !websocket && isSpdyUpgrade(u.req);
    if (!websocket && !spdy) {
      this.refuse(u, 400, `unable to upgrade: unsupported upgrade protocol ${JSON.stringify(String(u.req.headers.upgrade ?? ''))}`);
      return true;
    }
    if ((websocket && !this.opts.protocols.websocket) || (spdy && !this.opts.protocols.spdy)) {
      this.refuse(u, 400, `${websocket ? 'WebSocket' : 'SPDY'} upgrades are not accepted by this server`);
      return true;
    }
    if (u.subresource === 'portforward') this.portForward(u, websocket);
    else this.command(u, websocket);
    return true;
  }

  // ---- exec / attach ----

  private command(u: UpgradeRequest, websocket: boolean): void {
    const q = u.query;
    const tty = queryFlag(q, 'tty');
    const flags: CommandFlags = { stdin: queryFlag(q, 'stdin'), stdout: queryFlag(q, 'stdout'), stderr: queryFlag(q, 'stderr') && !tty, tty };
    if (!flags.stdin && !flags.stdout && !queryFlag(q, 'stderr')) {
      this.refuse(u, 400, 'you must specify at least 1 of stdin, stdout, stderr');
      return;
    }
    if (websocket) {
      const offered = offeredWebSocketProtocols(u.req);
      const choice = chooseExecWebSocketProtocol(offered);
      if (!choice) {
        this.refuse(u, 403, `requested protocol(s) are not supported: [${offered.join(' ')}]`);
        return;
      }
      this.acceptor.accept(u.req, u.socket, u.head, choice.protocol, (ws) => {
        u.record.status = 101;
        this.runCommand(u, websocketCommandStreams(ws, choice, flags), flags);
      });
      return;
    }
    const offered = offeredStreamProtocols(u.req);
    // Clients that offer nothing predate negotiation: protocol v1.
    const protocol = offered.length === 0 ? '' : negotiateStreamProtocol(u.req, SPDY_EXEC_PROTOCOLS);
    if (protocol === undefined) {
      this.refuseNegotiation(u, offered, SPDY_EXEC_PROTOCOLS);
      return;
    }
    const conn = this.acceptSpdy(u, protocol);
    const log = this.startLog(u, 'spdy', protocol, flags);
    const waiting = { destroy: () => conn.destroy() };
    this.connections.add(waiting);
    collectStreams(conn, expectedStreamTypes(flags, protocol || V1), this.streamCreationTimeout)
      .then(
        (streams) => this.runCommand(u, spdyCommandStreams(conn, protocol, streams), flags, log),
        () => {
          conn.destroy();
          this.log.finish(log, 'aborted');
        },
      )
      .finally(() => this.connections.delete(waiting));
  }

  private runCommand(u: UpgradeRequest, streams: CommandStreams, flags: CommandFlags, existing?: StreamSessionLog): void {
    const log = existing ?? this.startLog(u, streams.transport, streams.protocol, flags);
    const entry = { destroy: () => streams.destroy() };
    this.connections.add(entry);
    let run: Promise<SessionEnd>;
    if (u.subresource === 'exec') {
      log.command = u.query.getAll('command');
      const host = { cwd: this.podDir(u.namespace, podName(u)), env: this.env(u.pod, flags.tty), track: (p: RunningCommand) => this.track(p) };
      run = runExec(streams, log.command, flags, host, log);
    } else {
      const main = this.mains.get(u.pod, u.container ?? '');
      log.command = main.argv;
      run = runAttach(streams, main, flags, log);
    }
    run
      .then(
        (end) => this.log.finish(log, this.closed ? 'aborted' : end),
        () => this.log.finish(log, 'aborted'),
      )
      .finally(() => this.connections.delete(entry));
  }

  // ---- port-forward ----

  private portForward(u: UpgradeRequest, websocket: boolean): void {
    if (!websocket) {
      const offered = offeredStreamProtocols(u.req);
      const protocol = negotiateStreamProtocol(u.req, SPDY_PORT_FORWARD_PROTOCOLS);
      if (protocol === undefined) {
        this.refuseNegotiation(u, offered, SPDY_PORT_FORWARD_PROTOCOLS);
        return;
      }
      const conn = this.acceptSpdy(u, protocol);
      this.servePortForwardSpdy(u, conn, 'spdy', protocol);
      return;
    }
    const offered = offeredWebSocketProtocols(u.req);
    const choice = choosePortForwardWebSocketProtocol(offered);
    if (!choice) {
      this.refuse(u, 403, `requested protocol(s) are not supported: [${offered.join(' ')}]`);
      return;
    }
    let ports: number[] = [];
    if (!choice.tunnel) {
      try {
        ports = queryPorts(u.query);
      } catch (err) {
        this.refuse(u, 400, (err as Error).message);
        return;
      }
    }
    this.acceptor.accept(u.req, u.socket, u.head, choice.protocol, (ws) => {
      u.record.status = 101;
      if (choice.tunnel) {
        const conn = new SpdyConnection(websocketDuplex(ws), { role: 'server' });
        this.servePortForwardSpdy(u, conn, 'websocket-tunnel', choice.protocol);
        return;
      }
      const log = this.startLog(u, 'websocket', choice.protocol);
      const entry = { destroy: () => ws.terminate() };
      this.connections.add(entry);
      servePortForwardWebSocket(ws, choice, ports, { pod: u.pod, targets: this.targets, log })
        .then(
          (end) => this.log.finish(log, this.closed ? 'aborted' : end),
          () => this.log.finish(log, 'aborted'),
        )
        .finally(() => this.connections.delete(entry));
    });
  }

  private servePortForwardSpdy(u: UpgradeRequest, conn: SpdyConnection, transport: 'spdy' | 'websocket-tunnel', protocol: string): void {
    const log = this.startLog(u, transport, protocol);
    const entry = { destroy: () => conn.destroy() };
    this.connections.add(entry);
    void servePortForwardSpdy(conn, { pod: u.pod, targets: this.targets, log, streamCreationTimeoutMs: this.streamCreationTimeout }).then(() => {
      // Port-forward sessions end when the client closes the connection.
      this.log.finish(log, this.closed ? 'aborted' : 'client-closed');
      this.connections.delete(entry);
    });
  }

  // ---- helpers ----

  private get streamCreationTimeout(): number {
    return this.opts.streamCreationTimeoutMs ?? 30_000;
  }

  private acceptSpdy(u: UpgradeRequest, protocol: string): SpdyConnection {
    u.record.status = 101;
    const conn = acceptSpdyUpgrade(u.req, u.socket, u.head, protocol);
    conn.on('error', () => undefined);
    return conn;
  }

  private startLog(u: UpgradeRequest, transport: StreamSessionLog['transport'], protocol: string, flags?: CommandFlags): StreamSessionLog {
    return this.log.start({
      subresource: u.subresource,
      namespace: u.namespace,
      pod: podName(u),
      container: u.container,
      user: u.user,
      transport,
      protocol,
      ...flags,
    });
  }

  private env(pod: KubeObject, tty: boolean): Record<string, string> {
    const ns = String(pod.metadata.namespace ?? 'default');
    const name = String(pod.metadata.name);
    return { PATH: CONTAINER_PATH, HOSTNAME: name, HOME: this.podDir(ns, name), ...(tty ? { TERM: 'xterm' } : {}) };
  }

  private track(p: RunningCommand): void {
    this.processes.add(p);
    void p.exited.then(() => this.processes.delete(p));
    if (this.closed) p.kill();
  }

  private refuse(u: UpgradeRequest, code: number, message: string): void {
    u.record.status = code;
    const reason = code === 403 ? 'Forbidden' : code === 400 ? 'BadRequest' : (STATUS_CODES[code] ?? '').replace(/\s/g, '');
    rejectUpgrade(u.socket, kubeStatus(code, reason, message));
  }

  // httpstream.Handshake's refusal: plain text, and the versions the server accepts.
  private refuseNegotiation(u: UpgradeRequest, offered: string[], supported: string[]): void {
    u.record.status = 403;
    const body = `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]\n`;
    writePlain(
      u.socket,
      403,
      body,
      supported.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`),
    );
  }
}

function podName(u: UpgradeRequest): string {
  return String(u.pod.metadata.name);
}

function writePlain(socket: Duplex, code: number, body: string, extraHeaders: string[]): void {
  const head = [
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    'X-Content-Type-Options: nosniff',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...extraHeaders,
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}
