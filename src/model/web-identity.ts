// The caller's own OIDC token, kept beside its Identity rather than in it:
// STS AssumeRoleWithWebIdentity needs the token, but an Identity is copied
// into recordings and logs, and a WeakMap entry is never serialised.
// authenticate/oidc attaches it; credentials/role-sessions.ts reads it.
import type { Identity } from './identity.js';

export interface WebIdentity {
  /** The compact JWT exactly as the caller presented it. */
  token: string;
  /** Its `exp`, in ms since the epoch. */
  expiresAt: number;
}

const tokens = new WeakMap<Identity, WebIdentity>();

export function attachWebIdentity(identity: Identity, w: WebIdentity): void {
  tokens.set(identity, w);
}

export function webIdentityOf(identity: Identity): WebIdentity | undefined {
  return tokens.get(identity);
}
