// OIDC authentication in serve, against a real issuer (discovery + JWKS over
// HTTPS on 127.0.0.1): a good ID token works through kubectl and is recorded
// with issuer and subject; a matrix of bad tokens is refused with 401 and
// nothing reaches the cluster; keys rotate; an unreachable issuer is a 503.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { httpsCall } from './helpers/https-call.js';
import { findSession, sessionEvents } from './helpers/recordings.js';
import { b64json, makeSigningKey, startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';
import { parseOidcIssuer } from '../src/authenticate/oidc/config.js';
import { ChainAuthenticator } from '../src/authenticate/chain.js';
import { TokenFileAuthenticator } from '../src/authenticate/token-file.js';
import { OidcAuthenticator } from '../src/authenticate/oidc/oidc-authenticator.js';

let h: Harness;
let idp: TestIssuer;
let downIdp: TestIssuer;
let kubeconfigDir: string;

const GOOD = { sub: 'u-7f3a', email: 'alice@example.com', email_verified: true, groups: ['dev', 'readers'], tenant: 'acme' };

t.before(async () => {
  idp = await startTestIssuer();
  downIdp = await startTestIssuer();
  downIdp.down = true;
  kubeconfigDir = mkdtempSync(join(tmpdir(), 'kubetape-oidc-'));
  const caFile = join(kubeconfigDir, 'idp-ca.pem');
  writeFileSync(caFile, idp.ca + downIdp.ca);
  h = await startHarness({
    config: {
      authentication: {
        oidc: [
          parseOidcIssuer(
            {
              issuer: idp.issuer,
              audience: 'kubetape',
              usernameClaim: 'email',
              groupsClaim: 'groups',
              groupsPrefix: 'oidc:',
              requiredClaims: { tenant: 'acme' },
              algorithms: ['ES256'],
              clockSkewSeconds: 30,
              ca: caFile,
            },
            'test',
          ),
          parseOidcIssuer({ issuer: downIdp.issuer, clientId: 'kubetape', ca: caFile }, 'test'),
        ],
      },
    },
    start: { oidc: { cooldownMs: 1000, retryMs: 200 } },
  });
});
t.teardown(async () => {
  await h.close();
  await idp.close();
  await downIdp.close();
  rmSync(kubeconfigDir, { recursive: true, force: true });
});

const kubeconfigWith = (token: string) => writeKubeconfig(kubeconfigDir, { server: h.kt.url, ca: h.kt.ca, token, name: 'oidc' });
const call = (authorization: string | undefined) =>
  httpsCall(`${h.kt.url}/api/v1/namespaces/default/pods`, { ca: h.kt.ca, headers: authorization === undefined ? {} : { authorization } });

t.test('no local token file is made when OIDC is configured', async (t) => {
  t.equal(h.kt.localToken, undefined);
  const r = await call(undefined);
  t.equal(r.status, 401);
});

t.test('a good ID token works through kubectl and the recording names issuer and subject', async (t) => {
  const token = await idp.mint(GOOD);
  const before = h.api.received.length;
  const r = await kubectl(['get', 'pods', '-o', 'name'], { kubeconfig: kubeconfigWith(token) });
  t.equal(r.code, 0, r.stderr);
  const arrived = h.api.received.slice(before);
  t.ok(arrived.length > 0, 'requests reached the cluster');
  for (const q of arrived) t.equal(q.headers['authorization'], 'Bearer admin-token', 'single-upstream mode forwards with kubetape credential');
  const s = await findSession(h.kt.store, (x) => x.user === 'alice@example.com');
  t.same(s.groups, ['oidc:dev', 'oidc:readers', 'system:authenticated']);
  const start = (await sessionEvents(h.kt.store, s.id))[0];
  t.match(start, { type: 'session.start', authMethod: 'oidc', issuer: idp.issuer, subject: 'u-7f3a', user: 'alice@example.com' });
  t.notOk(JSON.stringify(await sessionEvents(h.kt.store, s.id)).includes(token), 'the token is not in the recording');
});

interface BadToken {
  name: string;
  authorization: () => Promise<string | undefined>;
  reason: RegExp;
}

const bearer = (p: Promise<string> | string) => async () => `Bearer ${await p}`;
const now = () => Math.floor(Date.now() / 1000);

function matrix(): BadToken[] {
  return [
    { name: 'expired beyond the skew', authorization: bearer(idp.mint({ ...GOOD, iat: now() - 900, exp: now() - 120 })), reason: /has expired/ },
    { name: 'nbf in the future', authorization: bearer(idp.mint({ ...GOOD, nbf: now() + 300 })), reason: /not valid yet \(nbf\)/ },
    { name: 'iat in the future', authorization: bearer(idp.mint({ ...GOOD, iat: now() + 300, exp: now() + 900 })), reason: /issued in the future/ },
    { name: 'no exp', authorization: bearer(idp.mint(GOOD, { omit: ['exp'] })), reason: /no "exp" claim/ },
    {
      name: 'untrusted issuer',
      authorization: bearer(idp.mint({ ...GOOD, iss: 'https://evil.example.com' })),
      reason: /not issued by an issuer kubetape trusts/,
    },
    {
      name: 'issuer with a trailing slash',
      authorization: bearer(idp.mint({ ...GOOD, iss: `${idp.issuer}/` })),
      reason: /not issued by an issuer kubetape trusts/,
    },
    { name: 'wrong audience', authorization: bearer(idp.mint({ ...GOOD, aud: 'someone-else' })), reason: /not issued for kubetape/ },
    { name: 'no audience', authorization: bearer(idp.mint(GOOD, { omit: ['aud'] })), reason: /no "aud" claim/ },
    {
      name: 'alg none',
      authorization: async () => `Bearer ${b64json({ alg: 'none', typ: 'JWT' })}.${b64json({ ...GOOD, iss: idp.issuer, aud: 'kubetape', exp: now() + 600 })}.`,
      reason: /signing algorithm is not allowed/,
    },
    {
      name: 'HS256 signed with the public key',
      authorization: async () =>
        `Bearer ${await new SignJWT({ ...GOOD, iss: idp.issuer, aud: 'kubetape', exp: now() + 600 }).setProtectedHeader({ alg: 'HS256', kid: idp.keys[0].kid }).sign(new TextEncoder().encode(idp.keys[0].publicPem))}`,
      reason: /signing algorithm is not allowed/,
    },
    {
      name: 'unknown kid',
      authorization: async () => `Bearer ${await idp.mint(GOOD, { key: await makeSigningKey('ES256') })}`,
      reason: /key its issuer does not publish/,
    },
    {
      name: 'forged with a different key under the published kid',
      authorization: async () => `Bearer ${await idp.mint(GOOD, { key: await makeSigningKey('ES256', idp.keys[0].kid) })}`,
      reason: /signature does not verify/,
    },
    {
      name: 'tampered payload',
      authorization: async () => {
        const [hd, , sig] = (await idp.mint(GOOD)).split('.');
        return `Bearer ${hd}.${b64json({ ...GOOD, groups: ['sre'], iss: idp.issuer, aud: 'kubetape', exp: now() + 600 })}.${sig}`;
      },
      reason: /signature does not verify/,
    },
    {
      name: 'signature removed',
      authorization: async () => `Bearer ${(await idp.mint(GOOD)).split('.').slice(0, 2).join('.')}.`,
      reason: /signature does not verify|not a well-formed JWT/,
    },
    {
      name: 'signature truncated',
      authorization: async () => `Bearer ${(await idp.mint(GOOD)).slice(0, -8)}`,
      reason: /signature does not verify|not a well-formed JWT/,
    },
    {
      name: 'allowed key, disallowed algorithm (RS256 when only ES256 is allowed)',
      authorization: async () => `Bearer ${await idp.mint(GOOD, { key: idp.keys.find((k) => k.alg === 'RS256')! })}`,
      reason: /signing algorithm is not allowed/,
    },
    { name: 'missing groups claim', authorization: bearer(idp.mint({ ...GOOD, groups: undefined })), reason: /no "groups" claim/ },
    {
      name: 'groups claim of the wrong type',
      authorization: bearer(idp.mint({ ...GOOD, groups: 7 as unknown as string[] })),
      reason: /"groups" claim is not a string or a list/,
    },
    { name: 'missing username claim', authorization: bearer(idp.mint({ ...GOOD, email: undefined })), reason: /no "email" claim/ },
    { name: 'unverified email', authorization: bearer(idp.mint({ ...GOOD, email_verified: false })), reason: /email address is not verified/ },
    {
      name: 'required claim with another value',
      authorization: bearer(idp.mint({ ...GOOD, tenant: 'other' })),
      reason: /"tenant" claim does not have the required value/,
    },
    {
      name: 'required claim missing',
      authorization: bearer(idp.mint({ ...GOOD, tenant: undefined })),
      reason: /"tenant" claim does not have the required value/,
    },
    { name: 'no subject', authorization: bearer(idp.mint({ ...GOOD, sub: undefined })), reason: /no subject/ },
    { name: 'reserved system: username', authorization: bearer(idp.mint({ ...GOOD, email: 'system:admin' })), reason: /reserved for the cluster/ },
    { name: 'oversized token', authorization: bearer(idp.mint({ ...GOOD, padding: 'x'.repeat(9_800) })), reason: /larger than \d+ bytes/ },
    { name: 'not a JWT', authorization: async () => 'Bearer not-a-jwt-at-all', reason: /not a JWT|not known to kubetape/ },
    { name: 'garbage in JWT shape', authorization: async () => 'Bearer aaaa.bbbb.cccc', reason: /not a well-formed JWT/ },
    { name: 'Basic credentials', authorization: async () => `Basic ${Buffer.from('alice:pw').toString('base64')}`, reason: /not a bearer token/ },
    { name: 'empty bearer', authorization: async () => 'Bearer ', reason: /not a bearer token/ },
    { name: 'no Authorization header', authorization: async () => undefined, reason: /no bearer token/ },
  ];
}

t.test('negative matrix: every bad token is a 401 that says why, leaks nothing, and forwards nothing', async (t) => {
  await idp.newKey('RS256');
  const cases = matrix();
  t.ok(cases.length >= 20, `${cases.length} bad tokens`);
  const before = h.api.received.length;
  for (const c of cases) {
    const authorization = await c.authorization();
    const r = await call(authorization);
    t.equal(r.status, 401, `${c.name}: 401`);
    let status: { kind?: string; reason?: string; message?: string; code?: number } = {};
    try {
      status = JSON.parse(r.body) as typeof status;
    } catch {
      t.fail(`${c.name}: the answer is a JSON Status`);
    }
    t.match(status, { kind: 'Status', reason: 'Unauthorized', code: 401 }, `${c.name}: Status object`);
    t.match(status.message, c.reason, `${c.name}: says what was wrong (${status.message})`);
    const token = authorization?.replace(/^\S+\s*/, '') ?? '';
    if (token.length > 8) {
      t.notOk(r.body.includes(token), `${c.name}: the token is not echoed`);
      for (const part of token.split('.').filter((p) => p.length > 8)) t.notOk(r.body.includes(part), `${c.name}: no part of the token is echoed`);
    }
    t.notOk(/alice|u-7f3a|acme/.test(r.body), `${c.name}: no claim value is echoed`);
  }
  t.equal(h.api.received.length, before, 'none of the bad tokens reached the cluster');

  const bad = await kubectl(['get', 'pods'], { kubeconfig: kubeconfigWith(await idp.mint({ ...GOOD, aud: 'someone-else' })) });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /Unauthorized|must be logged in/);
  t.equal(h.api.received.length, before, 'kubectl with a bad token reached nothing either');
});

