// The load generator: GETs over keep-alive connections against one path
// (direct, kubectl proxy or kubetape), timing each request from the first
// byte written to the last byte read. Bodies are counted, never kept.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { performance } from 'node:perf_hooks';

/** One way to reach the fake API server. */
export interface Target {
  /** Key in JSON output. */
  key: 'direct' | 'kubectlProxy' | 'kubetape';
  /** Label in the table. */
  label: string;
  url: URL;
  /** PEM CA for https targets. */
  ca?: string;
  token?: string;
  /** The process serving this path, for memory readings (none for direct). */
  pid?: number;
}

export type ClientAgent = HttpAgent | HttpsAgent;

export function keepAliveAgent(t: Target, maxSockets: number): ClientAgent {
  const opts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
  return t.url.protocol === 'https:' ? new HttpsAgent({ ...opts, ...(t.ca ? { ca: t.ca } : {}) }) : new HttpAgent(opts);
}

export interface FetchResult {
  status: number;
  /** Bytes of the body as received (compressed when the server compressed). */
  bytes: number;
  headers: IncomingHttpHeaders;
  /** Up to 300 bytes of the body of a non-2xx answer, for error messages. */
  errorSnippet?: string;
  ms: number;
}

export interface FetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Sees each body chunk (and can pipe it somewhere); the load generator keeps nothing. */
  onChunk?: (chunk: Buffer) => void;
}

export function fetchOnce(t: Target, agent: ClientAgent, path: string, o: FetchOptions): Promise<FetchResult> {
  const headers: Record<string, string> = { 'user-agent': 'kubetape-bench', ...o.headers };
  if (t.token) headers['authorization'] = `Bearer ${t.token}`;
  if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
  const send = t.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = send(
      { host: t.url.hostname, port: t.url.port, path, method: o.method ?? 'GET', headers, agent: agent as HttpsAgent },
      (res: IncomingMessage) => {
        let bytes = 0;
        let snippet = '';
        const failed = (res.statusCode ?? 0) >= 300;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (failed && snippet.length < 300) snippet += chunk.toString('utf8', 0, 300 - snippet.length);
          o.onChunk?.(chunk);
        });
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, bytes, headers: res.headers, ms: performance.now() - started, ...(failed ? { errorSnippet: snippet } : {}) }),
        );
        res.once('error', reject);
      },
    );
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`no progress for ${o.timeoutMs / 1000}s on ${t.label} ${path}`)));
    req.once('error', reject);
    req.end(o.body);
  });
}

export interface RunResult {
  /** Requests that completed with a 2xx. */
  completed: number;
  errors: number;
  firstError?: string;
  /** Latency of each successful request, ms. */
  latenciesMs: number[];
  /** Wall time of the whole run, ms. */
  elapsedMs: number;
  /** True when the deadline stopped the run before `count` requests. */
  cutShort: boolean;
}

/**
 * `count` GETs of `path`, `concurrency` at a time, each worker on its own
 * keep-alive connection of `agent`. Stops issuing at `deadline`
 * (performance.now() ms); requests in flight then finish.
 */
export async function runGets(
  t: Target,
  agent: ClientAgent,
  path: string,
  o: { count: number; concurrency: number; deadline: number; headers?: Record<string, string>; timeoutMs: number },
): Promise<RunResult> {
  const r: RunResult = { completed: 0, errors: 0, latenciesMs: [], elapsedMs: 0, cutShort: false };
  let issued = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < o.count) {
      if (performance.now() >= o.deadline) {
        r.cutShort = true;
        return;
      }
      issued++;
      try {
        const res = await fetchOnce(t, agent, path, { headers: o.headers ?? {}, timeoutMs: o.timeoutMs });
        if (res.status >= 200 && res.status < 300) {
          r.completed++;
          r.latenciesMs.push(res.ms);
        } else {
          r.errors++;
          r.firstError ??= `HTTP ${res.status}: ${res.errorSnippet ?? ''}`;
        }
      } catch (err) {
        r.errors++;
        r.firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  r.elapsedMs = performance.now() - started;
  return r;
}
