// The HTTP/1.1 side of SPDY: kubectl (and client-go) send
//   POST .../exec|attach|portforward  Connection: Upgrade, Upgrade: SPDY/3.1,
//   X-Stream-Protocol-Version: <one header per protocol, preferred first>
// and expect 101 with the chosen X-Stream-Protocol-Version, after which the
// raw socket carries SPDY frames.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SpdyConnection, type SpdyConnectionOptions } from './connection.js';

export const SPDY_UPGRADE_TOKEN = 'SPDY/3.1';
export const STREAM_PROTOCOL_HEADER = 'X-Stream-Protocol-Version';

type ConnectionTuning = Omit<SpdyConnectionOptions, 'role'>;

/** True when the request asks to upgrade to SPDY/3.1. */
export function isSpdyUpgrade(req: http.IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.split(',').some((t) => t.trim().toLowerCase() === SPDY_UPGRADE_TOKEN.toLowerCase());
}

/** The X-Stream-Protocol-Version values the client offered, in its order of preference. */
export function offeredStreamProtocols(req: http.IncomingMessage): string[] {
  // Node folds repeated custom headers into one comma-separated value.
  const raw = req.headers['x-stream-protocol-version'];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/**
 * Picks the protocol as Kubernetes does: the client's most preferred one that
 * the server supports. Undefined when nothing matches (Kubernetes answers 403).
 */
export function negotiateStreamProtocol(req: http.IncomingMessage, supported: readonly string[]): string | undefined {
  return offeredStreamProtocols(req).find((p) => supported.includes(p));
}

/**
 * Completes the upgrade on `socket` (from http.Server's 'upgrade' event) and
 * returns the server side of the SPDY session. `head` holds bytes that arrived
 * after the request headers; they are the first SPDY bytes. An empty
 * `protocol` omits X-Stream-Protocol-Version (legacy clients).
 */
export function acceptSpdyUpgrade(_req: http.IncomingMessage, socket: Duplex, head: Buffer, protocol: string, opts: ConnectionTuning = {}): SpdyConnection {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${SPDY_UPGRADE_TOKEN}`];
  if (protocol) lines.push(`${STREAM_PROTOCOL_HEADER}: ${protocol}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  (socket as Partial<Pick<Socket, 'setTimeout'>>).setTimeout?.(0);
  return new SpdyConnection(socket, { ...opts, role: 'server' });
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function refuseSpdyUpgrade(socket: Duplex, statusCode: number, message: string): void {
  const body = Buffer.from(message.endsWith('\n') ? message : `${message}\n`, 'utf8');
  const reason = http.STATUS_CODES[statusCode] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${statusCode} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString('utf8')}`,
  );
}

export interface DialSpdyOptions extends ConnectionTuning {
  /** Stream protocols to offer, most preferred first (e.g. v4.channel.k8s.io). */
  protocols: readonly string[];
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Extra request headers (Authorization, Impersonate-User, ...). */
  headers?: Record<string, string | string[]>;
  servername?: string;
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** Default POST, as client-go uses for exec, attach and port-forward. */
  method?: string;
  /** Give up if no answer arrives in this time (default 30 s). */
  timeoutMs?: number;
}

export interface DialedSpdy {
  connection: SpdyConnection;
  /** The X-Stream-Protocol-Version the server chose ('' if it sent none). */
  protocol: string;
  responseHeaders: http.IncomingHttpHeaders;
}

/** The server refused the upgrade; carries its status and (truncated) body. */
export class SpdyUpgradeError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
    readonly responseHeaders: http.IncomingHttpHeaders,
  ) {
    super(`SPDY upgrade refused with HTTP ${statusCode}${body ? `: ${body.trim().slice(0, 500)}` : ''}`);
    this.name = 'SpdyUpgradeError';
  }
}

const MAX_REFUSAL_BODY = 64 * 1024;

/** Opens the client side of a SPDY session to `url` (https: or http:). */
export function dialSpdy(url: string | URL, opts: DialSpdyOptions): Promise<DialedSpdy> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') return Promise.reject(new Error(`dialSpdy: unsupported URL scheme ${target.protocol}`));
  const { protocols, ca, cert, key, headers, servername, rejectUnauthorized, method, timeoutMs, ...tuning } = opts;

  return new Promise<DialedSpdy>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    const requestHeaders: http.OutgoingHttpHeaders = {
      ...headers,
      Connection: 'Upgrade',
      Upgrade: SPDY_UPGRADE_TOKEN,
      'Content-Length': '0',
    };
    if (protocols.length > 0) requestHeaders[STREAM_PROTOCOL_HEADER] = [...protocols];
    const requestOptions: https.RequestOptions = {
      method: method ?? 'POST',
      headers: requestHeaders,
      agent: false,
      timeout: timeoutMs ?? 30_000,
    };
    if (secure) Object.assign(requestOptions, { ca, cert, key, servername, rejectUnauthorized: rejectUnauthorized ?? true });
    const req = (secure ? https : http).request(target, requestOptions);

    req.on('upgrade', (res, socket, head) => {
      socket.setTimeout(0);
      const upgradeTo = String(res.headers.upgrade ?? '');
      const chosen = String(res.headers['x-stream-protocol-version'] ?? '');
      const problem =
        upgradeTo.toLowerCase() !== SPDY_UPGRADE_TOKEN.toLowerCase()
          ? `server upgraded to ${JSON.stringify(upgradeTo)}, not ${SPDY_UPGRADE_TOKEN}`
          : chosen && !protocols.includes(chosen)
            ? `server chose stream protocol ${JSON.stringify(chosen)}, which was not offered`
            : undefined;
      if (problem) {
        socket.destroy();
        settle(() => reject(new Error(`dialSpdy: ${problem}`)));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      const connection = new SpdyConnection(socket, { ...tuning, role: 'client' });
      settle(() => resolve({ connection, protocol: chosen, responseHeaders: res.headers }));
    });

    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_REFUSAL_BODY) chunks.push(c);
        size += c.length;
      });
      const finish = (): void => {
        const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY).toString('utf8');
        settle(() => reject(new SpdyUpgradeError(res.statusCode ?? 0, body, res.headers)));
      };
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });

    req.on('timeout', () => req.destroy(new Error(`dialSpdy: no answer from ${target.host} within ${timeoutMs ?? 30_000} ms`)));
    req.on('error', (err) => settle(() => reject(err)));
    req.end();
  });
}