t.test('unknown kids refresh the keys at most once per cooldown; a rotated key is picked up', async (t) => {
  const keys = h.kt.oidc!.keysOf(idp.issuer)!;
  await new Promise((r) => setTimeout(r, 1100)); // let the cooldown from earlier tests pass
  const fetchesBefore = idp.jwksFetches;
  const strangers = await Promise.all(Array.from({ length: 15 }, async () => idp.mint(GOOD, { key: await makeSigningKey('ES256') })));
  const answers = await Promise.all(strangers.map((tok) => call(`Bearer ${tok}`)));
  t.ok(
    answers.every((a) => a.status === 401),
    'all refused',
  );
  t.ok(idp.jwksFetches - fetchesBefore <= 1, `15 unknown kids cost ${idp.jwksFetches - fetchesBefore} JWKS fetch(es)`);
  t.equal(keys.jwksFetches, idp.jwksFetches, 'kubetape counted the same fetches the issuer saw');

  const rotated = await idp.newKey('ES256');
  const early = await call(`Bearer ${await idp.mint(GOOD, { key: rotated })}`);
  t.equal(early.status, 401, 'within the cooldown a new kid is not fetched yet');
  await new Promise((r) => setTimeout(r, 1100));
  const later = await call(`Bearer ${await idp.mint(GOOD, { key: rotated })}`);
  t.equal(later.status, 200, `after the cooldown the rotated key verifies (${later.body.slice(0, 200)})`);
});

