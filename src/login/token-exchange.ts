// RFC 8693 token exchange, done by `kubetape credential --grant
// token-exchange`: an agent (an MCP server) that received a person's token
// authenticates as itself (its client secret) and trades that token at the
// IdP for one that says both: `sub` the person, `act` the agent. kubetape's
// proxy then records the agent acting for the person.
//
// The exchanged token is cached like a client-credentials token, keyed by a
// SHA-256 of the subject token (never the token itself): a run with another
// person's token never finds the first person's exchanged token. It is
// handed to kubectl for no longer than the person's own token lives, so an
// agent cannot stretch a delegation past the login it came from.
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { tokenExpiry } from './jwt-claims.js';
import { describe, discover } from './oidc-login.js';
import { cachedGrant } from './cached-grant.js';
import type { TokenCache, LoginKey } from './token-cache.js';
import type { IdToken } from './credential.js';
import type { ClientCredentialsOptions } from './machine-credential.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3 token type identifiers, by the short names the CLI takes. */
export const TOKEN_TYPES: Record<string, string> = {
  access_token: 'urn:ietf:params:oauth:token-type:access_token',
  id_token: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
};

/** A short name (access_token, id_token, jwt) or one of their URNs; anything else is refused. */
export function tokenType(value: string, flag: string): string {
  const urn = TOKEN_TYPES[value] ?? (Object.values(TOKEN_TYPES).includes(value) ? value : undefined);
  if (!urn) throw new Error(`${flag} must be access_token, id_token or jwt (or its urn:ietf:params:oauth:token-type: URN), got "${value.slice(0, 80)}"`);
  return urn;
}

/** The agent's own client, as for client credentials (a cached token with less than minValidityMs left is exchanged again), and the person's token. */
export interface TokenExchangeOptions extends ClientCredentialsOptions {
  /** The person's token the agent received. */
  subjectToken: string;
  /** Its RFC 8693 type URN (default: access token). */
  subjectTokenType?: string;
  requestedTokenType?: string;
  now?: () => number;
}

const MAX_SUBJECT_TOKEN_BYTES = 64 * 1024;

/** Checks what can be checked without the IdP: one token, not too large, and (when it is a JWT) not expired. */
export function checkSubjectToken(token: string, now: number): Date | undefined {
  if (!token || /\s/.test(token)) throw new Error('the subject token is empty or holds more than one token');
  if (Buffer.byteLength(token) > MAX_SUBJECT_TOKEN_BYTES) throw new Error(`the subject token is larger than ${MAX_SUBJECT_TOKEN_BYTES} bytes`);
  const exp = tokenExpiry(token);
  if (exp && exp.getTime() <= now) throw new Error(`the subject token expired at ${exp.toISOString()}; the person must log in again`);
  return exp;
}

function cacheKey(o: TokenExchangeOptions): LoginKey {
  const subject = createHash('sha256').update(o.subjectToken).digest('hex');
  const asked = [o.subjectTokenType ?? '', o.requestedTokenType ?? '', o.resource ?? '', o.audience ?? '', o.scopes.join(' ')].join(' ');
  return { issuer: o.issuer, clientId: o.clientId, user: `token-exchange ${subject} ${asked}` };
}

/** Exchanged tokens pile up one per subject token: forget the ones that have expired. */
function pruneExpired(cache: TokenCache, now: number): void {
  for (const c of cache.list()) {
    if (typeof c.user === 'string' && c.user.startsWith('token-exchange ') && (!c.expiresAt || Date.parse(c.expiresAt) <= now)) {
      try {
        cache.remove(c);
      } catch {
        // another run removed it first
      }
    }
  }
}

export async function exchangeToken(o: TokenExchangeOptions): Promise<IdToken> {
  const now = o.now ?? Date.now;
  const subjectExp = checkSubjectToken(o.subjectToken, now());
  const cached = {
    cacheDir: o.cacheDir,
    key: cacheKey(o),
    issuer: o.issuer,
    now,
    what: 'the exchanged token',
    beforeWrite: pruneExpired,
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.minValidityMs !== undefined ? { minValidityMs: o.minValidityMs } : {}),
  };
  const got = await cachedGrant(cached, async () => {
    const config = await discover({ issuer: o.issuer, clientId: o.clientId, clientSecret: o.clientSecret, ...(o.ca ? { ca: o.ca } : {}) });
    // Discovery that lists its grants and leaves this one out: say so instead of asking. One that lists none may still support it.
    const supported = config.serverMetadata().grant_types_supported;
    if (Array.isArray(supported) && !supported.includes(TOKEN_EXCHANGE_GRANT))
      throw new Error(`${o.issuer} does not support token exchange (RFC 8693): its discovery document does not list ${TOKEN_EXCHANGE_GRANT}`);
    const params: Record<string, string> = {
      subject_token: o.subjectToken,
      subject_token_type: o.subjectTokenType ?? TOKEN_TYPES['access_token'],
    };
    if (o.requestedTokenType) params['requested_token_type'] = o.requestedTokenType;
    if (o.resource) params['resource'] = o.resource;
    if (o.audience) params['audience'] = o.audience;
    if (o.scopes.length) params['scope'] = o.scopes.join(' ');
    try {
      return await client.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, params);
    } catch (err) {
      const e = err as { error?: string };
      if (e?.error === 'unsupported_grant_type')
        throw new Error(`${o.issuer} does not support token exchange (RFC 8693): unsupported_grant_type`, { cause: err });
      throw new Error(`the token exchange at ${o.issuer} failed: ${describe(err)}`, { cause: err });
    }
  });
  // kubectl keeps the token no longer than the person's own token lives.
  return subjectExp && subjectExp < got.expiresAt ? { ...got, expiresAt: subjectExp } : got;
}
