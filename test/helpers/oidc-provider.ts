// A real OpenID provider for login tests: node-oidc-provider over HTTPS on
// 127.0.0.1 with a native public client for kubetape (PKCE, any loopback
// port, refresh tokens, device flow) and users in groups. Its development
// login and consent pages accept any password for a known login.
import { createServer, type Server } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import * as oidcClient from 'openid-client';
import Provider from 'oidc-provider';
import * as oidcProviderModule from 'oidc-provider';
import { createLoopbackTls } from '../../src/listen/tls.js';
import { issuerFetch } from '../../src/authenticate/oidc/fetch.js';
import { ScriptedBrowser } from './scripted-browser.js';

export interface TestAccount {
  email: string;
  groups: string[];
}

/** An OAuth client for machines (client-credentials grant); `actFor` makes its tokens say it acts for that person (as an RFC 8693 exchange would). */
export interface TestMachineClient {
  clientId: string;
  secret: string;
  actFor?: string;
  /**
   * This machine may exchange a person's token (RFC 8693, see
   * registerTokenExchange below) when that token was issued for this
   * audience (the MCP server's own resource URI): the person logged in to it.
   */
  exchange?: { subjectAudience: string };
}

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** The public client a person logs in with to use an MCP server (the MCP host), when a machine can exchange tokens. */
export const MCP_HOST_CLIENT = 'mcp-host';

/** The resource (audience) machine tokens are issued for, unless a test names another. */
export const MACHINE_RESOURCE = 'https://kubetape.test';

