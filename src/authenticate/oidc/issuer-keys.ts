// One trusted issuer's signing keys: its discovery document (fetched on
// first use, re-read hourly) names the JWKS, which jose caches and re-fetches
// when a token names a key it has not seen, at most once per cooldown, so a
// stream of tokens with made-up `kid`s cannot turn kubetape into a load
// generator against the IdP.
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { issuerFetch, type FetchLike } from './fetch.js';

export interface IssuerKeysOptions {
  /** PEM bundle for the issuer's TLS certificate. */
  ca?: string;
  /** Per HTTP request (default 5 s). */
  timeoutMs?: number;
  /** Unknown `kid`: the JWKS is re-fetched at most this often (default 30 s). */
  cooldownMs?: number;
  /** Keys are re-fetched after this long even when every kid is known (default 10 min). */
  cacheMaxAgeMs?: number;
  /** After a failed discovery, wait this long before trying again (default 10 s). */
  retryMs?: number;
  /** The discovery document is re-read after this long (default 1 h). */
  rediscoverMs?: number;
  now?: () => number;
}

/** Thrown when kubetape cannot learn the issuer's keys: a server-side problem, not the caller's. */
export class IssuerUnavailableError extends Error {
  override name = 'IssuerUnavailableError';
}

interface Discovered {
  jwksUri: string;
  keys: JWTVerifyGetKey;
  at: number;
}

export class IssuerKeys {
  private discovered: Discovered | undefined;
  private inflight: Promise<Discovered> | undefined;
  private failedAt = -Infinity;
  private failure = '';
  private readonly fetch: FetchLike;
  private readonly now: () => number;
  /** How many times the JWKS was fetched (for tests and metrics). */
  jwksFetches = 0;

  constructor(
    readonly issuer: string,
    private readonly o: IssuerKeysOptions = {},
  ) {
    this.fetch = issuerFetch({ timeoutMs: o.timeoutMs ?? 5000, ...(o.ca ? { ca: o.ca } : {}) });
    this.now = o.now ?? Date.now;
  }

  /** The key resolver for jwtVerify. Throws IssuerUnavailableError when discovery fails. */
  async keySet(): Promise<JWTVerifyGetKey> {
    const d = this.discovered;
    if (d && this.now() - d.at < (this.o.rediscoverMs ?? 3600_000)) return d.keys;
    try {
      return (await this.discover()).keys;
    } catch (err) {
      // Keys we already hold stay good while the discovery endpoint is down.
      if (d) return d.keys;
      throw err;
    }
  }

  private discover(): Promise<Discovered> {
    if (this.inflight) return this.inflight;
    if (this.now() - this.failedAt < (this.o.retryMs ?? 10_000)) return Promise.reject(new IssuerUnavailableError(this.failure));
    this.inflight = this.fetchDiscovery()
      .then(
        (jwksUri) => {
          const keys = this.discovered?.jwksUri === jwksUri ? this.discovered.keys : this.remoteKeys(jwksUri);
          this.discovered = { jwksUri, keys, at: this.now() };
          return this.discovered;
        },
        (err: Error) => {
          this.failedAt = this.now();
          this.failure = `the issuer's discovery document could not be read (${err.message})`;
          throw new IssuerUnavailableError(this.failure);
        },
      )
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetchDiscovery(): Promise<string> {
    const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const res = await this.fetch(url);
    if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${url}`);
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      doc = (await res.json()) as typeof doc;
    } catch {
      throw new Error(`${url} is not JSON`);
    }
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer it was fetched for.
    if (doc.issuer !== this.issuer) throw new Error(`${url} names issuer ${JSON.stringify(doc.issuer)}, not ${this.issuer}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`);
    const jwks = new URL(doc.jwks_uri);
    if (jwks.protocol !== 'https:' && new URL(this.issuer).protocol === 'https:') throw new Error(`jwks_uri ${doc.jwks_uri} is not https`);
    return doc.jwks_uri;
  }

  private remoteKeys(jwksUri: string): JWTVerifyGetKey {
    const counted: FetchLike = (url, init) => {
      this.jwksFetches++;
      return this.fetch(url, init);
    };
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.o.timeoutMs ?? 5000,
      cooldownDuration: this.o.cooldownMs ?? 30_000,
      cacheMaxAge: this.o.cacheMaxAgeMs ?? 600_000,
      [customFetch]: counted,
    });
  }
}
