// The `console:` section: who may read everyone's recordings through the
// sessions API and the web console, and how people log in to it in a
// browser. Without it, everyone sees only their own sessions (and approvers
// what their rules name), and the local one-time link is the only browser login.
import { ConfigError } from '../model/config-error.js';
import { checkUrl, list, mapping, onlyKeys, optionalNumber, optionalString, requiredString, type Obj } from '../model/validate.js';

/** A group that sees every session, or only the sessions of some clusters. */
export interface ViewerGrant {
  group: string;
  /** Absent: all clusters. */
  clusters?: string[];
}

export interface ConsoleOidcConfig {
  /** One of authentication.oidc's issuers: the ID token the login gets is checked like any bearer token (its audiences must name clientId). */
  issuer: string;
  clientId: string;
  /** File holding the client secret (absent: a public client, PKCE only). */
  clientSecretFile?: string;
  /** Where the issuer sends the browser back (default https://<the request's host>/kubetape/v1/login/callback). */
  redirectUrl?: string;
}

export interface ConsoleConfig {
  viewers: ViewerGrant[];
  oidc?: ConsoleOidcConfig;
  /** How long a one-time link from `kubetape console` stays valid (default 300 s). */
  linkTtlSeconds: number;
  /** How long a browser login lasts (default 8 h). */
  sessionTtlSeconds: number;
}

export const DEFAULT_CONSOLE: ConsoleConfig = { viewers: [], linkTtlSeconds: 300, sessionTtlSeconds: 8 * 3600 };

export function parseConsoleConfig(raw: unknown, resolvePath: (p: string) => string): ConsoleConfig {
  const o = mapping(raw, 'console');
  onlyKeys(o, ['viewers', 'oidc', 'linkTtlSeconds', 'sessionTtlSeconds'], 'console');
  const c: ConsoleConfig = { ...DEFAULT_CONSOLE, viewers: [] };
  if (o['viewers'] !== undefined && o['viewers'] !== null) {
    list(o['viewers'], 'console.viewers').forEach((v, i) => c.viewers.push(viewer(v, `console.viewers[${i}]`)));
  }
  if (o['oidc'] !== undefined && o['oidc'] !== null) {
    const x = mapping(o['oidc'], 'console.oidc');
    onlyKeys(x, ['issuer', 'clientId', 'clientSecretFile', 'redirectUrl'], 'console.oidc');
    const issuer = requiredString(x, 'issuer', 'console.oidc');
    checkUrl(issuer, 'console.oidc.issuer', { allowLoopbackHttp: true });
    c.oidc = { issuer, clientId: requiredString(x, 'clientId', 'console.oidc') };
    const secret = optionalString(x, 'clientSecretFile', 'console.oidc');
    if (secret) c.oidc.clientSecretFile = resolvePath(secret);
    const redirect = optionalString(x, 'redirectUrl', 'console.oidc');
    if (redirect) {
      const u = checkUrl(redirect, 'console.oidc.redirectUrl', { allowLoopbackHttp: true });
      if (u.pathname.replace(/\/+$/, '').endsWith('/kubetape/v1/login/callback') === false)
        throw new ConfigError('console.oidc.redirectUrl must end in /kubetape/v1/login/callback');
      c.oidc.redirectUrl = redirect;
    }
  }
  for (const k of ['linkTtlSeconds', 'sessionTtlSeconds'] as const) {
    const v = optionalNumber(o, k, 'console', 10, 30 * 86400);
    if (v !== undefined) c[k] = Math.floor(v);
  }
  return c;
}

function viewer(v: unknown, where: string): ViewerGrant {
  if (typeof v === 'string' && v !== '') return { group: v };
  const o: Obj = mapping(v, where);
  onlyKeys(o, ['group', 'clusters'], where);
  const g: ViewerGrant = { group: requiredString(o, 'group', where) };
  if (o['clusters'] !== undefined) {
    const cl = list(o['clusters'], `${where}.clusters`);
    if (cl.length === 0 || cl.some((x) => typeof x !== 'string' || x === '')) throw new ConfigError(`${where}.clusters must be a list of cluster names`);
    g.clusters = cl as string[];
  }
  return g;
}
