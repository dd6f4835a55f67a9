// Browser login to the console with OIDC (issue 14): authorization code +
// PKCE against a real OpenID provider (node-oidc-provider), through a
// scripted browser that follows redirects and keeps cookies. The ID token
// that comes back is checked by kubetape's own authenticator and becomes the
// cookie's identity; a callback that did not start in this browser is refused.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { freePort } from './helpers/free-port.js';
import { consoleClient, startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { ScriptedBrowser } from './helpers/scripted-browser.js';
import { httpsCall } from './helpers/https-call.js';
import { parseOidcIssuer } from '../src/authenticate/oidc/config.js';

const dir = mkdtempSync(join(tmpdir(), 'console-oidc-'));
let idp: TestProvider;
let h: Harness;

t.before(async () => {
  const port = await freePort();
  idp = await startTestProvider(
    { alice: { email: 'alice@example.com', groups: ['auditors'] } },
    {
      clients: [consoleClient(port)],
    },
  );
  const caFile = join(dir, 'idp-ca.pem');
  writeFileSync(caFile, idp.ca);
  writeFileSync(join(dir, 'secret'), 'console-secret\n');
  h = await startHarness({
    config: {
      listen: `127.0.0.1:${port}`,
      authentication: {
        oidc: [parseOidcIssuer({ issuer: idp.issuer, clientId: 'kubetape', audience: 'kubetape-console', usernameClaim: 'email', ca: caFile }, 'test')],
      },
      console: {
        viewers: [{ group: 'auditors' }],
        oidc: { issuer: idp.issuer, clientId: 'kubetape-console', clientSecretFile: join(dir, 'secret') },
        linkTtlSeconds: 300,
        sessionTtlSeconds: 3600,
      },
    },
  });
});
t.teardown(async () => {
  await h?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('code + PKCE login sets the console cookie for the person the issuer names', async (t) => {
  const browser = new ScriptedBrowser(`${idp.ca}\n${h.kt.ca}`);
  const landed = await browser.run(
    `${h.kt.url}/kubetape/v1/login?return=/kubetape/ui/sessions`,
    { login: 'alice', password: 'any' },
    { stopAt: `${h.kt.url}/kubetape/ui/` },
  );
  t.equal(landed.url.pathname, '/kubetape/ui/sessions', 'back where the login was asked for');
  const authorize = browser.visited.find((v) => v.includes('/auth?'));
  t.ok(authorize, 'went to the issuer');
  const q = new URL(authorize!.split(' ')[1]).searchParams;
  t.equal(q.get('code_challenge_method'), 'S256', 'PKCE');
  t.ok(q.get('code_challenge') && q.get('state') && q.get('nonce'));
  t.equal(q.get('redirect_uri'), `${h.kt.url}/kubetape/v1/login/callback`);
  const who = await browser.run(`${h.kt.url}/kubetape/v1/whoami`);
  t.equal(who.status, 200, who.body);
  t.match(JSON.parse(who.body), { user: 'alice@example.com', groups: ['auditors'], viewer: true, csrfToken: /^[A-Za-z0-9_-]{43}$/ });
});

t.test('a callback that did not start in this browser is refused', async (t) => {
  // The login starts in one browser; its callback URL is then opened in another (login CSRF).
  const victim = new ScriptedBrowser(`${idp.ca}\n${h.kt.ca}`);
  const page = await victim.run(`${h.kt.url}/kubetape/v1/login`, { login: 'alice', password: 'any' }, { stopAt: `${h.kt.url}/kubetape/v1/login/callback` });
  t.equal(page.status, 302, 'the first browser completes its login');
  const callback = victim.visited.find((v) => v.includes('/login/callback?'))!.split(' ')[1];
  const other = await httpsCall(callback, { ca: h.kt.ca });
  t.equal(other.status, 401);
  t.match(JSON.parse(other.body), { kind: 'Status', message: /not started in this browser/ });
  t.notOk(other.headers['set-cookie'], 'no login cookie');
});

t.test('a login with a return target outside the UI lands on the UI', async (t) => {
  const browser = new ScriptedBrowser(`${idp.ca}\n${h.kt.ca}`);
  const landed = await browser.run(
    `${h.kt.url}/kubetape/v1/login?return=${encodeURIComponent('https://evil.example/')}`,
    { login: 'alice', password: 'any' },
    {
      stopAt: `${h.kt.url}/kubetape/ui/`,
    },
  );
  t.equal(landed.url.href, `${h.kt.url}/kubetape/ui/`);
});
