// Authentication: client certificates signed by the configured client CA
// (CN = user, O = groups), then bearer tokens (first the configured token
// authenticators, e.g. the tests' EKS tokens, which need a round trip to
// STS; then the static token list), then (optionally) anonymous.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, type Identity } from './rbac.js';
import type { ApiUser } from './types.js';

export interface AuthConfig {
  users: ApiUser[];
  clientCerts: boolean;
  anonymous: boolean;
  tokenAuthenticators?: TokenAuthenticator[];
}

/**
 * A bearer-token check besides the static list: undefined when the token is
 * not its kind (the next one is asked), else who it is or 'invalid'.
 */
export type TokenAuthenticator = (token: string) => AuthResult | Promise<AuthResult> | undefined;

/** 'none' = no credentials at all; 'invalid' = credentials that did not check out (always 401). */
export type AuthResult = Identity | 'none' | 'invalid';

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

export function authenticate(req: IncomingMessage, cfg: AuthConfig): AuthResult | Promise<AuthResult> {
  if (cfg.clientCerts) {
    const sock = req.socket as TLSSocket;
    if (sock.authorized && typeof sock.getPeerCertificate === 'function') {
      const cert = sock.getPeerCertificate();
      const subject = cert?.subject as unknown as Record<string, string | string[] | undefined> | undefined;
      const cn = asList(subject?.CN)[0];
      if (cn) return { user: cn, groups: [...asList(subject?.O), AUTHENTICATED] };
    }
  }
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    for (const check of m ? (cfg.tokenAuthenticators ?? []) : []) {
      const r = check(m![1]);
      if (r !== undefined) return r;
    }
    const u = m ? cfg.users.find((x) => x.token === m[1]) : undefined;
    if (!u) return 'invalid';
    const groups = [...(u.groups ?? [])];
    if (!groups.includes(AUTHENTICATED)) groups.push(AUTHENTICATED);
    return { user: u.user, groups };
  }
  if (cfg.anonymous) return { user: ANONYMOUS, groups: [UNAUTHENTICATED] };
  return 'none';
}
