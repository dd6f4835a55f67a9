// The credential kubetape presents to the real cluster, kept fresh:
// static credentials are computed once; a token file is re-read when its
// stat changes (projected service-account tokens are swapped in by the
// kubelet); an exec plugin is re-run shortly before its credential expires
// or when the upstream answered 401. Concurrent callers share one refresh.
import { readFile, stat } from 'node:fs/promises';
import type { UpstreamCluster } from '../kubeconfig/resolve-upstream.js';
import { runExecPlugin, type ExecCredentialResult } from './exec-plugin.js';

export interface UpstreamAuth {
  /** Value of the Authorization header to send upstream. */
  authorization?: string;
  /** PEM client certificate and key for the upstream TLS connection. */
  cert?: string;
  key?: string;
  /** When the credential stops being valid, if the plugin said. */
  expiresAt?: Date;
}

export interface UpstreamCredentialsOptions {
  now?: () => number;
  execTimeoutMs?: number;
  /** Environment exec plugins inherit (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  /** stderr of successful plugin runs, for the server's log. */
  onPluginStderr?: (text: string) => void;
}

/** Refresh this long before expiry: 10 % of the credential's lifetime, at most 30 s. */
const MAX_REFRESH_MARGIN_MS = 30_000;
const REFRESH_FRACTION = 0.1;

interface Cached {
  auth: UpstreamAuth;
  /** After this instant (ms) the credential is refreshed. */
  refreshAt?: number;
  /** Token files: identity of the file version that was read. */
  fileStamp?: string;
}

function bearer(token: string): string {
  return `Bearer ${token}`;
}

function fromExec(result: ExecCredentialResult): UpstreamAuth {
  const auth: UpstreamAuth = {};
  if (result.token) auth.authorization = bearer(result.token);
  if (result.clientCertificateData && result.clientKeyData) {
    auth.cert = result.clientCertificateData;
    auth.key = result.clientKeyData;
  }
  if (result.expirationTimestamp) auth.expiresAt = result.expirationTimestamp;
  return auth;
}

export class UpstreamCredentials {
  private readonly now: () => number;
  private cached: Cached | undefined;
  private inflight: Promise<UpstreamAuth> | undefined;

  constructor(
    private readonly cluster: UpstreamCluster,
    private readonly opts: UpstreamCredentialsOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The credential to use now. Cheap when cached (a token file costs one stat). */
  async get(): Promise<UpstreamAuth> {
    const cred = this.cluster.credential;
    switch (cred.type) {
      case 'none':
        return {};
      case 'token':
        return { authorization: bearer(cred.token) };
      case 'basic':
        return { authorization: `Basic ${Buffer.from(`${cred.username}:${cred.password}`, 'utf8').toString('base64')}` };
      case 'clientCert':
        return cred.token ? { cert: cred.cert, key: cred.key, authorization: bearer(cred.token) } : { cert: cred.cert, key: cred.key };
      case 'tokenFile':
        return this.getTokenFile(cred.path);
      case 'exec':
        return this.getExec();
    }
  }

  /** The upstream said 401: forget the cached credential so the next get() fetches a new one. */
  invalidate(): void {
    this.cached = undefined;
  }

  /** One refresh at a time; callers arriving meanwhile wait for it. */
  private shared(refresh: () => Promise<UpstreamAuth>): Promise<UpstreamAuth> {
    if (!this.inflight) {
      this.inflight = refresh().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async getTokenFile(path: string): Promise<UpstreamAuth> {
    let stamp: string;
    try {
      const st = await stat(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      throw new Error(`cannot read upstream tokenFile ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    const cached = this.cached;
    if (cached && cached.fileStamp === stamp) return cached.auth;
    return this.shared(async () => {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw new Error(`cannot read upstream tokenFile ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
      const token = text.trim();
      if (!token) throw new Error(`upstream tokenFile ${path} is empty`);
      const auth = { authorization: bearer(token) };
      this.cached = { auth, fileStamp: stamp };
      return auth;
    });
  }

  private async getExec(): Promise<UpstreamAuth> {
    const cached = this.cached;
    if (cached && (cached.refreshAt === undefined || this.now() < cached.refreshAt)) return cached.auth;
    try {
      return await this.shared(() => this.runPlugin());
    } catch (err) {
      // A failed early refresh is not fatal while the credential we hold is still valid.
      const expiresAt = cached?.auth.expiresAt?.getTime();
      if (cached && cached === this.cached && expiresAt !== undefined && this.now() < expiresAt) return cached.auth;
      throw err;
    }
  }

  private async runPlugin(): Promise<UpstreamAuth> {
    const cred = this.cluster.credential;
    if (cred.type !== 'exec') throw new Error('not an exec credential');
    const startedAt = this.now();
    const result = await runExecPlugin(cred.exec, {
      cluster: this.cluster,
      ...(this.opts.execTimeoutMs !== undefined && { timeoutMs: this.opts.execTimeoutMs }),
      ...(this.opts.baseEnv && { baseEnv: this.opts.baseEnv }),
      ...(this.opts.onPluginStderr && { onStderr: this.opts.onPluginStderr }),
    });
    const auth = fromExec(result);
    const cached: Cached = { auth };
    if (auth.expiresAt) {
      const expires = auth.expiresAt.getTime();
      const lifetime = Math.max(0, expires - startedAt);
      cached.refreshAt = expires - Math.min(MAX_REFRESH_MARGIN_MS, lifetime * REFRESH_FRACTION);
    }
    this.cached = cached;
    return auth;
  }
}
