// From a verified token's claims to the Identity kubetape acts for. Refusal
// reasons name the claim, never its value: they go back to whoever sent the
// token, and into logs.
import { hasControlChars } from '../../model/header-text.js';
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

/**
 * A token an OAuth client got for itself (client credentials): RFC 9068 makes
 * its `sub` the client id, Auth0 marks it `gty: client-credentials`. Such a
 * token names no person, whatever its other claims say.
 */
export function isClientCredentialsShaped(p: JWTPayload): boolean {
  if (p['gty'] === 'client-credentials') return true;
  const client = p['client_id'] ?? p['azp'];
  return typeof client === 'string' && client !== '' && p.sub === client && p['act'] === undefined;
}

const MAX_ACTORS = 8;
const MAX_NAME = 256;

/** RFC 8693 §4.1 `act`: the current actor, and nested `act` for the ones before it. Undefined: no act; a string: why it is unreadable. */
function delegationChain(p: JWTPayload): string[] | string | undefined {
  let act = p['act'];
  if (act === undefined) return undefined;
  const chain: string[] = [];
  while (act !== undefined) {
    if (typeof act !== 'object' || act === null || Array.isArray(act)) return 'the token\'s "act" claim is not an object';
    const a = act as Record<string, unknown>;
    const sub = a['sub'] ?? a['client_id'];
    if (typeof sub !== 'string' || sub === '' || sub.length > MAX_NAME) return 'an actor in the token\'s "act" claim has no subject';
    chain.push(sub);
    if (chain.length > MAX_ACTORS) return `the token's "act" claim nests more than ${MAX_ACTORS} actors`;
    act = a['act'];
  }
  return chain;
}

export interface ClaimsOptions {
  /** Person issuers: username beginnings that belong to machines (the machine issuers' prefixes). */
  machinePrefixes?: string[];
}

const SERVICE_ACCOUNT = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/;

export function identityFromClaims(p: JWTPayload, c: OidcIssuerConfig, o: ClaimsOptions = {}): ClaimsResult {
  if (typeof p.sub !== 'string' || p.sub === '') return { ok: false, reason: 'the token has no subject (sub) claim' };
  const chain = delegationChain(p);
  if (typeof chain === 'string') return { ok: false, reason: chain };
  // The rule that keeps machines from passing as people: a person issuer takes only tokens that name a person.
  if (c.kind === 'person' && isClientCredentialsShaped(p))
    return {
      ok: false,
      reason:
        'the token is a client-credentials token (it names an OAuth client, not a person); machines log in through an issuer configured with kind: machine',
    };
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
  // A machine issuer without a prefix may name service accounts (an EKS cluster's own issuer), as the API server does.
  const serviceAccount = c.kind === 'machine' && c.usernamePrefix === '' ? SERVICE_ACCOUNT.exec(user) : null;
  if (c.kind === 'machine' && c.usernamePrefix === '' && !serviceAccount)
    return { ok: false, reason: 'a machine issuer without a usernamePrefix accepts only service accounts (system:serviceaccount:NAMESPACE:NAME)' };
  if (user.startsWith('system:') && !serviceAccount)
    return { ok: false, reason: 'usernames beginning with "system:" are reserved for the cluster; set a usernamePrefix' };
  if (c.kind === 'person' && (o.machinePrefixes ?? []).some((m) => m !== '' && user.startsWith(m)))
    return { ok: false, reason: 'the username begins with a prefix reserved for machines' };

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
  if (serviceAccount) groups.push('system:serviceaccounts', `system:serviceaccounts:${serviceAccount[1]}`);
  groups = [...new Set([...groups, ...c.groups]), AUTHENTICATED];

  // A name goes to the cluster in a header (impersonation) and into recordings: a control character has no place in one.
  if (hasControlChars(user)) return { ok: false, reason: 'the username holds control characters' };
  if (groups.some(hasControlChars)) return { ok: false, reason: 'a group name holds control characters' };
  if (Array.isArray(chain) && chain.some(hasControlChars)) return { ok: false, reason: 'an actor in the token\'s "act" claim holds control characters' };

  const identity: Identity = { user, groups, method: 'oidc', issuer: c.issuer, subject: p.sub, kind: c.kind };
  if (chain) {
    // RFC 8693: the token's subject is whom the actor acts for; the actor is the agent calling.
    identity.kind = 'machine';
    identity.agent = chain[0];
    identity.actingFor = user;
    identity.delegation = chain;
  } else if (c.kind === 'machine') {
    identity.agent = user;
    if (c.actingForClaim) {
      const v = p[c.actingForClaim];
      if (v !== undefined && (typeof v !== 'string' || v === '' || v.length > MAX_NAME || hasControlChars(v)))
        return { ok: false, reason: `the token's "${c.actingForClaim}" claim (whom the agent acts for) is not a name` };
      if (typeof v === 'string') identity.actingFor = v;
    }
  }
  return { ok: true, identity };
}
