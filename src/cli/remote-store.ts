// `--server URL`: read recordings through a running kubetape's sessions API
// instead of the store, as the person the kubeconfig context authenticates
// (its CA and bearer token, as `kubetape approvals` uses them). So nobody
// needs the data dir or the AWS store's credentials to read recordings, what
// they may see is what the API shows them, and every read is recorded as an
// access. A read-only RecordingStore: `sessions list|show` and `replay` work
// on it unchanged.
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { RecordEvent, SessionStartEvent, SessionSummary } from '../model/recording.js';
import type { RecordingStore, SessionFilter, SessionWriter } from '../store/store.js';
import type { VerifyReport } from '../store/verify.js';
import { CliError } from './errors.js';
import { approvalsTarget, type ApprovalsTarget } from './approvals-client.js';

const PAGE = 1000;

export interface RemoteOptions {
  server: string;
  kubeconfig?: string;
  context?: string;
}

export function openRemoteStore(o: RemoteOptions): RecordingStore {
  let base: URL;
  try {
    base = new URL(o.server);
  } catch {
    throw new CliError(`--server wants kubetape's URL, like https://kubetape.example.com, got "${o.server}"`);
  }
  if (base.protocol !== 'https:') throw new CliError('--server must be an https:// URL (kubetape serves only TLS)');
  const t = approvalsTarget(o);
  return new RemoteStore(base, t);
}

class RemoteStore implements RecordingStore {
  constructor(
    private readonly base: URL,
    private readonly t: ApprovalsTarget,
  ) {}

  private url(path: string, q?: URLSearchParams): URL {
    const u = new URL(this.base.pathname.replace(/\/+$/, '') + '/kubetape/v1/' + path, this.base);
    if (q) u.search = q.toString();
    return u;
  }

  /** One GET; resolves with the response once its status is 200, else rejects with the server's message (404: undefined). */
  private open(u: URL): Promise<IncomingMessage | undefined> {
    const opts: RequestOptions = {
      method: 'GET',
      headers: { Authorization: `Bearer ${this.t.token}`, Accept: 'application/json, application/x-ndjson' },
      ...(this.t.ca ? { ca: this.t.ca } : {}),
      rejectUnauthorized: !this.t.insecure,
      timeout: 30_000,
    };
    return new Promise((resolve, reject) => {
      const req = request(u, opts, (res) => {
        if (res.statusCode === 200) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 404) return resolve(undefined);
          const text = Buffer.concat(chunks).toString('utf8');
          let message = text.trim().slice(0, 500) || `HTTP ${res.statusCode}`;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? message;
          } catch {
            // not JSON: the text
          }
          reject(new CliError(`${message} (HTTP ${res.statusCode})`));
        });
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 30s')));
      req.on('error', (e) => reject(new CliError(`cannot reach kubetape at ${this.base.origin}: ${e.message}`)));
      req.end();
    });
  }

  private async json<T>(path: string, q?: URLSearchParams): Promise<T | undefined> {
    const res = await this.open(this.url(path, q));
    if (!res) return undefined;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }

  async listSessions(f: SessionFilter = {}): Promise<SessionSummary[]> {
    const q = new URLSearchParams();
    for (const k of ['user', 'cluster', 'verb', 'namespace', 'rule', 'state', 'kind', 'client', 'q'] as const) if (f[k]) q.set(k, f[k]);
    if (f.since) q.set('since', f.since.toISOString());
    if (f.refused) q.set('refused', 'true');
    if (f.approved) q.set('approved', 'true');
    if (f.reads) q.set('accesses', 'true');
    if (f.agent !== undefined) q.set('agent', f.agent === true ? 'true' : f.agent);
    if (f.human) q.set('human', 'true');
    if (f.actingFor) q.set('actingFor', f.actingFor);
    if (f.trace) q.set('trace', f.trace);
    if (f.tool) q.set('tool', f.tool);
    if (f.mcp) q.set('mcp', 'true');
    const out: SessionSummary[] = [];
    let cursor: string | undefined;
    do {
      const want = f.limit ? Math.min(PAGE, f.limit - out.length) : PAGE;
      q.set('limit', String(want));
      if (cursor) q.set('cursor', cursor);
      const page = await this.json<{ items: SessionSummary[]; nextCursor?: string }>('sessions', q);
      out.push(...(page?.items ?? []));
      cursor = page?.nextCursor;
    } while (cursor && (!f.limit || out.length < f.limit));
    return out;
  }

  async resolveId(idOrPrefix: string): Promise<string | undefined> {
    const want = idOrPrefix.toUpperCase();
    if (!/^[0-9A-Z]{1,26}$/.test(want)) return undefined;
    if (want.length === 26) return (await this.summary(want)) ? want : undefined;
    const matches = (await this.listSessions()).filter((s) => s.id.startsWith(want)).map((s) => s.id);
    if (matches.length > 1) throw new Error(`session id prefix "${idOrPrefix}" matches ${matches.length} sessions; give more characters`);
    return matches[0];
  }

  async summary(id: string): Promise<SessionSummary | undefined> {
    return (await this.json<{ summary: SessionSummary }>(`sessions/${id}`))?.summary;
  }

  async verify(id: string): Promise<VerifyReport> {
    const r = await this.json<{ summary: SessionSummary; verification: { ok: boolean; problems: string[] } }>(`sessions/${id}`);
    if (!r) throw new Error(`no session ${id}`);
    const v = r.verification;
    return {
      id,
      ok: v.ok,
      state: r.summary.state,
      chunks: 0,
      events: 0,
      ...(v.problems[0] ? { problem: v.problems[0], problems: v.problems } : {}),
      notes: ['checked by the kubetape server'],
    };
  }

  async *readSession(id: string): AsyncIterable<RecordEvent> {
    const res = await this.open(this.url(`sessions/${id}/events`, new URLSearchParams({ bodies: 'true' })));
    if (!res) return;
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
      if (line) yield JSON.parse(line) as RecordEvent;
    }
  }

  openSession(_start: SessionStartEvent): Promise<SessionWriter> {
    return Promise.reject(new Error('a remote store is read-only'));
  }

  async close(): Promise<void> {
    // nothing held between calls
  }
}
