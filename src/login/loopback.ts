// The redirect target of a browser login: an HTTP listener on 127.0.0.1
// (RFC 8252 §7.3: loopback IP, any port the issuer allows), tried on each
// given port in turn. The browser's request is answered only once the code
// was exchanged, so the page says whether the login worked.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoopbackListener {
  port: number;
  /** Resolves with the path and query of the first request to `path` carrying `code` or `error`. */
  waitForCallback(path: string, timeoutMs: number): Promise<string>;
  /** Answer the browser's request. */
  answer(ok: boolean, message: string): void;
  close(): void;
}

function page(ok: boolean, message: string): string {
  const escaped = message.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><meta charset="utf-8"><title>kubetape</title><p style="font:16px sans-serif">${ok ? '✅' : '❌'} ${escaped}</p>\n`;
}

export async function listenLoopback(ports: number[]): Promise<LoopbackListener> {
  let pending: ServerResponse | undefined;
  let onCallback: ((url: string) => void) | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const isCallback = req.method === 'GET' && (url.searchParams.has('code') || url.searchParams.has('error'));
    if (!isCallback || !onCallback || pending) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    pending = res;
    onCallback(req.url ?? '/');
  });
  let lastError: Error | undefined;
  for (const port of ports) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err as Error;
    }
  }
  if (lastError || !server.listening)
    throw new Error(
      `cannot listen on 127.0.0.1 port ${ports.join(' or ')} for the login redirect (${lastError?.message ?? 'no port'}); choose another with --listen-port`,
    );

  return {
    port: (server.address() as AddressInfo).port,
    waitForCallback(path, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the browser login was not completed within ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
        onCallback = (url) => {
          if (!url.startsWith(path)) return;
          clearTimeout(timer);
          resolve(url);
        };
      });
    },
    answer(ok, message) {
      pending?.writeHead(ok ? 200 : 400, { 'content-type': 'text/html; charset=utf-8', connection: 'close' }).end(page(ok, message));
      pending = undefined;
    },
    close() {
      pending?.writeHead(500).end();
      server.close();
      server.closeAllConnections();
    },
  };
}
