// Browser login to the console with OIDC: authorization code + PKCE
// (openid-client) against one of the issuers kubetape already trusts. The
// ID token that comes back is checked by kubetape's own authenticator, like
// any bearer token (so console.oidc.clientId must be one of that issuer's
// audiences), and becomes the login's identity. The PKCE verifier, state
// and nonce stay here, keyed by the state, which is also set in a short
// cookie on the login path: a callback is accepted only in the browser that
// started the login (no login CSRF), once, within ten minutes.
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { issuerFetch } from '../authenticate/oidc/fetch.js';
import type { ConsoleOidcConfig } from '../config/console.js';

export const LOGIN_COOKIE = 'kubetape_login';
const PENDING_MS = 10 * 60_000;
const MAX_PENDING = 10_000;
const SCOPES = 'openid email profile groups';

interface Pending {
  verifier: string;
  nonce: string;
  returnTo: string;
  redirectUri: string;
  expiresAt: number;
}

export class ConsoleOidcLogin {
  private config: Promise<client.Configuration> | undefined;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly o: ConsoleOidcConfig,
    /** PEM bundle for the issuer's TLS certificate (authentication.oidc's `ca` of the same issuer). */
    private readonly ca: string | undefined,
  ) {}

  private discover(): Promise<client.Configuration> {
    this.config ??= (async () => {
      const secret = this.o.clientSecretFile ? readFileSync(this.o.clientSecretFile, 'utf8').trim() : undefined;
      const server = new URL(this.o.issuer);
      const options: client.DiscoveryRequestOptions = { [client.customFetch]: issuerFetch({ timeoutMs: 10_000, ...(this.ca ? { ca: this.ca } : {}) }) };
      if (server.protocol === 'http:' && (server.hostname === '127.0.0.1' || server.hostname === 'localhost')) options.execute = [client.allowInsecureRequests];
      return client.discovery(server, this.o.clientId, secret, secret ? client.ClientSecretPost(secret) : client.None(), options);
    })();
    // A failed discovery is tried again at the next login.
    this.config.catch(() => (this.config = undefined));
    return this.config;
  }

  /** Where to send the browser; `state` goes into the login cookie. */
  async start(returnTo: string, origin: string): Promise<{ url: string; state: string }> {
    const config = await this.discover();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const redirectUri = this.o.redirectUrl ?? `${origin}/kubetape/v1/login/callback`;
    const now = Date.now();
    for (const [k, p] of this.pending) if (p.expiresAt <= now || this.pending.size >= MAX_PENDING) this.pending.delete(k);
    this.pending.set(state, { verifier, nonce, returnTo, redirectUri, expiresAt: now + PENDING_MS });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPES,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state };
  }

  /** The ID token of a callback, and where the login wanted to go; throws with a message for people. */
  async finish(callbackQuery: string, cookieState: string | undefined): Promise<{ idToken: string; returnTo: string }> {
    const params = new URLSearchParams(callbackQuery);
    const state = params.get('state') ?? '';
    const p = this.pending.get(state);
    if (!p || !cookieState || cookieState !== state || p.expiresAt <= Date.now())
      throw new Error('this login was not started in this browser, or it took too long; log in again');
    this.pending.delete(state);
    const config = await this.discover();
    const r = await client.authorizationCodeGrant(config, new URL(`?${callbackQuery}`, p.redirectUri), {
      pkceCodeVerifier: p.verifier,
      expectedState: state,
      expectedNonce: p.nonce,
      idTokenExpected: true,
    });
    if (!r.id_token) throw new Error('the issuer answered without an ID token');
    return { idToken: r.id_token, returnTo: p.returnTo };
  }
}

export function describeOidcError(err: unknown): string {
  const e = err as { error?: string; error_description?: string; message?: string };
  if (e?.error) return e.error_description ? `${e.error}: ${e.error_description}` : e.error;
  return e?.message ?? String(err);
}
