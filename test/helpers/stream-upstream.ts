// A small kubelet for the fake API server's upgrade hook: exec and attach
// over WebSocket (v5, v4, channel.k8s.io) and SPDY/3.1 (v5..v1), running
// real local processes (a real pty through python3 for tty), and
// port-forward over SPDY and the SPDY-in-WebSocket tunnel to a local echo
// server. It ends SPDY sessions the kubelet's way: Status on the error
// stream, then a reset of every stream. Options make it refuse WebSocket
// upgrades (a SPDY-only cluster) so kubetape's fallback is exercised.
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Writable } from 'node:stream';
import WebSocket, { WebSocketServer, createWebSocketStream } from 'ws';
import { SpdyConnection } from '../../src/forward/spdy/connection.js';
import type { SpdyStream } from '../../src/forward/spdy/stream.js';
import { acceptSpdyUpgrade, negotiateStreamProtocol } from '../../src/forward/spdy/upgrade.js';
import type { UpgradeHandler, UpgradeRequest } from '../fake-apiserver/types.js';

export interface StreamUpstreamOptions {
  /**
   * false: refuse WebSocket upgrades with 400 (a cluster that speaks only SPDY).
   * 'no-subprotocol': complete them with no subprotocol (a proxy that mangles the header). Default true.
   */
  webSocket?: boolean | 'no-subprotocol';
  /** What `attach` attaches to (the container's main process). Default: cat. */
  attachCommand?: string[];
}

export interface UpgradeSeen {
  subresource: string;
  transport: 'websocket' | 'spdy';
  protocol: string;
  authorization: string | undefined;
  impersonation: string[];
}

export interface StreamUpstream {
  handler: UpgradeHandler;
  /** Every upgrade accepted, in order. */
  seen: UpgradeSeen[];
  /** Terminal sizes the pty was given, in order. */
  resizes: Array<{ Width: number; Height: number }>;
  /** Port of the local echo server every pod port forwards to. */
  echoPort: number;
  /** Processes still running in the fake pods. */
  running(): number;
  /** Drops every open session abruptly and kills its process (the cluster dies). */
  killAll(): void;
  close(): Promise<void>;
}

const EXEC_WS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'];
const EXEC_SPDY = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const TUNNEL = 'SPDY/3.1+portforward.k8s.io';

// Runs argv under a pty; fd 3 carries resize lines ({"Width":..,"Height":..}).
const PTY_SCRIPT = String.raw`
import os, pty, sys, select, json, fcntl, termios, struct
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def size(w, h):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', h, w, 0, 0))
size(80, 24)
fds = [0, fd, 3]
buf = b''
while True:
    r, _, _ = select.select(fds, [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 65536)
        if data:
            os.write(fd, data)
        else:
            fds.remove(0)
    if 3 in r:
        data = os.read(3, 4096)
        if not data:
            fds.remove(3)
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            try:
                s = json.loads(line)
                size(int(s['Width']), int(s['Height']))
            except Exception:
                pass
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else (status >> 8))
`;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

interface Proc {
  child: ChildProcess;
  kill(): void;
  resize?: Writable;
  /** Resolves with the exit code once the process ended and its output is drained. */
  exited: Promise<number>;
}

/**
 * Output goes to `onOutput`, which returns a promise when the connection is
 * congested: the process's pipes are paused until it settles, as a blocking
 * write in the kubelet would stall the container.
 */
type OutputSink = (stream: 'stdout' | 'stderr', c: Buffer) => Promise<void> | undefined;

function runProcess(argv: string[], tty: boolean, onOutput: OutputSink): Proc {
  // Each "container" is its own process group, so killing it kills everything it started.
  const child = tty
    ? spawn('python3', ['-c', PTY_SCRIPT, ...argv], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], detached: true })
    : spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin?.on('error', () => undefined);
  for (const [pipe, name] of [
    [child.stdout, 'stdout'],
    [child.stderr, tty ? 'stdout' : 'stderr'],
  ] as const) {
    pipe?.on('data', (c: Buffer) => {
      const congested = onOutput(name, c);
      if (!congested) return;
      pipe.pause();
      void congested.then(() => pipe.resume());
    });
  }
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
  });
  const p: Proc = { child, exited, kill: () => killGroup(child) };
  if (tty) {
    const resize = child.stdio[3] as Writable;
    resize.on('error', () => undefined);
    p.resize = resize;
  }
  return p;
}