t.test('an issuer kubetape cannot reach is a 503, not a 401, and nothing is forwarded', async (t) => {
  const before = h.api.received.length;
  const token = await downIdp.mint({ sub: 'bob', groups: ['dev'] });
  const r = await call(`Bearer ${token}`);
  t.equal(r.status, 503);
  t.match(JSON.parse(r.body), { kind: 'Status', reason: 'ServiceUnavailable', message: /discovery document could not be read/ });
  t.equal(h.api.received.length, before);
  downIdp.down = false;
  await new Promise((r) => setTimeout(r, 250));
  const again = await call(`Bearer ${token}`);
  t.equal(again.status, 200, 'once the issuer answers, its tokens work');
});

t.test('token file and OIDC side by side: each token goes to the mechanism it was meant for', async (t) => {
  const file = join(kubeconfigDir, 'tokens.csv');
  writeFileSync(file, 'robot-token-1,ci-robot,,"deployers"\naaa.bbb.ccc,jwt-shaped-robot\n');
  const chain = new ChainAuthenticator(
    new TokenFileAuthenticator(file),
    new OidcAuthenticator([
      parseOidcIssuer(
        { issuer: idp.issuer, audience: 'kubetape', usernameClaim: 'email', groupsClaim: 'groups', ca: join(kubeconfigDir, 'idp-ca.pem') },
        'test',
      ),
    ]),
  );
  t.match(await chain.authenticate('Bearer robot-token-1'), { ok: true, identity: { user: 'ci-robot', method: 'token-file' } });
  t.match(await chain.authenticate('Bearer aaa.bbb.ccc'), { ok: true, identity: { user: 'jwt-shaped-robot' } }, 'a static token shaped like a JWT still works');
  t.match(await chain.authenticate(`Bearer ${await idp.mint(GOOD)}`), {
    ok: true,
    identity: { user: 'alice@example.com', method: 'oidc', issuer: idp.issuer, subject: 'u-7f3a' },
  });
  t.match(await chain.authenticate('Bearer unknown-static'), { ok: false, reason: /not known to kubetape/ });
  t.match(
    await chain.authenticate(`Bearer ${await idp.mint({ ...GOOD, aud: 'x' })}`),
    { ok: false, reason: /not issued for kubetape/ },
    'a JWT gets the OIDC reason',
  );
});
