// HTTP upgrades (exec, attach, portforward over WebSocket or SPDY/3.1). This
// server authenticates, impersonates, authorizes and checks the pod and
// container exactly like a plain request, then hands the socket to the
// pluggable UpgradeHandler; without one (or when it declines) the client gets
// a 400 Status and the socket is closed, never left hanging.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Status } from './errors.js';

/** Writes a complete HTTP/1.1 response carrying a Status onto a raw socket, then closes it. */
export function rejectUpgrade(socket: Duplex, s: Status, extraHeaders: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(s);
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-cache, private',
    Connection: 'close',
    ...extraHeaders,
  };
  const head = `HTTP/1.1 ${s.code} ${STATUS_CODES[s.code] ?? 'Error'}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  socket.end(head + body);
  // A client that keeps its half open must not keep the socket alive.
  setTimeout(() => socket.destroy(), 1000).unref();
}

export const UPGRADE_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);
