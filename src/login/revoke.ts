// Logging out should end the login at the issuer too, not only on this
// machine: a refresh token copied from the cache before logout would
// otherwise keep minting ID tokens until it expires. RFC 7009 revocation,
// when the issuer advertises a revocation_endpoint.
import * as client from 'openid-client';
import { describe, discover } from './oidc-login.js';
import type { CachedTokens } from './token-cache.js';

export type RevokeOutcome =
  | { kind: 'revoked' }
  | { kind: 'nothing' } // no refresh token cached: the ID token expires by itself
  | { kind: 'unsupported' } // the issuer offers no revocation endpoint
  | { kind: 'failed'; reason: string };

export interface RevokeOptions {
  /** Needed for issuers that authenticate the client at the revocation endpoint. */
  clientSecret?: string;
  timeoutMs?: number;
}

export async function revokeLogin(entry: CachedTokens, o: RevokeOptions = {}): Promise<RevokeOutcome> {
  if (!entry.refreshToken) return { kind: 'nothing' };
  try {
    const config = await discover({
      issuer: entry.issuer,
      clientId: entry.clientId,
      timeoutMs: o.timeoutMs ?? 5_000,
      ...(o.clientSecret ? { clientSecret: o.clientSecret } : {}),
      ...(entry.ca ? { ca: entry.ca } : {}),
    });
    if (typeof config.serverMetadata().revocation_endpoint !== 'string') return { kind: 'unsupported' };
    await client.tokenRevocation(config, entry.refreshToken, { token_type_hint: 'refresh_token' });
    return { kind: 'revoked' };
  } catch (err) {
    return { kind: 'failed', reason: describe(err) };
  }
}

/** How `logout` reports the outcome, after "logged out of ...". */
export function describeRevocation(r: RevokeOutcome, issuer: string): string {
  switch (r.kind) {
    case 'revoked':
      return '; its refresh token is revoked at the issuer';
    case 'nothing':
      return '';
    case 'unsupported':
      return `; ${issuer} offers no token revocation, so its refresh token stays valid until it expires`;
    case 'failed':
      return `; the refresh token could NOT be revoked at ${issuer} (${r.reason}): it stays valid until it expires`;
  }
}
