// A real OpenID provider for login tests: node-oidc-provider over HTTPS on
// 127.0.0.1 with a native public client for kubetape (PKCE, any loopback
// port, refresh tokens, device flow) and users in groups. Its development
// login and consent pages accept any password for a known login.
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { createLoopbackTls } from '../../src/listen/tls.js';

export interface TestAccount {
  email: string;
  groups: string[];
}

/** An OAuth client for machines (client-credentials grant); `actFor` makes its tokens say it acts for that person (as an RFC 8693 exchange would). */
export interface TestMachineClient {
  clientId: string;
  secret: string;
  actFor?: string;
}

/** The resource (audience) machine tokens are issued for, unless a test names another. */
export const MACHINE_RESOURCE = 'https://kubetape.test';

export interface TestProvider {
  issuer: string;
  /** PEM CA of its TLS certificate. */
  ca: string;
  clientId: string;
  /** Token endpoint grants seen, by grant_type (tests check refresh happened). */
  grants: string[];
  close(): Promise<void>;
}

export async function startTestProvider(
  accounts: Record<string, TestAccount>,
  o: { idTokenTtlSeconds?: number; machines?: TestMachineClient[]; accessTokenTtlSeconds?: number; clients?: Array<Record<string, unknown>> } = {},
): Promise<TestProvider> {
  const tls = await createLoopbackTls('test-oidc-provider');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-es256', alg: 'ES256', use: 'sig' };
  const server: Server = createServer({ cert: tls.server.cert, key: tls.server.key });
  const sockets = new Set<Socket>();
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const grants: string[] = [];
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
      ...(o.machines ?? []).map((m) => ({
        client_id: m.clientId,
        client_secret: m.secret,
        grant_types: ['client_credentials'],
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
  provider.on('grant.success', (ctx: unknown) => {
    const body = (ctx as { oidc?: { params?: { grant_type?: string } } }).oidc?.params;
    if (body?.grant_type) grants.push(body.grant_type);
  });
  server.on('request', provider.callback());
  return {
    issuer,
    ca: tls.ca.cert,
    clientId: 'kubetape',
    grants,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