function statusJson(code: number, argv: string[]): string {
  if (code === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}

function statusText(code: number, argv: string[]): string {
  return code === 0 ? '' : `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`;
}

function flag(q: URLSearchParams, name: string): boolean {
  return ['true', '1'].includes(q.get(name) ?? '');
}

export async function startStreamUpstream(opts: StreamUpstreamOptions = {}): Promise<StreamUpstream> {
  const seen: UpgradeSeen[] = [];
  const resizes: Array<{ Width: number; Height: number }> = [];
  const procs = new Set<ChildProcess>();
  const closers = new Set<() => void>();

  const echo = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as net.AddressInfo).port;

  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 64 * 1024 * 1024 });
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    const p = chosen.get(req);
    if (p) headers.push(`Sec-WebSocket-Protocol: ${p}`);
  });

  const argvOf = (u: UpgradeRequest): string[] => (u.subresource === 'exec' ? u.query.getAll('command') : (opts.attachCommand ?? ['cat']));

  function start(u: UpgradeRequest, onOutput: OutputSink): Proc {
    const p = runProcess(argvOf(u), flag(u.query, 'tty'), onOutput);
    procs.add(p.child);
    p.child.on('close', () => procs.delete(p.child));
    return p;
  }

  // ---- exec/attach over WebSocket ----
  function execWebSocket(u: UpgradeRequest, ws: WebSocket, protocol: string): void {
    const v5 = protocol === 'v5.channel.k8s.io';
    const json = protocol.startsWith('v4.') || v5;
    const send = (channel: number, data: Buffer | string): Promise<void> | undefined => {
      if (ws.readyState !== WebSocket.OPEN) return undefined;
      if (ws.bufferedAmount < 1024 * 1024) {
        ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
        return undefined;
      }
      return new Promise((resolve) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]), () => resolve()));
    };
    const p = start(u, (s, c) => send(s === 'stdout' ? 1 : 2, c));
    const kill = (): void => p.kill();
    closers.add(() => {
      kill();
      ws.terminate();
    });
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => {
      if (data.length === 0) return;
      const ch = data[0];
      const rest = data.subarray(1);
      if (ch === 0) p.child.stdin?.write(rest);
      else if (ch === 4) {
        for (const line of rest.toString().split('\n').filter(Boolean)) {
          try {
            resizes.push(JSON.parse(line) as { Width: number; Height: number });
          } catch {
            // ignored, like the kubelet
          }
        }
        p.resize?.write(rest.toString().endsWith('\n') ? rest : Buffer.concat([rest, Buffer.from('\n')]));
      } else if (ch === 255 && v5 && rest[0] === 0) p.child.stdin?.end();
    });
    ws.on('close', kill);
    void p.exited.then((code) => {
      const argv = argvOf(u);
      const status = json ? statusJson(code, argv) : statusText(code, argv);
      if (status) send(3, status);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    });
  }

  // ---- exec/attach over SPDY ----
  function execSpdy(u: UpgradeRequest, conn: SpdyConnection, protocol: string): void {
    const tty = flag(u.query, 'tty');
    const expected = new Set(['error']);
    if (flag(u.query, 'stdin')) expected.add('stdin');
    if (flag(u.query, 'stdout')) expected.add('stdout');
    if (flag(u.query, 'stderr') && !tty) expected.add('stderr');
    if (tty && ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io'].includes(protocol)) expected.add('resize');
    const streams = new Map<string, SpdyStream>();
    conn.on('error', () => undefined);
    closers.add(() => conn.destroy());
    conn.on('stream', (s: SpdyStream) => {
      s.reply();
      streams.set(s.headers['streamtype'] ?? '', s);
      if (![...expected].every((e) => streams.has(e))) return;
      const out = (name: string) => streams.get(name);
      const p = start(u, (name, c) => {
        const s2 = out(name);
        if (!s2 || s2.destroyed || s2.writableEnded || s2.write(c)) return undefined;
        return new Promise<void>((resolve) => {
          s2.once('drain', resolve);
          s2.once('close', resolve);
        });
      });
      const stdin = streams.get('stdin');
      stdin?.on('data', (c: Buffer) => p.child.stdin?.write(c));
      stdin?.on('end', () => p.child.stdin?.end());
      const resize = streams.get('resize');
      resize?.on('data', (c: Buffer) => {
        for (const line of c.toString().split('\n').filter(Boolean)) {
          try {
            resizes.push(JSON.parse(line) as { Width: number; Height: number });
          } catch {
            // ignored
          }
        }
        p.resize?.write(c);
      });
      for (const x of streams.values()) x.on('error', () => undefined);
      streams.get('error')?.resume();
      conn.on('close', () => p.kill());
      void p.exited.then(async (code) => {
        // Like the kubelet, whose writes block: everything written is on the wire before the Status.
        for (const name of ['stdout', 'stderr']) {
          const w = out(name);
          // An empty write completes only after every write before it has.
          if (w && !w.destroyed && !w.writableEnded) await new Promise<void>((r) => w.write(Buffer.alloc(0), () => r()));
        }
        const argv = argvOf(u);
        const status = protocol.startsWith('v4.') || protocol.startsWith('v5.') ? statusJson(code, argv) : statusText(code, argv);
        const error = streams.get('error')!;
        if (status) error.write(status);
        // The kubelet's way out: reset every stream, then GOAWAY.
        setImmediate(() => {
          for (const x of streams.values()) x.reset();
          conn.close();
        });
      });
    });
  }

  // ---- port-forward (SPDY, direct or tunnelled) ----
  function portForward(conn: SpdyConnection): void {
    const errors = new Map<string, SpdyStream>();
    conn.on('error', () => undefined);
    closers.add(() => conn.destroy());
    conn.on('stream', (s: SpdyStream) => {
      s.reply();
      s.on('error', () => undefined);
      const id = s.headers['requestid'] ?? '';
      if (s.headers['streamtype'] === 'error') {
        errors.set(id, s);
        s.resume();
        return;
      }
      const error = errors.get(id);
      const port = Number(s.headers['port']);
      if (port === 9) {
        // A port nothing listens on: the kubelet reports it on the error stream.
        error?.end(`error forwarding port ${port} to pod: connection refused`);
        s.end();
        return;
      }
      const tcp = net.connect(echoPort, '127.0.0.1');
      tcp.on('error', () => s.reset());
      s.pipe(tcp);
      tcp.on('data', (c: Buffer) => {
        if (!s.destroyed && !s.writableEnded) s.write(c);
      });
      tcp.on('end', () => {
        // The kubelet closes the error stream first, then the data stream.
        error?.end();
        s.end();
      });
      s.on('close', () => tcp.destroy());
    });
  }

  const handler: UpgradeHandler = (u) => {
    const { req, socket, head } = u;
    const isWs = String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    const impersonation = Object.keys(req.headers).filter((h) => h.startsWith('impersonate-'));
    const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
    if (isWs) {
      if (opts.webSocket === false) return false;
      if (opts.webSocket === 'no-subprotocol') {
        delete req.headers['sec-websocket-protocol'];
        wss.handleUpgrade(req, socket, head, (ws) => {
          ws.on('error', () => undefined);
          closers.add(() => ws.terminate());
        });
        return true;
      }
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((x) => x.trim());
      const protocol = u.subresource === 'portforward' ? (offered.includes(TUNNEL) ? TUNNEL : undefined) : offered.find((p) => EXEC_WS.includes(p));
      if (!protocol) return false;
      chosen.set(req, protocol);
      delete req.headers['sec-websocket-protocol'];
      wss.handleUpgrade(req, socket, head, (ws) => {
        u.record.status = 101;
        seen.push({ subresource: u.subresource, transport: 'websocket', protocol, authorization, impersonation });
        if (u.subresource === 'portforward') {
          ws.on('error', () => undefined);
          portForward(new SpdyConnection(createWebSocketStream(ws), { role: 'server' }));
        } else execWebSocket(u, ws, protocol);
      });
      return true;
    }
    const supported = u.subresource === 'portforward' ? ['portforward.k8s.io'] : EXEC_SPDY;
    const protocol = negotiateStreamProtocol(req, supported);
    if (!protocol) return false;
    u.record.status = 101;
    seen.push({ subresource: u.subresource, transport: 'spdy', protocol, authorization, impersonation });
    const conn = acceptSpdyUpgrade(req, socket, head, protocol);
    if (u.subresource === 'portforward') portForward(conn);
    else execSpdy(u, conn, protocol);
    return true;
  };

  return {
    handler,
    seen,
    resizes,
    echoPort,
    running: () => procs.size,
    killAll() {
      for (const c of closers) c();
      closers.clear();
      for (const p of procs) killGroup(p);
    },
    async close() {
      for (const c of closers) c();
      for (const p of procs) killGroup(p);
      wss.close();
      await new Promise<void>((r) => echo.close(() => r()));
    },
  };
}

/** A running pod the fake API server will let kubectl exec into and port-forward to. */
export function runningPod(name: string, namespace = 'default'): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'main', image: 'busybox', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [
        { name: 'main', ready: true, restartCount: 0, image: 'busybox', imageID: '', started: true, state: { running: { startedAt: '2024-01-01T00:00:00Z' } } },
      ],
    },
  };
}
