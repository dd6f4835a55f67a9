// One OAuth grant whose access token is kept in the login cache until shortly
// before it expires: the client-credentials and token-exchange logins differ
// only in the grant they make. The cache is read once without the lock (the
// common case: a fresh token), then again under it, so concurrent kubectl
// runs make one grant between them and the others read what it wrote.
import type * as client from 'openid-client';
import { tokenExpiry } from './jwt-claims.js';
import { TokenCache, type LoginKey } from './token-cache.js';
import type { IdToken } from './credential.js';

export interface CachedGrantOptions {
  cacheDir: string;
  key: LoginKey;
  issuer: string;
  ca?: string;
  /** A cached token with less life left than this is renewed (default 60 s). */
  minValidityMs?: number;
  now?: () => number;
  /** What the token is, for the error when its issuer says nothing of its expiry. */
  what: string;
  /** Runs under the lock just before the new token is written (to prune older entries). */
  beforeWrite?: (cache: TokenCache, now: number) => void;
}

export async function cachedGrant(o: CachedGrantOptions, grant: () => Promise<client.TokenEndpointResponse>): Promise<IdToken> {
  const now = o.now ?? Date.now;
  const cache = new TokenCache(o.cacheDir);
  const minValidity = o.minValidityMs ?? 60_000;
  const usable = (): IdToken | undefined => {
    const c = cache.read(o.key);
    if (!c?.accessToken || !c.expiresAt) return undefined;
    const exp = new Date(c.expiresAt);
    return exp.getTime() - now() >= minValidity ? { token: c.accessToken, expiresAt: exp, source: 'cache' } : undefined;
  };
  const hit = usable();
  if (hit) return hit;
  return cache.withLock(o.key, { waitMs: 60_000, staleMs: 120_000 }, async () => {
    const fresh = usable();
    if (fresh) return fresh;
    const r = await grant();
    const token = r.access_token;
    // A JWT says when it expires; an opaque token's expires_in does.
    const expiresAt = tokenExpiry(token) ?? (typeof r.expires_in === 'number' ? new Date(now() + r.expires_in * 1000) : undefined);
    if (!expiresAt) throw new Error(`${o.what} from ${o.issuer} says neither exp nor expires_in; kubetape cannot tell when to renew it`);
    o.beforeWrite?.(cache, now());
    cache.write({ ...o.key, accessToken: token, expiresAt: expiresAt.toISOString(), ...(o.ca ? { ca: o.ca } : {}), updatedAt: new Date(now()).toISOString() });
    return { token, expiresAt, source: 'login' };
  });
}
