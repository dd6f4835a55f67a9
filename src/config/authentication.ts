// The `authentication` section: a static token file (automation), OIDC
// issuers (people), or both.
import { parseOidcIssuers, type OidcIssuerConfig } from '../authenticate/oidc/config.js';
import { mapping, onlyKeys, optionalString } from '../model/validate.js';

export interface AuthenticationConfig {
  /** kube-apiserver token file; default DATA/tokens.csv made for the OS user, unless OIDC is configured. */
  tokenFile?: string;
  oidc: OidcIssuerConfig[];
}

/** Parse the YAML section; `resolvePath` makes file paths absolute (relative to the config file). */
export function parseAuthentication(raw: unknown, resolvePath: (p: string) => string): AuthenticationConfig {
  const o = mapping(raw, 'authentication');
  onlyKeys(o, ['tokenFile', 'oidc'], 'authentication');
  const a: AuthenticationConfig = { oidc: o['oidc'] === undefined || o['oidc'] === null ? [] : parseOidcIssuers(o['oidc'], 'authentication.oidc') };
  const tokenFile = optionalString(o, 'tokenFile', 'authentication');
  if (tokenFile) a.tokenFile = resolvePath(tokenFile);
  for (const i of a.oidc) if (i.ca) i.ca = resolvePath(i.ca);
  return a;
}
