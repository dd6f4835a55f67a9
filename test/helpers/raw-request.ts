// One HTTP/1.1 request written byte for byte over TLS: node's http client
// normalises or refuses request targets (it rejects control characters and
// spaces), and the differential tests must send exactly the corpus bytes.
// The request-target is written as UTF-8; everything else is ASCII.
import { connect } from 'node:tls';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The status line and headers as received. */
  head: string;
}

export interface RawRequestOptions {
  /** https://host:port of the server. */
  url: string;
  ca: string;
  method: string;
  /** Written as is (UTF-8) between the method and " HTTP/1.1". */
  target: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  /** Resolve as soon as the head arrived when this says so (streaming answers: watches, followed logs). */
  headOnly?: (status: number) => boolean;
}

function dechunk(buf: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(i, eol).toString('latin1').split(';')[0], 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(out);
    if (buf.length < eol + 2 + size + 2) return undefined;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/**
 * Sends one request on a new TLS connection and resolves with the answer.
 * A 101 resolves as soon as its head arrived (the socket is then closed);
 * anything else once its body is complete or the server closed.
 */
const sessions = new Map<string, Buffer>();

export function rawRequest(o: RawRequestOptions): Promise<RawAnswer> {
  const u = new URL(o.url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: u.hostname,
      port: Number(u.port),
      ca: o.ca,
      servername: u.hostname === '127.0.0.1' ? undefined : u.hostname,
      ALPNProtocols: ['http/1.1'],
      session: sessions.get(o.url),
    });
    // Resume TLS sessions: hundreds of full handshakes cost more than the requests they carry.
    socket.on('session', (s: Buffer) => sessions.set(o.url, s));
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(
      () =>
        finish(
          new Error(
            `${o.method} ${JSON.stringify(o.target).slice(0, 120)}: no complete answer in ${o.timeoutMs ?? 10_000} ms (got ${JSON.stringify(buf.toString('latin1').slice(0, 200))})`,
          ),
        ),
      o.timeoutMs ?? 10_000,
    );
    const finish = (r: RawAnswer | Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const tryParse = (ended: boolean): void => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (ended)
          finish(
            buf.length === 0
              ? { status: 0, headers: {}, body: '', head: '' }
              : new Error(`incomplete head: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`),
          );
        return;
      }
      const head = buf.subarray(0, end).toString('latin1');
      const [statusLine, ...lines] = head.split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      const rest = buf.subarray(end + 4);
      if (status === 101 || o.headOnly?.(status)) return finish({ status, headers, body: '', head });
      let body: Buffer | undefined;
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (rest.length >= n) body = rest.subarray(0, n);
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(rest);
      else if (ended) body = rest;
      if (body) finish({ status, headers, body: body.toString('utf8'), head });
      else if (ended) finish(new Error(`connection closed mid-body: ${head}`));
    };
    socket.on('secureConnect', () => {
      const headers: Record<string, string> = { Host: u.host, ...(o.headers ?? {}) };
      if (o.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(o.body));
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'connection')) headers['Connection'] = 'close';
      const head = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(Buffer.concat([Buffer.from(`${o.method} `, 'latin1'), Buffer.from(o.target, 'utf8'), Buffer.from(` HTTP/1.1\r\n${head}\r\n`, 'latin1')]));
      if (o.body !== undefined) socket.write(o.body);
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (err) => (buf.length > 0 ? tryParse(true) : finish(err)));
  });
}
