// The `authentication.oidc` section: which issuers kubetape trusts and how
// their ID tokens become a Kubernetes user. Names follow kube-apiserver's
// --oidc-* flags where they mean the same thing.
import { ConfigError } from '../../model/config-error.js';
import { checkUrl, list, mapping, onlyKeys, optionalNumber, optionalString, requiredString, stringOrList, type Obj } from '../../model/validate.js';

export interface OidcIssuerConfig {
  /** The `iss` value, exactly; discovery is fetched from ISSUER/.well-known/openid-configuration. */
  issuer: string;
  /**
   * person (default): ID tokens of people. machine: tokens of agents, CI jobs
   * and workloads (client credentials, service-account tokens): every identity
   * from it is a machine, under its own usernamePrefix (default "machine:").
   * One issuer may be listed twice, once per kind: a token shaped like a
   * client-credentials token then goes to the machine entry.
   */
  kind: 'person' | 'machine';
  /** A claim naming the person an agent acts for (besides RFC 8693's `act`), recorded and matched by policy as `actingFor`. */
  actingForClaim?: string;
  /** Groups every identity from this issuer is in (machine issuers: how agents get their IAM role or impersonation). */
  groups: string[];
  /** Accepted `aud` values (audience and clientId together); a token must name one of them. */
  audiences: string[];
  /** Claim holding the username (default `sub`). */
  usernameClaim: string;
  /** Prepended to every username (default none; set one per issuer when you trust several). */
  usernamePrefix: string;
  /** Claim holding the groups (default `groups`); '' means the issuer's tokens carry none. When set, a token without it is refused. */
  groupsClaim: string;
  groupsPrefix: string;
  /** Claims that must be present with exactly these values (a list claim must contain the value). */
  requiredClaims: Record<string, string>;
  /** Signing algorithms accepted (asymmetric only). */
  algorithms: string[];
  /** Tolerance for exp, nbf and iat, in seconds. */
  clockSkewSeconds: number;
  /** Path of a PEM bundle for the issuer's TLS certificate (discovery and JWKS), when it is not publicly trusted. */
  ca?: string;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const ASYMMETRIC = new Set([...DEFAULT_ALGORITHMS, 'Ed25519']);
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

const KEYS = [
  'issuer',
  'audience',
  'clientId',
  'usernameClaim',
  'usernamePrefix',
  'groupsClaim',
  'groupsPrefix',
  'requiredClaims',
  'algorithms',
  'clockSkewSeconds',
  'ca',
  'kind',
  'actingForClaim',
  'groups',
] as const;

/** What a machine's username begins with unless configured (so no machine reads as a person's name). */
export const DEFAULT_MACHINE_PREFIX = 'machine:';

export function parseOidcIssuer(raw: unknown, where: string): OidcIssuerConfig {
  const o = mapping(raw, where);
  onlyKeys(o, KEYS, where);
  const issuer = requiredString(o, 'issuer', where);
  checkUrl(issuer, `${where}.issuer`, { allowLoopbackHttp: true });
  const audiences = [...(stringOrList(o, 'audience', where) ?? []), ...(stringOrList(o, 'clientId', where) ?? [])];
  if (audiences.length === 0) throw new ConfigError(`${where} needs an audience (or clientId): the aud value kubetape's tokens are issued for`);
  const algorithms = stringOrList(o, 'algorithms', where) ?? DEFAULT_ALGORITHMS;
  for (const a of algorithms) {
    // "none" and HMAC would let anyone who knows the issuer's public key (everyone) forge tokens.
    if (!ASYMMETRIC.has(a)) throw new ConfigError(`${where}.algorithms: "${a}" is not allowed; use asymmetric algorithms (${DEFAULT_ALGORITHMS.join(', ')})`);
  }
  const kind = optionalString(o, 'kind', where) ?? 'person';
  if (kind !== 'person' && kind !== 'machine') throw new ConfigError(`${where}.kind must be person or machine, got ${JSON.stringify(kind)}`);
  const groups = stringOrList(o, 'groups', where) ?? [];
  for (const g of groups) if (g.startsWith('system:')) throw new ConfigError(`${where}.groups: "${g}" is reserved for the cluster`);
  const c: OidcIssuerConfig = {
    issuer,
    kind,
    groups,
    audiences: [...new Set(audiences)],
    usernameClaim: optionalString(o, 'usernameClaim', where) || 'sub',
    usernamePrefix: optionalString(o, 'usernamePrefix', where) ?? (kind === 'machine' ? DEFAULT_MACHINE_PREFIX : ''),
    // Client-credentials tokens seldom carry groups: a machine issuer reads none unless told which claim.
    groupsClaim: optionalString(o, 'groupsClaim', where) ?? (kind === 'machine' ? '' : 'groups'),
    groupsPrefix: optionalString(o, 'groupsPrefix', where) ?? '',
    requiredClaims: requiredClaims(o['requiredClaims'], `${where}.requiredClaims`),
    algorithms,
    clockSkewSeconds: optionalNumber(o, 'clockSkewSeconds', where, 0, 600) ?? DEFAULT_CLOCK_SKEW_SECONDS,
  };
  const ca = optionalString(o, 'ca', where);
  if (ca) c.ca = ca;
  const actingForClaim = optionalString(o, 'actingForClaim', where);
  if (actingForClaim) c.actingForClaim = actingForClaim;
  return c;
}

function requiredClaims(raw: unknown, where: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  const o: Obj = mapping(raw, where);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string') throw new ConfigError(`${where}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

export function parseOidcIssuers(raw: unknown, where: string): OidcIssuerConfig[] {
  const items = list(raw, where).map((x, i) => parseOidcIssuer(x, `${where}[${i}]`));
  const seen = new Set<string>();
  for (const c of items) {
    const key = `${c.kind} ${c.issuer}`;
    if (seen.has(key)) throw new ConfigError(`${where}: issuer ${c.issuer} is listed twice as ${c.kind}`);
    seen.add(key);
  }
  // A machine must never read as a person: no person's username may begin with a machine prefix.
  const machinePrefixes = items.filter((c) => c.kind === 'machine').map((c) => c.usernamePrefix);
  for (const p of items.filter((c) => c.kind === 'person')) {
    const clash = machinePrefixes.find((m) => m !== '' && (p.usernamePrefix.startsWith(m) || (p.usernamePrefix !== '' && m.startsWith(p.usernamePrefix))));
    if (clash !== undefined)
      throw new ConfigError(`${where}: the person issuer ${p.issuer} has usernamePrefix "${p.usernamePrefix}", which overlaps the machine prefix "${clash}"`);
  }
  return items;
}
