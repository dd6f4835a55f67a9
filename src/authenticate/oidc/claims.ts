// From a verified token's claims to the Identity kubetape acts for. Refusal
// reasons name the claim, never its value: they go back to whoever sent the
// token, and into logs.
import type { JWTPayload } from 'jose';
import type { Identity } from '../../model/identity.js';
import type { OidcIssuerConfig } from './config.js';

export type ClaimsResult = { ok: true; identity: Identity } | { ok: false; reason: string };

const AUTHENTICATED = 'system:authenticated';

function contains(v: unknown, want: string): boolean {
  return typeof v === 'string' ? v === want : Array.isArray(v) && v.includes(want);
}

/**
 * kube-apiserver's rule when the username claim is `email` (oidc.go): an
 * absent `email_verified` is accepted; a present one must be the JSON boolean
 * `true`. Go unmarshals the claim into a bool, so the string "true", 1 or an
 * object is a parse error and `null` leaves it false: all refused. Checking
 * only `=== false` let the string "false" (which some IdPs send) through.
 */
function emailVerifiedRefusal(p: JWTPayload): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(p, 'email_verified')) return undefined;
  const v = p['email_verified'];
  if (v === true) return undefined;
  if (v === false || v === null) return 'the token says its email address is not verified (email_verified is not true)';
  return `the token's "email_verified" claim is not a boolean; it must be true when the email claim is the username`;
}

export function identityFromClaims(p: JWTPayload, c: OidcIssuerConfig): ClaimsResult {
  if (typeof p.sub !== 'string' || p.sub === '') return { ok: false, reason: 'the token has no subject (sub) claim' };
  for (const [name, want] of Object.entries(c.requiredClaims)) {
    if (!contains(p[name], want)) return { ok: false, reason: `the token's "${name}" claim does not have the required value` };
  }
  const rawUser = p[c.usernameClaim];
  if (typeof rawUser !== 'string' || rawUser === '')
    return { ok: false, reason: `the token has no "${c.usernameClaim}" claim (the username claim) as a non-empty string` };
  if (c.usernameClaim === 'email') {
    const refused = emailVerifiedRefusal(p);
    if (refused) return { ok: false, reason: refused };
  }
  const user = c.usernamePrefix + rawUser;
  if (user.startsWith('system:')) return { ok: false, reason: 'usernames beginning with "system:" are reserved for the cluster; set a usernamePrefix' };

  let groups: string[] = [];
  if (c.groupsClaim) {
    const raw = p[c.groupsClaim];
    if (raw === undefined || raw === null) return { ok: false, reason: `the token has no "${c.groupsClaim}" claim (the groups claim)` };
    const items = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
    if (!items || items.some((g) => typeof g !== 'string'))
      return { ok: false, reason: `the token's "${c.groupsClaim}" claim is not a string or a list of strings` };
    // An IdP must not be able to hand out the cluster's own groups (system:masters!).
    groups = (items as string[])
      .filter((g) => g !== '')
      .map((g) => c.groupsPrefix + g)
      .filter((g) => !g.startsWith('system:'));
  }
  groups = [...new Set(groups), AUTHENTICATED];

  return { ok: true, identity: { user, groups, method: 'oidc', issuer: c.issuer, subject: p.sub } };
}
