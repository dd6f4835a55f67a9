// Bearer tokens that are ID tokens from a trusted OIDC issuer. The issuer is
// picked by the token's (unverified) `iss`, then everything is checked
// against that issuer's configuration: signature with its published keys and
// an allow-listed algorithm, `iss`, `aud`, `exp`/`nbf`/`iat` within the
// configured skew, required claims, username and groups claims.
import { readFileSync } from 'node:fs';
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { bearerToken, type AuthResult, type Authenticator } from '../identity.js';
import { identityFromClaims, isClientCredentialsShaped } from './claims.js';
import type { OidcIssuerConfig } from './config.js';
import { IssuerKeys, IssuerUnavailableError, type IssuerKeysOptions } from './issuer-keys.js';
import { attachWebIdentity } from '../../model/web-identity.js';

/** Larger tokens are refused before any parsing (ID tokens are a few KiB even with many groups). */
export const MAX_TOKEN_BYTES = 12 * 1024;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Cheap shape test used to route a bearer token to OIDC rather than the token file. */
export function looksLikeJwt(token: string): boolean {
  return COMPACT_JWS.test(token);
}

interface Trusted {
  config: OidcIssuerConfig;
  keys: IssuerKeys;
}

export interface OidcAuthenticatorOptions extends Omit<IssuerKeysOptions, 'ca'> {
  /** Reads a CA file named in the config (tests may pass PEM through their own reader). */
  readCa?: (path: string) => string;
}

export class OidcAuthenticator implements Authenticator {
  /** By `iss`: the entry for people, the entry for machines, or both (an IdP that serves both). */
  private readonly issuers = new Map<string, { person?: Trusted; machine?: Trusted }>();
  private readonly machinePrefixes: string[];

  constructor(configs: OidcIssuerConfig[], o: OidcAuthenticatorOptions = {}) {
    const readCa = o.readCa ?? ((p: string) => readFileSync(p, 'utf8'));
    this.machinePrefixes = configs.filter((c) => c.kind === 'machine').map((c) => c.usernamePrefix);
    for (const config of configs) {
      let ca: string | undefined;
      if (config.ca) {
        try {
          ca = readCa(config.ca);
        } catch (err) {
          throw new Error(
            `cannot read the CA file ${config.ca} of OIDC issuer ${config.issuer} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
            { cause: err },
          );
        }
      }
      const { readCa: _ignored, ...keyOptions } = o;
      const entry = this.issuers.get(config.issuer) ?? {};
      // Both entries of one issuer share its keys: one discovery, one JWKS cache.
      const keys = (entry.person ?? entry.machine)?.keys ?? new IssuerKeys(config.issuer, { ...keyOptions, ...(ca ? { ca } : {}) });
      entry[config.kind] = { config, keys };
      this.issuers.set(config.issuer, entry);
    }
  }

  /** The key cache of one issuer (tests look at its fetch count). */
  keysOf(issuer: string): IssuerKeys | undefined {
    const e = this.issuers.get(issuer);
    return (e?.person ?? e?.machine)?.keys;
  }

  async authenticate(authorization: string | undefined): Promise<AuthResult> {
    const token = bearerToken(authorization);
    if (!token) return { ok: false, reason: authorization ? 'the Authorization header is not a bearer token' : 'no bearer token was presented' };
    return this.verify(token);
  }

  async verify(token: string): Promise<AuthResult> {
    if (token.length > MAX_TOKEN_BYTES) return { ok: false, reason: `the bearer token is larger than ${MAX_TOKEN_BYTES} bytes` };
    if (!looksLikeJwt(token)) return { ok: false, reason: 'the bearer token is not a JWT' };
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      return { ok: false, reason: 'the bearer token is not a well-formed JWT' };
    }
    const entry = typeof unverified.iss === 'string' ? this.issuers.get(unverified.iss) : undefined;
    // An issuer listed for both: a client-credentials token is a machine's; anything else goes to the person entry, which checks it as a person's.
    const trusted = entry?.machine && (!entry.person || isClientCredentialsShaped(unverified)) ? entry.machine : entry?.person;
    if (!trusted) return { ok: false, reason: 'the token was not issued by an issuer kubetape trusts' };
    const c = trusted.config;

    let payload: JWTPayload;
    try {
      const keys = await trusted.keys.keySet();
      ({ payload } = await jwtVerify(token, keys, {
        issuer: c.issuer,
        audience: c.audiences,
        algorithms: c.algorithms,
        clockTolerance: c.clockSkewSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      return refusal(err);
    }
    // jose checks `iat` only against a maximum age; a token from the future is as wrong as an expired one.
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + c.clockSkewSeconds) {
      return { ok: false, reason: 'the token was issued in the future (iat); check the clocks' };
    }
    const mapped = identityFromClaims(payload, c, { machinePrefixes: this.machinePrefixes });
    if (!mapped.ok) return mapped;
    attachWebIdentity(mapped.identity, { token, expiresAt: (payload.exp as number) * 1000 });
    return mapped;
  }
}

/** What went wrong, in words that help the caller and reveal nothing of the token. */
function refusal(err: unknown): AuthResult {
  if (err instanceof IssuerUnavailableError) return { ok: false, status: 503, reason: err.message };
  if (err instanceof errors.JWTExpired) return { ok: false, reason: 'the token has expired; log in again' };
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return { ok: false, reason: `the token has no "${err.claim}" claim` };
    switch (err.claim) {
      case 'nbf':
        return { ok: false, reason: 'the token is not valid yet (nbf); check the clocks' };
      case 'aud':
        return { ok: false, reason: 'the token was not issued for kubetape (its audience does not match)' };
      case 'iss':
        return { ok: false, reason: 'the token was not issued by an issuer kubetape trusts' };
      default:
        return { ok: false, reason: `the token's "${err.claim}" claim is invalid` };
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: "the token's signing algorithm is not allowed" };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: "the token's signature does not verify" };
  if (err instanceof errors.JWKSNoMatchingKey) return { ok: false, reason: 'the token is signed with a key its issuer does not publish' };
  if (err instanceof errors.JWKSMultipleMatchingKeys) return { ok: false, reason: "the token's signature does not verify with any of the issuer's keys" };
  if (err instanceof errors.JOSENotSupported) return { ok: false, reason: "the token's algorithm or key type is not supported" };
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return { ok: false, reason: 'the bearer token is not a well-formed JWT' };
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid)
    return { ok: false, status: 503, reason: "the issuer's signing keys could not be fetched" };
  if (err instanceof errors.JOSEError) return { ok: false, reason: 'the token could not be verified' };
  // Network errors from fetching keys: not the caller's fault.
  return { ok: false, status: 503, reason: `the issuer's signing keys could not be fetched (${(err as Error).message})` };
}
