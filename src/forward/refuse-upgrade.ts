// Answers to upgrade requests that will not be upgraded: a Status of our
// own, or the cluster's own refusal passed on as it came.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { statusObject } from '../model/status.js';
import type { UpstreamRefusal } from './upstream-dial.js';

function writeResponse(socket: Duplex, code: number, contentType: string, body: Buffer): void {
  if (socket.destroyed) return;
  const head =
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}\r\n` +
    `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nCache-Control: no-cache, private\r\nConnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  // A client that keeps its half open must not keep the socket alive.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** A Kubernetes Status as the HTTP response to the upgrade request. */
export function refuseUpgrade(socket: Duplex, code: number, message: string, reason?: string): void {
  writeResponse(socket, code, 'application/json', Buffer.from(JSON.stringify(statusObject(code, message, reason))));
}

/** The cluster's refusal (its status and body), so kubectl prints what the cluster said. */
export function relayRefusal(socket: Duplex, refusal: UpstreamRefusal): void {
  if (refusal.statusCode < 200 || refusal.statusCode === 101) {
    refuseUpgrade(socket, 502, `kubetape: ${refusal.message}`);
    return;
  }
  const type = refusal.headers['content-type'];
  writeResponse(socket, refusal.statusCode, typeof type === 'string' ? type : 'text/plain; charset=utf-8', refusal.body);
}
