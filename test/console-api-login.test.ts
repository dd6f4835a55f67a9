// Browser login to the console without OIDC (issue 14): `kubetape console`
// mints a one-time link; the link sets the kubetape_session cookie (HttpOnly,
// Secure, SameSite=Strict, Path=/kubetape/) once; the cookie reads the API,
// never authenticates a request that goes to the cluster, and every call
// that changes something needs the session's CSRF token, the approvals API
// included. Redirects go only to paths under /kubetape/ui/.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { httpsCall, type HttpsAnswer } from './helpers/https-call.js';
import { cliFromSource } from './helpers/streams.js';
import { mintLoginLink } from '../src/console/login-links.js';

const dir = mkdtempSync(join(tmpdir(), 'console-login-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let h: Harness;

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dana-token,dana,,"dev"\n');
  writeFileSync(
    join(dir, 'policy.yaml'),
    'rules:\n  - name: prod-delete\n    match: { namespace: prod, verb: delete }\n    action: require-approval\n    approvers: [sre]\n',
  );
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml') } });
});
t.teardown(() => h.close());

const call = (path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsAnswer> =>
  httpsCall(`${h.kt.url}${path}`, { ca: h.kt.ca, ...o });

function cookieOf(r: HttpsAnswer): string {
  const set = r.headers['set-cookie'];
  const line = (Array.isArray(set) ? set : [set ?? '']).find((c) => c.startsWith('kubetape_session='));
  if (!line) throw new Error(`no session cookie in ${JSON.stringify(r.headers)}`);
  return line;
}

let cookie = '';
let csrf = '';

t.test('kubetape console prints a one-time link that logs in once', async (t) => {
  const [r] = await cliFromSource([['console', '--no-open', '--data-dir', h.dataDir, '--user', 'sam', '--group', 'sre']]);
  t.equal(r.code, 0, r.stderr);
  const link = /https:\/\/\S+\/kubetape\/v1\/login\/link\?token=[A-Za-z0-9_-]{43}/.exec(r.stdout.toString())?.[0];
  t.ok(link, 'a link in the output');
  const path = new URL(link!).pathname + new URL(link!).search;
  const first = await call(path);
  t.equal(first.status, 302);
  t.equal(first.headers['location'], '/kubetape/ui/');
  const set = cookieOf(first);
  for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/kubetape/']) t.ok(set.split('; ').includes(attr), attr);
  cookie = set.split(';')[0];
  const again = await call(path);
  t.equal(again.status, 401, 'the link works once only');
  t.match(JSON.parse(again.body), { kind: 'Status', code: 401, message: /used already/ });
  t.notOk(again.headers['set-cookie'], 'and sets no cookie');
});

t.test('an expired or made-up link logs nobody in', async (t) => {
  const old = mintLoginLink(h.dataDir, { user: 'sam', groups: [] }, 60, Date.now() - 120_000);
  t.equal((await call(`/kubetape/v1/login/link?token=${old}`)).status, 401, 'expired');
  t.equal((await call(`/kubetape/v1/login/link?token=${'A'.repeat(43)}`)).status, 401, 'unknown');
  t.equal((await call('/kubetape/v1/login/link?token=../../tokens.csv')).status, 401, 'not a token');
  t.equal((await call('/kubetape/v1/login')).status, 401, 'no OIDC: the login endpoint says to use kubetape console');
});

t.test('the cookie reads the API and gives the CSRF token', async (t) => {
  const who = await call('/kubetape/v1/whoami', { headers: { cookie } });
  t.equal(who.status, 200, who.body);
  const w = JSON.parse(who.body) as { user: string; groups: string[]; csrfToken?: string; approver: boolean };
  t.match(w, { user: 'sam', groups: ['sre'], approver: true });
  t.match(w.csrfToken, /^[A-Za-z0-9_-]{43}$/);
  csrf = w.csrfToken!;
  t.equal((await call('/kubetape/v1/sessions', { headers: { cookie } })).status, 200);
});

t.test('the cookie never authenticates a request for the cluster', async (t) => {
  const r = await call('/api/v1/namespaces/default/pods', { headers: { cookie } });
  t.equal(r.status, 401);
  t.match(JSON.parse(r.body), { kind: 'Status', code: 401 });
});

t.test('state-changing calls with the cookie need the CSRF header', async (t) => {
  const body = JSON.stringify({ once: true });
  const headers = { cookie, 'content-type': 'application/json' };
  const without = await call('/kubetape/v1/approvals/ap-0123456789ab/approve', { method: 'POST', headers, body });
  t.equal(without.status, 403, 'approvals API without the header');
  t.match(JSON.parse(without.body), { kind: 'Status', code: 403, message: /X-Kubetape-CSRF/ });
  const wrong = await call('/kubetape/v1/approvals/ap-0123456789ab/approve', {
    method: 'POST',
    headers: { ...headers, 'x-kubetape-csrf': csrf.slice(1) + 'A' },
    body,
  });
  t.equal(wrong.status, 403, 'with a wrong token');
  const right = await call('/kubetape/v1/approvals/ap-0123456789ab/approve', { method: 'POST', headers: { ...headers, 'x-kubetape-csrf': csrf }, body });
  t.not(right.status, 403, 'with the right token it reaches the approvals API');
  t.match(JSON.parse(right.body), { kind: 'Status', code: 404 });
  const bearer = await call('/kubetape/v1/approvals/ap-0123456789ab/approve', {
    method: 'POST',
    headers: { authorization: 'Bearer dana-token', 'content-type': 'application/json' },
    body,
  });
  t.equal(bearer.status, 404, 'a bearer token needs no CSRF header');
  const logout = await call('/kubetape/v1/logout', { method: 'POST', headers: { cookie } });
  t.equal(logout.status, 403, 'logout without the header');
  t.equal((await call('/kubetape/v1/whoami', { headers: { cookie } })).status, 200, 'still logged in');
});

t.test('redirects stay under /kubetape/ui/', async (t) => {
  for (const [ret, want] of [
    ['https://evil.example/', '/kubetape/ui/'],
    ['//evil.example/kubetape/ui/', '/kubetape/ui/'],
    ['/kubetape/ui//evil.example', '/kubetape/ui/'],
    ['/kubetape/ui/../../api/v1/secrets', '/kubetape/ui/'],
    ['/kubetape/ui/%2e%2e/x', '/kubetape/ui/'],
    ['/kubetape/ui/\\evil.example', '/kubetape/ui/'],
    ['/kubetape/uiX', '/kubetape/ui/'],
    ['javascript:alert(1)', '/kubetape/ui/'],
    ['/kubetape/ui/sessions/01JABCDEFGHJKMNPQRSTVWXYZ0', '/kubetape/ui/sessions/01JABCDEFGHJKMNPQRSTVWXYZ0'],
  ]) {
    const token = mintLoginLink(h.dataDir, { user: 'sam', groups: ['sre'] }, 60);
    const r = await call(`/kubetape/v1/login/link?token=${token}&return=${encodeURIComponent(ret)}`);
    if (r.status === 400) {
      t.match(JSON.parse(r.body), { kind: 'Status' }, `${ret}: refused as a target`);
      continue;
    }
    t.equal(r.status, 302, ret);
    t.equal(r.headers['location'], want, `${ret} -> ${want}`);
  }
});

t.test('logout with the CSRF header ends the login', async (t) => {
  const r = await call('/kubetape/v1/logout', { method: 'POST', headers: { cookie, 'x-kubetape-csrf': csrf } });
  t.equal(r.status, 200);
  t.match(String(r.headers['set-cookie']), /kubetape_session=;.*Max-Age=0/);
  t.equal((await call('/kubetape/v1/whoami', { headers: { cookie } })).status, 401, 'the cookie no longer works');
});

t.test('kubetape console without a running kubetape, and with OIDC', async (t) => {
  const empty = join(dir, 'empty');
  const cfg = join(dir, 'oidc.yaml');
  writeFileSync(cfg, `dataDir: ${empty}\nconsole:\n  oidc:\n    issuer: https://login.example.com\n    clientId: kubetape-console\n`);
  const [none, oidc] = await cliFromSource([
    ['console', '--no-open', '--data-dir', empty],
    ['console', '--no-open', '--config', cfg, '--url', 'https://kubetape.example.com'],
  ]);
  t.equal(none.code, 1);
  t.match(none.stderr, /no kubetape is running on .*: start `kubetape serve`/);
  t.equal(oidc.code, 0, oidc.stderr);
  t.match(oidc.stdout.toString(), /log in with https:\/\/login\.example\.com:\n {2}https:\/\/kubetape\.example\.com\/kubetape\/ui\/\n/);
  t.notMatch(oidc.stdout.toString(), /token=/, 'no link is minted when people log in with OIDC');
});
