// What every authenticator returns. Kept apart from any one mechanism so the
// token file and OIDC produce the same thing for the layers after them.
import type { Identity } from '../model/identity.js';
import { tokenWithoutContext } from './credential-context.js';

/**
 * `status` is 401 unless said otherwise: 503 when kubetape could not check the
 * credential at all (an issuer's keys unreachable), which re-logging in would not fix.
 */
export type AuthResult = { ok: true; identity: Identity } | { ok: false; reason: string; status?: 401 | 503 };

export interface Authenticator {
  /** `authorization` is the raw Authorization header, if any. */
  authenticate(authorization: string | undefined): Promise<AuthResult>;
}

/** Extract a bearer token (without any carried trace context); undefined when the header is missing or of another scheme. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  // A token `kubetape credential` put trace context in front of is checked without it.
  return m ? tokenWithoutContext(m[1]) : undefined;
}