export interface TestProvider {
  issuer: string;
  /** PEM CA of its TLS certificate. */
  ca: string;
  clientId: string;
  /** Token endpoint grants seen, by grant_type (tests check refresh happened). */
  grants: string[];
  /** Token endpoint requests refused, by grant_type (tests check a request never reached the IdP). */
  refused: string[];
  /** Signs an access token with the provider's own key (tests that need one no login gives: an expired one). */
  signAccessToken(payload: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

export async function startTestProvider(
  accounts: Record<string, TestAccount>,
  o: { idTokenTtlSeconds?: number; machines?: TestMachineClient[]; accessTokenTtlSeconds?: number; clients?: Array<Record<string, unknown>> } = {},
): Promise<TestProvider> {
  const tls = await createLoopbackTls('test-oidc-provider');
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-es256', alg: 'ES256', use: 'sig' };
  const exchangers = (o.machines ?? []).filter((m) => m.exchange);
  // The act claim of each token the exchange grant issued (the JWT customizer below writes it).
  const exchangedAct = new WeakMap<object, unknown>();
  const server: Server = createServer({ cert: tls.server.cert, key: tls.server.key });
  const sockets = new Set<Socket>();
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const grants: string[] = [];
  const refused: string[] = [];
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'kubetape',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
      // More clients a test needs (the console's web client).
      ...(o.clients ?? []),
      ...(exchangers.length
        ? [
            {
              client_id: MCP_HOST_CLIENT,
              application_type: 'native',
              token_endpoint_auth_method: 'none',
              redirect_uris: ['http://127.0.0.1/callback'],
              grant_types: ['authorization_code'],
              response_types: ['code'],
              id_token_signed_response_alg: 'ES256',
            },
          ]
        : []),
      ...(o.machines ?? []).map((m) => ({
        client_id: m.clientId,
        client_secret: m.secret,
        grant_types: m.exchange ? ['client_credentials', TOKEN_EXCHANGE] : ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'ES256',
      })),
    ],
    findAccount: (_ctx: unknown, sub: string) => {
      const a = accounts[sub];
      return a ? { accountId: sub, claims: () => ({ sub, email: a.email, email_verified: true, groups: a.groups }) } : undefined;
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'groups'],
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      // Machines: client credentials, with JWT access tokens for one resource (RFC 8707, RFC 9068).
      ...(o.machines
        ? {
            clientCredentials: { enabled: true },
            resourceIndicators: {
              enabled: true,
              defaultResource: () => MACHINE_RESOURCE,
              useGrantedResource: () => true,
              getResourceServerInfo: (_ctx: unknown, resource: string) => ({
                scope: 'kube',
                audience: resource,
                accessTokenFormat: 'jwt',
                accessTokenTTL: o.accessTokenTtlSeconds ?? 600,
                jwt: { sign: { alg: 'ES256' } },
              }),
            },
          }
        : {}),
    },
    formats: {
      customizers: {
        // A machine that acts for a person gets what a token exchange would give it: sub the person, act the machine.
        jwt: (_ctx: unknown, token: { clientId?: string }, jwt: { payload: Record<string, unknown> }) => {
          const act = exchangedAct.get(token);
          if (act) jwt.payload['act'] = act;
          const m = (o.machines ?? []).find((c) => c.clientId === token.clientId);
          if (m?.actFor) {
            jwt.payload['sub'] = m.actFor;
            jwt.payload['act'] = { sub: m.clientId };
          }
        },
      },
    },
    // Put the scopes' claims in the ID token: that is what kubetape reads.
    conformIdTokenClaims: false,
    issueRefreshToken: () => true,
    pkce: { required: () => true },
    ttl: { IdToken: o.idTokenTtlSeconds ?? 600, AccessToken: 600, RefreshToken: 86_400, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 86_400 },
    jwks: { keys: [jwk] },
    cookies: { keys: ['kubetape-test-cookie-key'] },
  });
  if (exchangers.length) registerTokenExchange(provider, issuer, publicKey, exchangers, o.accessTokenTtlSeconds ?? 600, exchangedAct);
  provider.on('grant.success', (ctx: unknown) => {
    const body = (ctx as { oidc?: { params?: { grant_type?: string } } }).oidc?.params;
    if (body?.grant_type) grants.push(body.grant_type);
  });
  provider.on('grant.error', (ctx: unknown) => {
    const body = (ctx as { oidc?: { params?: { grant_type?: string } } }).oidc?.params;
    if (body?.grant_type) refused.push(body.grant_type);
  });
  server.on('request', provider.callback());
  return {
    issuer,
    ca: tls.ca.cert,
    clientId: 'kubetape',
    grants,
    refused,
    signAccessToken: (payload) =>
      new SignJWT({ iss: issuer, iat: Math.floor(Date.now() / 1000), ...payload })
        .setProtectedHeader({ alg: 'ES256', kid: 'test-es256', typ: 'at+jwt' })
        .sign(privateKey),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// TEST INFRASTRUCTURE, not kubetape: node-oidc-provider ships no RFC 8693
// token exchange, so the test IdP gets one as a custom grant. The exchanging
// machine authenticates with its secret (the token endpoint did that before
// this handler runs); the subject token must be a JWT this provider signed,
// unexpired, issued for the machine's subjectAudience (the person logged in
// to that MCP server); the machine gets a JWT access token for the resource
// it asked for whose sub is the person and whose act names the machine (a
// subject token that already had an act nests it, RFC 8693 §4.1).
type ProviderInstance = InstanceType<typeof Provider>;
type VerifyKey = Awaited<ReturnType<typeof generateKeyPair>>['publicKey'];
// The OAuth errors oidc-provider answers with (error + error_description); test/types declares only what other tests use.
const { CustomOIDCProviderError } = (
  oidcProviderModule as unknown as { errors: { CustomOIDCProviderError: new (error: string, description: string) => Error } }
).errors;
const refuse = (error: string, description: string) => new CustomOIDCProviderError(error, description);
interface ExchangeContext {
  oidc: { params: Record<string, string | undefined>; client: { clientId: string } };
  body: unknown;
}

function registerTokenExchange(
  provider: ProviderInstance,
  issuer: string,
  key: VerifyKey,
  exchangers: TestMachineClient[],
  ttl: number,
  acts: WeakMap<object, unknown>,
): void {
  const TYPES = ['urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token'];
  const handler = async (ctx: ExchangeContext): Promise<void> => {
    const { params, client } = ctx.oidc;
    const agent = exchangers.find((m) => m.clientId === client.clientId);
    if (!agent?.exchange) throw refuse('unauthorized_client', 'this client may not exchange tokens');
    if (!params['subject_token']) throw refuse('invalid_request', 'missing required parameter subject_token');
    if (!TYPES.includes(params['subject_token_type'] ?? '')) throw refuse('invalid_request', 'unsupported subject_token_type');
    const wanted = params['requested_token_type'];
    if (wanted && !TYPES.slice(0, 2).includes(wanted)) throw refuse('invalid_request', 'only access tokens are issued here');
    let subject: JWTPayload;
    try {
      ({ payload: subject } = await jwtVerify(params['subject_token'], key, { issuer, audience: agent.exchange.subjectAudience }));
    } catch (err) {
      throw refuse('invalid_grant', `subject token rejected: ${(err as Error).message}`);
    }
    if (!subject.sub) throw refuse('invalid_grant', 'subject token rejected: it names no subject');
    const resource = params['resource'] ?? params['audience'] ?? MACHINE_RESOURCE;
    const p = provider as unknown as {
      AccessToken: new (o: Record<string, unknown>) => { resourceServer: unknown; save(): Promise<string>; expiration: number } & object;
      ResourceServer: new (id: string, info: Record<string, unknown>) => unknown;
      Client: { find(id: string): Promise<unknown> };
    };
    const act = subject['act'] && typeof subject['act'] === 'object' ? { sub: agent.clientId, act: subject['act'] } : { sub: agent.clientId };
    const token = new p.AccessToken({
      accountId: subject.sub,
      client: await p.Client.find(agent.clientId),
      gty: 'token_exchange',
      scope: 'kube',
    });
    acts.set(token, act);
    token.resourceServer = new p.ResourceServer(resource, {
      audience: resource,
      scope: 'kube',
      accessTokenFormat: 'jwt',
      accessTokenTTL: ttl,
      jwt: { sign: { alg: 'ES256' } },
    });
    ctx.body = {
      access_token: await token.save(),
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: token.expiration,
    };
  };
  (provider as unknown as { registerGrantType(name: string, h: unknown, params: string[]): void }).registerGrantType(TOKEN_EXCHANGE, handler, [
    'subject_token',
    'subject_token_type',
    'requested_token_type',
    'resource',
    'audience',
    'scope',
    'actor_token',
    'actor_token_type',
  ]);
}

/**
 * A person logs in to an MCP host (authorization code + PKCE through the
 * scripted browser) and gets the JWT access token for `resource` (the MCP
 * server) that the host would send to the MCP server.
 */
export async function personAccessToken(idp: TestProvider, login: string, resource: string): Promise<string> {
  let got: string | undefined;
  const callback = createHttpServer((req, res) => {
    got = req.url;
    res.end('ok');
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  try {
    const redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    const config = await oidcClient.discovery(new URL(idp.issuer), MCP_HOST_CLIENT, undefined, oidcClient.None(), {
      [oidcClient.customFetch]: issuerFetch({ timeoutMs: 10_000, ca: idp.ca }),
    });
    const verifier = oidcClient.randomPKCECodeVerifier();
    const state = oidcClient.randomState();
    const url = oidcClient.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid kube',
      resource,
      code_challenge: await oidcClient.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    await new ScriptedBrowser(idp.ca).run(url.href, { login, password: 'any' }, { stopAt: redirectUri });
    if (!got) throw new Error('the login did not come back to the MCP host');
    const r = await oidcClient.authorizationCodeGrant(config, new URL(got, redirectUri), { pkceCodeVerifier: verifier, expectedState: state }, { resource });
    return r.access_token;
  } finally {
    callback.close();
  }
}

/**
 * The console's confidential client at a test provider, with its callback on kubetape at `port`
 * (a port picked before kubetape starts: the provider must know the redirect URL first).
 */
export function consoleClient(port: number): Record<string, unknown> {
  return {
    client_id: 'kubetape-console',
    client_secret: 'console-secret',
    redirect_uris: [`https://127.0.0.1:${port}/kubetape/v1/login/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'ES256',
  };
}
