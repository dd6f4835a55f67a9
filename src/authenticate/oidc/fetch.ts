// A small fetch for talking to an OIDC issuer that may use a private CA
// (Node's fetch cannot take one without undici): discovery and JWKS for
// serve, the token endpoints for `kubetape credential`. Bodies are capped:
// a misbehaving issuer must not make kubetape buffer gigabytes. Redirects
// are never followed (callers ask for `redirect: 'manual'`).
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';

const MAX_BODY_BYTES = 1024 * 1024;

export interface IssuerFetchOptions {
  /** PEM bundle to trust instead of the system roots. */
  ca?: string;
  timeoutMs: number;
}

type HeadersArg = ConstructorParameters<typeof Headers>[0];

/** The fetch shape jose's and openid-client's customFetch expect. */
export type FetchLike = (url: string, init?: { method?: string; headers?: HeadersArg; body?: unknown; signal?: AbortSignal | null }) => Promise<Response>;

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new Error('unsupported request body type');
}

export function issuerFetch(o: IssuerFetchOptions): FetchLike {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const u = new URL(url);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (init?.headers) new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = bodyBytes(init?.body);
      if (body) {
        headers['content-length'] = String(body.length);
        if (init?.body instanceof URLSearchParams && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
      }
      const opts = { method: init?.method ?? 'GET', headers, timeout: o.timeoutMs, ...(o.ca ? { ca: o.ca } : {}) };
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new Error(`${u.origin}${u.pathname} answered more than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue;
            for (const x of Array.isArray(v) ? v : [v]) h.append(k, x);
          }
          const status = res.statusCode ?? 502;
          // A Response may not carry a body with these statuses.
          const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, headers: h }));
        });
        res.on('error', reject);
      };
      const req = u.protocol === 'https:' ? httpsRequest(u, opts, onResponse) : httpRequest(u, opts, onResponse);
      req.on('timeout', () => req.destroy(new Error(`${u.origin} did not answer within ${o.timeoutMs} ms`)));
      req.on('error', reject);
      const signal = init?.signal;
      if (signal) {
        if (signal.aborted) req.destroy(new Error('aborted'));
        else signal.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
      }
      req.end(body);
    });
}
