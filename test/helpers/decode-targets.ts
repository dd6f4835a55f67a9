// Real servers behind a pod's ports for the port-forward decoding tests and
// bench: a node HTTP server (keep-alive, chunked gzip, a large body, SSE,
// echo), an MCP server of the official SDK over streamable HTTP, and a TCP
// echo for a binary protocol. And kubectl port-forward, started and stopped
// as a user does.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzip } from 'node:zlib';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface Target {
  port: number;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

export const GZIP_TEXT = Array.from({ length: 4000 }, (_, i) => `gzip line ${i}`).join('\n');

/** The HTTP target: /hello, /gzip (chunked + gzip), /big?n=BYTES, /sse (three events), /echo (POST). */
export async function startHttpTarget(): Promise<Target & { requests: string[] }> {
  const requests: string[] = [];
  const gz = await new Promise<Buffer>((r, j) => gzip(GZIP_TEXT, (e, b) => (e ? j(e) : r(b))));
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from the pod');
    } else if (url.pathname === '/gzip') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' });
      res.write(gz.subarray(0, 1000));
      setImmediate(() => res.end(gz.subarray(1000)));
    } else if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n') ?? 10 * 1024 * 1024);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
      const block = Buffer.alloc(64 * 1024, 'b');
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const part = block.subarray(0, Math.min(block.length, left));
          left -= part.length;
          if (!res.write(part)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else if (url.pathname === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const tick = (): void => {
        if (++i > 3) return void res.end();
        res.write(`event: tick\nid: ${i}\ndata: tick ${i}\n\n`);
        setTimeout(tick, 5);
      };
      tick();
    } else if (url.pathname === '/echo') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'text/plain' }).end(Buffer.concat(parts)));
    } else res.writeHead(404).end('no such page');
  });
  server.keepAliveTimeout = 30_000;
  const port = await listen(server);
  return { port, requests, close: closer(server, new Set()) };
}

/** A TCP echo: a protocol that is not HTTP. */
export async function startEchoTarget(): Promise<Target> {
  const server = net.createServer((s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  const port = await listen(server);
  return { port, close: closer(server, new Set()) };
}

/** The official SDK's MCP server over streamable HTTP at /mcp: tools echo, add, whoami, fail (throws). */
export async function startMcpTarget(): Promise<Target & { authorizations: string[] }> {
  const mcp = new McpServer({ name: 'pod-mcp', version: '1.2.3' });
  mcp.registerTool('echo', { description: 'echo', inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
  mcp.registerTool('add', { description: 'add', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  mcp.registerTool('whoami', { description: 'who' }, () => ({ content: [{ type: 'text', text: 'a pod' }] }));
  mcp.registerTool('fail', { description: 'fails', inputSchema: { why: z.string() } }, ({ why }) => {
    throw new Error(`failed on purpose: ${why}`);
  });
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  await mcp.connect(transport);
  const authorizations: string[] = [];
  const server = http.createServer((req, res) => {
    authorizations.push(String(req.headers.authorization ?? ''));
    if (!req.url?.startsWith('/mcp')) return void res.writeHead(404).end();
    void transport.handleRequest(req, res);
  });
  const port = await listen(server);
  const close = closer(server, new Set());
  return {
    port,
    authorizations,
    async close() {
      await mcp.close().catch(() => undefined);
      await close();
    },
  };
}

export interface PortForward {
  /** Local port per pod port, in the order asked. */
  local: number[];
  stderr(): string;
  stop(): Promise<void>;
}

/** kubectl port-forward web-0 to the given pod ports on free local ports. */
export function startPortForward(kubeconfig: string, ports: number[], env: NodeJS.ProcessEnv = {}): Promise<PortForward> {
  const home = mkdtempSync(join(tmpdir(), 'kt-pfd-'));
  const child = spawn(
    process.env.KUBECTL ?? 'kubectl',
    ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'cache'), 'port-forward', '--address', '127.0.0.1', 'web-0', ...ports.map((p) => `:${p}`)],
    { env: { ...process.env, HOME: home, ...env } },
  );
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    }
  };
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`port-forward did not start: ${stderr}`))), 20_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const found = ports.map((p) => new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${p}\\b`).exec(out));
      if (found.every((m) => m)) {
        clearTimeout(timer);
        resolve({ local: found.map((m) => Number(m![1])), stderr: () => stderr, stop });
      }
    });
    void exited.then(() => reject(new Error(`port-forward exited: ${stderr}`)));
  });
}

/** One TCP connection: writes each step, waits until what came back satisfies `until`, then the next; returns what was sent and received. */
export async function rawConnection(
  port: number,
  steps: Array<{ send: Buffer | string; until: (received: Buffer) => boolean }>,
  o: { cut?: boolean } = {},
): Promise<{ sent: Buffer; received: Buffer }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', () => r()).once('error', j));
  const sent: Buffer[] = [];
  const received: Buffer[] = [];
  let wake: (() => void) | undefined;
  sock.on('data', (c: Buffer) => {
    received.push(c);
    wake?.();
  });
  const ended = new Promise<void>((r) => sock.once('close', () => r()));
  sock.on('error', () => undefined);
  for (const step of steps) {
    const b = Buffer.from(step.send);
    sent.push(b);
    sock.write(b);
    while (!step.until(Buffer.concat(received))) {
      const got = await Promise.race([new Promise<boolean>((r) => (wake = () => r(true))), ended.then(() => false)]);
      if (!got) break;
    }
  }
  if (o.cut) sock.destroy();
  else {
    sock.end();
    await ended;
  }
  return { sent: Buffer.concat(sent), received: Buffer.concat(received) };
}
