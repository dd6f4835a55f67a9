// Credentials for machines (an MCP server, a CI job, a workload), printed by
// `kubetape credential` like a person's ID token:
//
// - client credentials (OAuth 2.0 §4.4): the client authenticates with its
//   secret (read from a file or the environment, never the command line, so
//   it stays out of `ps` and shell history) and gets an access token,
//   cached like a person's login until shortly before it expires;
// - a token file written by someone else (a Kubernetes projected
//   service-account token, a GitHub Actions or GitLab OIDC token), re-read at
//   every run and handed to kubectl with a short expiry so a long-lived
//   client runs the plugin again and picks up the rotated token.
import { readFileSync, statSync } from 'node:fs';
import * as client from 'openid-client';
import { tokenExpiry } from './jwt-claims.js';
import { describe, discover } from './oidc-login.js';
import { cachedGrant } from './cached-grant.js';
import type { LoginKey } from './token-cache.js';
import type { IdToken } from './credential.js';

export interface ClientCredentialsOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** RFC 8707 resource indicator (the audience the token is for, at issuers that take one). */
  resource?: string;
  /** The `audience` parameter some issuers (Auth0, Okta) take instead. */
  audience?: string;
  scopes: string[];
  ca?: string;
  cacheDir: string;
  /** A cached token with less life left than this is renewed (default 60 s). */
  minValidityMs?: number;
}

/** The cache entry of a client-credentials token: one per issuer, client and audience asked for. */
function cacheKey(o: ClientCredentialsOptions): LoginKey {
  return { issuer: o.issuer, clientId: o.clientId, user: `client-credentials ${o.resource ?? ''} ${o.audience ?? ''} ${o.scopes.join(' ')}` };
}

export async function getClientCredentialsToken(o: ClientCredentialsOptions): Promise<IdToken> {
  const cached = {
    cacheDir: o.cacheDir,
    key: cacheKey(o),
    issuer: o.issuer,
    what: 'the access token',
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.minValidityMs !== undefined ? { minValidityMs: o.minValidityMs } : {}),
  };
  return cachedGrant(cached, async () => {
    const config = await discover({ issuer: o.issuer, clientId: o.clientId, clientSecret: o.clientSecret, ...(o.ca ? { ca: o.ca } : {}) });
    const params: Record<string, string> = {};
    if (o.scopes.length) params['scope'] = o.scopes.join(' ');
    if (o.resource) params['resource'] = o.resource;
    if (o.audience) params['audience'] = o.audience;
    try {
      return await client.clientCredentialsGrant(config, params);
    } catch (err) {
      throw new Error(`the client-credentials grant at ${o.issuer} failed: ${describe(err)}`, { cause: err });
    }
  });
}

/** How long kubectl (or a long-lived client) may keep a token read from a file before asking again. */
export const TOKEN_FILE_RECHECK_MS = 60_000;
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/** The token a file holds now; it expires for kubectl at the token's exp or in a minute, whichever is first. */
export function readTokenFile(path: string, now = Date.now()): IdToken {
  let text: string;
  try {
    if (statSync(path).size > MAX_TOKEN_FILE_BYTES) throw new Error(`it is larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the token file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) throw new Error(`the token file ${path} does not hold one token`);
  const exp = tokenExpiry(token);
  if (exp && exp.getTime() <= now) throw new Error(`the token in ${path} expired at ${exp.toISOString()}; whatever writes it has stopped renewing it`);
  const recheck = new Date(now + TOKEN_FILE_RECHECK_MS);
  return { token, expiresAt: exp && exp < recheck ? exp : recheck, source: 'cache' };
}
