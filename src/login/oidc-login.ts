// The OAuth work of `kubetape credential`, done by openid-client: discovery,
// authorization code with PKCE on a loopback redirect (RFC 8252), device
// authorization (RFC 8628) when no browser can open here, and refresh.
import * as client from 'openid-client';
import { issuerFetch } from '../authenticate/oidc/fetch.js';
import { listenLoopback, type LoopbackListener } from './loopback.js';

export interface OidcClientOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** PEM bundle for the issuer's TLS certificate. */
  ca?: string;
  timeoutMs?: number;
}

export interface Tokens {
  idToken: string;
  refreshToken?: string;
}

export type Say = (line: string) => void;

function isLoopbackHttp(u: URL): boolean {
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]');
}

export async function discover(o: OidcClientOptions): Promise<client.Configuration> {
  const server = new URL(o.issuer);
  const options: client.DiscoveryRequestOptions = {
    [client.customFetch]: issuerFetch({ timeoutMs: o.timeoutMs ?? 10_000, ...(o.ca ? { ca: o.ca } : {}) }),
  };
  // Plain http only for an IdP on this machine (development); anything else must be https.
  if (isLoopbackHttp(server)) options.execute = [client.allowInsecureRequests];
  try {
    return await client.discovery(server, o.clientId, o.clientSecret, o.clientSecret ? client.ClientSecretPost(o.clientSecret) : client.None(), options);
  } catch (err) {
    throw new Error(`cannot read the OIDC discovery document of ${o.issuer}: ${describe(err)}`, { cause: err });
  }
}

function tokensFrom(r: client.TokenEndpointResponse, what: string): Tokens {
  if (!r.id_token) throw new Error(`the issuer answered the ${what} without an ID token (ask for the openid scope)`);
  return { idToken: r.id_token, ...(r.refresh_token ? { refreshToken: r.refresh_token } : {}) };
}

export async function refresh(config: client.Configuration, refreshToken: string): Promise<Tokens> {
  const r = await client.refreshTokenGrant(config, refreshToken);
  // Some issuers rotate refresh tokens, some do not: keep the old one when no new one came.
  const t = tokensFrom(r, 'refresh');
  return t.refreshToken ? t : { ...t, refreshToken };
}

export interface BrowserLoginOptions {
  scopes: string[];
  /** Loopback ports to try in order (0 = any free port). */
  ports: number[];
  openBrowser: (url: string) => boolean;
  timeoutMs: number;
  say: Say;
}

/** Authorization code + PKCE with the redirect coming back to a listener on 127.0.0.1. */
export async function browserLogin(config: client.Configuration, o: BrowserLoginOptions): Promise<Tokens> {
  const listener: LoopbackListener = await listenLoopback(o.ports);
  try {
    const redirectUri = `http://127.0.0.1:${listener.port}/callback`;
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: o.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const opened = o.openBrowser(url.href);
    o.say(opened ? `kubetape: log in in your browser (if it did not open, visit ${url.href})` : `kubetape: to log in, open ${url.href}`);
    const callback = await listener.waitForCallback('/callback', o.timeoutMs);
    try {
      const r = await client.authorizationCodeGrant(config, new URL(callback, redirectUri), {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      });
      listener.answer(true, 'You are logged in to kubetape. You can close this tab.');
      return tokensFrom(r, 'login');
    } catch (err) {
      listener.answer(false, `kubetape login failed: ${describe(err)}`);
      throw new Error(`login failed: ${describe(err)}`, { cause: err });
    }
  } finally {
    listener.close();
  }
}

export interface DeviceLoginOptions {
  scopes: string[];
  timeoutMs: number;
  say: Say;
}

/** RFC 8628: show a code to type in on another device, poll until it is approved. */
export async function deviceLogin(config: client.Configuration, o: DeviceLoginOptions): Promise<Tokens> {
  const d = await client.initiateDeviceAuthorization(config, { scope: o.scopes.join(' ') });
  o.say(`kubetape: to log in, open ${d.verification_uri} and enter the code ${d.user_code}`);
  if (d.verification_uri_complete) o.say(`kubetape: or open ${d.verification_uri_complete}`);
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    return tokensFrom(await client.pollDeviceAuthorizationGrant(config, d, undefined, { signal }), 'device login');
  } catch (err) {
    if (signal.aborted) throw new Error(`the device login was not completed within ${Math.round(o.timeoutMs / 1000)}s`, { cause: err });
    throw new Error(`device login failed: ${describe(err)}`, { cause: err });
  }
}

export function supportsDeviceFlow(config: client.Configuration): boolean {
  return typeof config.serverMetadata().device_authorization_endpoint === 'string';
}

export function describe(err: unknown): string {
  const e = err as { error?: string; error_description?: string; message?: string; cause?: { message?: string } };
  if (e?.error) return e.error_description ? `${e.error}: ${e.error_description}` : e.error;
  const cause = e?.cause?.message ? ` (${e.cause.message})` : '';
  return `${e?.message ?? String(err)}${cause}`;
}
