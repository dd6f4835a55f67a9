// email_verified, as kube-apiserver reads it when the username claim is
// `email`: absent is accepted, present must be the JSON boolean true. The
// string "false" used to pass (only boolean false was refused), so anyone whose
// IdP writes booleans as strings could become an unverified address. Real
// tokens from a real issuer, through kubetape, answered with a 401 Status.
import t from 'tap';
import type { JWTPayload } from 'jose';
import { startHarness, type Harness } from './helpers/harness.js';
import { httpsCall } from './helpers/https-call.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';
import { parseOidcIssuer } from '../src/authenticate/oidc/config.js';
import { OidcAuthenticator } from '../src/authenticate/oidc/oidc-authenticator.js';

let h: Harness;
let idp: TestIssuer;

const BASE = { sub: 'u-1', email: 'bob@example.com', groups: ['dev'] };

t.before(async () => {
  idp = await startTestIssuer();
  h = await startHarness({
    config: {
      authentication: {
        oidc: [parseOidcIssuer({ issuer: idp.issuer, audience: 'kubetape', usernameClaim: 'email', groupsClaim: 'groups', ca: 'idp-ca.pem' }, 'test')],
      },
    },
    start: { oidc: { readCa: () => idp.ca } },
  });
});
t.teardown(async () => {
  await h.close();
  await idp.close();
});

const call = async (claims: JWTPayload) =>
  httpsCall(`${h.kt.url}/api/v1/namespaces/default/pods`, { ca: h.kt.ca, headers: { authorization: `Bearer ${await idp.mint(claims)}` } });

const REFUSED: Array<{ name: string; value: unknown; reason: RegExp }> = [
  { name: 'the string "false"', value: 'false', reason: /"email_verified" claim is not a boolean/ },
  { name: 'the string "true"', value: 'true', reason: /"email_verified" claim is not a boolean/ },
  { name: 'boolean false', value: false, reason: /email address is not verified/ },
  { name: 'null', value: null, reason: /email address is not verified/ },
  { name: 'the number 1', value: 1, reason: /"email_verified" claim is not a boolean/ },
  { name: 'the number 0', value: 0, reason: /"email_verified" claim is not a boolean/ },
  { name: 'an object', value: { v: true }, reason: /"email_verified" claim is not a boolean/ },
];

t.test('email_verified present and not boolean true: 401 that says why, nothing forwarded', async (t) => {
  const before = h.api.received.length;
  for (const c of REFUSED) {
    const r = await call({ ...BASE, email_verified: c.value });
    t.equal(r.status, 401, `${c.name}: 401`);
    const status = JSON.parse(r.body) as { kind?: string; message?: string };
    t.equal(status.kind, 'Status', `${c.name}: a Status object`);
    t.match(status.message, c.reason, `${c.name}: says why (${status.message})`);
    t.notOk(r.body.includes('bob@example.com'), `${c.name}: the address is not echoed`);
  }
  t.equal(h.api.received.length, before, 'none of them reached the cluster');
});

t.test('boolean true and an absent claim are accepted, as kube-apiserver accepts them', async (t) => {
  const verified = await call({ ...BASE, email_verified: true });
  t.equal(verified.status, 200, 'email_verified: true');
  const absent = await call(BASE);
  t.equal(absent.status, 200, 'no email_verified claim');
});

t.test('the claim is not looked at when the username comes from another claim', async (t) => {
  const auth = new OidcAuthenticator([parseOidcIssuer({ issuer: idp.issuer, audience: 'kubetape', groupsClaim: 'groups', ca: 'idp-ca.pem' }, 'test')], {
    readCa: () => idp.ca,
  });
  for (const value of ['false', false, null]) {
    const r = await auth.verify(await idp.mint({ ...BASE, email_verified: value }));
    t.match(r, { ok: true, identity: { user: 'u-1' } }, `usernameClaim sub, email_verified ${JSON.stringify(value)}: accepted`);
  }
});
