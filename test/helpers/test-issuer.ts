// A real OIDC issuer for tests that need tokens with any claims: discovery
// and a JWKS served over HTTPS on 127.0.0.1 (its own CA), keys made with
// jose, and a minting function that signs whatever a test asks for. The
// JWKS fetches are counted so tests can see caching and rate limiting.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { createLoopbackTls } from '../../src/listen/tls.js';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export interface TestIssuer {
  /** https://127.0.0.1:PORT */
  issuer: string;
  /** PEM CA of its TLS certificate. */
  ca: string;
  /** Keys currently published; the first signs by default. */
  keys: SigningKey[];
  jwksFetches: number;
  discoveryFetches: number;
  /** While true, discovery and JWKS answer 503. */
  down: boolean;
  newKey(alg?: string, kid?: string): Promise<SigningKey>;
  /** Sign claims (defaults: iss, aud, sub, iat, exp in 10 min) with `key` (default keys[0]). */
  mint(claims?: JWTPayload, o?: { key?: SigningKey; header?: Record<string, unknown>; omit?: string[] }): Promise<string>;
  close(): Promise<void>;
}

let kidCounter = 0;

export async function makeSigningKey(alg = 'ES256', kid = `k${++kidCounter}-${Date.now().toString(36)}`): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export async function startTestIssuer(o: { audience?: string } = {}): Promise<TestIssuer> {
  const tls = await createLoopbackTls('test-issuer');
  const first = await makeSigningKey();
  let base = '';
  const it: TestIssuer = {
    issuer: '',
    ca: tls.ca.cert,
    keys: [first],
    jwksFetches: 0,
    discoveryFetches: 0,
    down: false,
    async newKey(alg, kid) {
      const k = await makeSigningKey(alg, kid);
      it.keys.push(k);
      return k;
    },
    async mint(claims = {}, m = {}) {
      const key = m.key ?? it.keys[0];
      const now = Math.floor(Date.now() / 1000);
      const body: JWTPayload = { iss: base, aud: o.audience ?? 'kubetape', sub: 'user-1', iat: now, exp: now + 600, ...claims };
      for (const k of m.omit ?? []) delete body[k];
      return new SignJWT(body).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...m.header }).sign(key.privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server: Server = createServer({ cert: tls.server.cert, key: tls.server.key }, (req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (it.down) return send(503, { error: 'down' });
    if (req.url === '/.well-known/openid-configuration') {
      it.discoveryFetches++;
      return send(200, { issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: ['ES256', 'RS256'] });
    }
    if (req.url === '/jwks') {
      it.jwksFetches++;
      return send(200, { keys: it.keys.map((k) => k.publicJwk) });
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  it.issuer = base;
  const close = it.close;
  it.close = () => {
    server.closeAllConnections();
    return close();
  };
  return it;
}

/** base64url of a JSON value. */
export const b64json = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
