// Authentication: client certificates signed by the configured client CA
// (CN = user, O = groups), then bearer tokens (EKS tokens when eks-auth is
// configured, which needs a round trip to STS), then (optionally) anonymous.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, type Identity } from './rbac.js';
import type { FakeUser } from './types.js';
import { EKS_PREFIX, type EksTokenAuthenticator } from './eks-auth.js';

export interface AuthConfig {
  users: FakeUser[];
  clientCerts: boolean;
  anonymous: boolean;
  eks?: EksTokenAuthenticator;
}

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
    if (m && cfg.eks && m[1]!.startsWith(EKS_PREFIX)) return cfg.eks.authenticate(m[1]!).then((r) => (r.ok ? r.identity : 'invalid'));
    const u = m ? cfg.users.find((x) => x.token === m[1]) : undefined;
    if (!u) return 'invalid';
    const groups = [...(u.groups ?? [])];
    if (!groups.includes(AUTHENTICATED)) groups.push(AUTHENTICATED);
    return { user: u.user, groups };
  }
  if (cfg.anonymous) return { user: ANONYMOUS, groups: [UNAUTHENTICATED] };
  return 'none';
}
