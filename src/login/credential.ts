// `kubetape credential`: an ID token for kubectl, from the cache while it is
// good, else by refresh token, else by logging in (browser with PKCE, or the
// device flow when no browser can open here). The slow paths run under the
// cache lock, and re-read the cache first: a kubectl started meanwhile finds
// the token the first one fetched instead of logging in twice.
import { openBrowser as defaultOpenBrowser, canOpenBrowser } from './browser.js';
import { tokenExpiry } from './jwt-claims.js';
import { browserLogin, describe, deviceLogin, discover, refresh, supportsDeviceFlow, type Say, type Tokens } from './oidc-login.js';
import { TokenCache, type CachedTokens, type LoginKey } from './token-cache.js';

export type Grant = 'auto' | 'authcode' | 'device';

export interface CredentialOptions extends LoginKey {
  clientSecret?: string;
  scopes: string[];
  /** PEM bundle for the issuer's TLS certificate. */
  ca?: string;
  cacheDir: string;
  grant: Grant;
  /** Loopback ports for the browser redirect, tried in order. */
  ports: number[];
  /** false: never start a browser, print the URL instead. */
  browser: boolean;
  loginTimeoutMs: number;
  /** A cached token with less life left than this is renewed (default 60 s). */
  minValidityMs?: number;
  say: Say;
  openBrowser?: (url: string) => boolean;
}

export interface IdToken {
  token: string;
  expiresAt: Date;
  /** Where it came from (for the log line and tests). */
  source: 'cache' | 'refresh' | 'login';
}

function usable(c: CachedTokens | undefined, minValidityMs: number): IdToken | undefined {
  if (!c?.idToken) return undefined;
  const exp = tokenExpiry(c.idToken);
  if (!exp || exp.getTime() - Date.now() < minValidityMs) return undefined;
  return { token: c.idToken, expiresAt: exp, source: 'cache' };
}

export async function getIdToken(o: CredentialOptions): Promise<IdToken> {
  const cache = new TokenCache(o.cacheDir);
  const key: LoginKey = { issuer: o.issuer, clientId: o.clientId, user: o.user };
  const minValidity = o.minValidityMs ?? 60_000;
  const hit = usable(cache.read(key), minValidity);
  if (hit) return hit;

  return cache.withLock(key, { waitMs: o.loginTimeoutMs + 30_000, staleMs: o.loginTimeoutMs + 60_000 }, async () => {
    const cached = cache.read(key);
    const fresh = usable(cached, minValidity);
    if (fresh) return fresh;

    const config = await discover({
      issuer: o.issuer,
      clientId: o.clientId,
      ...(o.clientSecret ? { clientSecret: o.clientSecret } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    });
    let tokens: Tokens | undefined;
    let source: IdToken['source'] = 'refresh';
    if (cached?.refreshToken) {
      try {
        tokens = await refresh(config, cached.refreshToken);
      } catch (err) {
        o.say(`kubetape: the refresh token was not accepted (${describe(err)}); logging in again`);
      }
    }
    if (!tokens) {
      source = 'login';
      const scopes = [...new Set(['openid', ...o.scopes])];
      const browserHere = o.browser && canOpenBrowser();
      const grant = o.grant !== 'auto' ? o.grant : browserHere || !supportsDeviceFlow(config) ? 'authcode' : 'device';
      if (grant === 'device' && !supportsDeviceFlow(config))
        throw new Error(`${o.issuer} does not offer the device flow (no device_authorization_endpoint); use --grant authcode`);
      tokens =
        grant === 'device'
          ? await deviceLogin(config, { scopes, timeoutMs: o.loginTimeoutMs, say: o.say })
          : await browserLogin(config, {
              scopes,
              ports: o.ports,
              timeoutMs: o.loginTimeoutMs,
              say: o.say,
              openBrowser: o.browser ? (o.openBrowser ?? ((u) => defaultOpenBrowser(u))) : () => false,
            });
    }
    const expiresAt = tokenExpiry(tokens.idToken);
    if (!expiresAt) throw new Error('the ID token from the issuer has no exp claim');
    cache.write({
      ...key,
      idToken: tokens.idToken,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
      updatedAt: new Date().toISOString(),
    });
    return { token: tokens.idToken, expiresAt, source };
  });
}
