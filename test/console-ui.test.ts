// The web console in a real browser (Debian's chromium through
// playwright-core) against kubetape in front of the test API server, with
// sessions made by the real kubectl: log in with a one-time link from
// `kubetape console`, filter the list, open a session and read its requests
// (an apply shown as a diff), play its exec and read the terminal at a seek
// point, approve a pending delete and see kubectl's retry pass, and a person
// outside the viewer groups sees only their own sessions. The main pages are
// saved as docs/screenshots/*.png for the README (with KUBETAPE_SCREENSHOTS=1).
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { kubectlOnPty } from './helpers/streams.js';
import { runningPod } from './helpers/stream-upstream.js';
import { findSession } from './helpers/recordings.js';
import { ensureUiBuilt, launchChromium, watchedPage, type WatchedPage } from './helpers/console-browser.js';
import { consoleLogin } from './helpers/console-login.js';
import { freePort } from './helpers/free-port.js';
import { consoleClient, startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { parseOidcIssuer } from '../src/authenticate/oidc/config.js';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { settledExchanges } from './helpers/recordings.js';

const dir = mkdtempSync(join(tmpdir(), 'console-ui-'));
// The README's pictures are refreshed on request (KUBETAPE_SCREENSHOTS=1), so a test run leaves the tree as it was.
const SCREENSHOTS = process.env.KUBETAPE_SCREENSHOTS ? resolve(dirname(fileURLToPath(import.meta.url)), '../docs/screenshots') : join(dir, 'screenshots');

const POLICY = `rules:
  - name: prod-delete-needs-approval
    match:
      namespace: prod
      verb: delete
    action: require-approval
    message: delete in prod
    approvers: [sre]
    maxGrant: 1h
`;

const PEOPLE = {
  dana: { user: 'dana@example.com', groups: ['dev'] },
  sam: { user: 'sam@example.com', groups: ['sre'] },
  vic: { user: 'vic@example.com', groups: ['auditors'] },
};

let h: Harness;
let browser: Browser;
let idp: TestProvider;

const kc: Record<'dana' | 'sam' | 'vic', string> = { dana: '', sam: '', vic: '' };
const pages: WatchedPage[] = [];
let execSession = '';
let samSession = '';
let approvalId = '';

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dana-token,dana@example.com,,"dev"\nsam-token,sam@example.com,,"sre"\nvic-token,vic@example.com,,"auditors"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  // Besides the token file (kubectl, one-time links), an OpenID provider for the console's browser login.
  const port = await freePort();
  idp = await startTestProvider(
    { olga: { email: 'olga@example.com', groups: ['auditors'] } },
    {
      clients: [consoleClient(port)],
    },
  );
  writeFileSync(join(dir, 'idp-ca.pem'), idp.ca);
  writeFileSync(join(dir, 'console-secret'), 'console-secret\n');
  const [hh, b] = await Promise.all([
    startHarness({
      config: {
        listen: `127.0.0.1:${port}`,
        policyFile: join(dir, 'policy.yaml'),
        authentication: {
          tokenFile: join(dir, 'tokens.csv'),
          oidc: [
            parseOidcIssuer(
              { issuer: idp.issuer, clientId: 'kubetape', audience: 'kubetape-console', usernameClaim: 'email', ca: join(dir, 'idp-ca.pem') },
              'test',
            ),
          ],
        },
        console: {
          viewers: [{ group: 'auditors' }],
          oidc: { issuer: idp.issuer, clientId: 'kubetape-console', clientSecretFile: join(dir, 'console-secret') },
          linkTtlSeconds: 300,
          sessionTtlSeconds: 3600,
        },
      },
    }),
    launchChromium(),
    ensureUiBuilt(),
  ]);
  h = hh;
  browser = b;
  for (const u of ['dana', 'sam', 'vic'] as const) kc[u] = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: `${u}-token`, name: u });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  h.api.objects.put(runningPod('web-0', 'prod') as never);
  h.api.objects.put(runningPod('web-1', 'prod') as never);

  // dana: an apply (shown as a diff), an exec typed on a real terminal, a delete that needs approval.
  const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: prod\ndata:\n  mode: blue\n';
  const applied = await kubectl(['apply', '-f', '-'], { kubeconfig: kc.dana, input: cm });
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
  const term = kubectlOnPty(kc.dana, ['exec', '-it', 'web-0', '-n', 'prod', '--', 'sh'], { width: 80, height: 20 });
  await term.waitFor(/[#$] $/);
  term.send('echo first-$((20+22))\r');
  await term.waitFor(/\r\nfirst-42\r\n[\s\S]*[#$] $/);
  await new Promise((r) => setTimeout(r, 1500)); // a pause to seek into
  term.send('echo second-$((50+50))\r');
  await term.waitFor(/\r\nsecond-100\r\n/);
  term.send('\x04');
  await term.done;
  execSession = (await findSession(h.kt.store, (s) => s.user === 'dana@example.com' && !!s.command?.includes('exec'))).id;
  const refused = await kubectl(['delete', 'pod', 'web-1', '-n', 'prod', '--wait=false'], { kubeconfig: kc.dana });
  approvalId = /approval id (ap-[0-9a-f]+)/.exec(refused.stderr)?.[1] ?? '';
  if (!approvalId) throw new Error(`no approval id: ${refused.stderr}`);
  // sam: a session of someone else.
  await kubectl(['get', 'pods', '-n', 'default'], { kubeconfig: kc.sam });
  samSession = (await findSession(h.kt.store, (s) => s.user === 'sam@example.com')).id;
  mkdirSync(SCREENSHOTS, { recursive: true });
});

t.teardown(async () => {
  await browser?.close();
  await h?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function loggedIn(user: 'dana' | 'sam' | 'vic'): Promise<WatchedPage> {
  const w = await watchedPage(browser, h.kt.url);
  pages.push(w);
  await consoleLogin(w.page, h.kt.url, h.dataDir, PEOPLE[user]);
  await w.page.waitForSelector('[data-testid="me"]');
  return w;
}

t.test('without a login the console says so and shows no session', async (t) => {
  const w = await watchedPage(browser, h.kt.url);
  pages.push(w);
  const r = await w.page.goto(`${h.kt.url}/kubetape/ui/`);
  t.equal(r?.status(), 200);
  const headers = r?.headers() ?? {};
  t.match(headers['content-security-policy'], /default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'/);
  t.match(headers['content-security-policy'], /frame-ancestors 'none'; base-uri 'none'; form-action 'self'/);
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.equal(headers['referrer-policy'], 'no-referrer');
  await w.page.waitForSelector('.login');
  t.match(await w.page.textContent('.login'), /not logged in/);
  t.equal(await w.page.locator('table.sessions').count(), 0);
  await w.context.close();
});

t.test('the console login with OIDC: code + PKCE at the issuer, back on the page asked for', async (t) => {
  const w = await watchedPage(browser, h.kt.url);
  pages.push(w);
  const { page } = w;
  await page.goto(`${h.kt.url}/kubetape/ui/approvals`);
  await page.click('.login a.button');
  // node-oidc-provider's development login, then its consent page.
  await page.waitForURL((u) => u.href.startsWith(idp.issuer));
  await page.fill('input[name="login"]', 'olga');
  await page.fill('input[name="password"]', 'any');
  await page.click('button[type="submit"]');
  for (let i = 0; i < 3 && page.url().startsWith(idp.issuer); i++) {
    const consent = page.locator('button[type="submit"]');
    if (await consent.count()) await consent.first().click();
    await page.waitForLoadState();
  }
  await page.waitForURL(`${h.kt.url}/kubetape/ui/approvals`);
  await page.locator('[data-testid="me"]', { hasText: 'olga@example.com' }).waitFor();
  t.match(await page.textContent('[data-testid="me"]'), /viewer/, "the issuer's groups make her a viewer");
  t.ok(
    w.requests.some((u) => u.startsWith(`${idp.issuer}/auth?`) && /code_challenge_method=S256/.test(u)),
    'authorization code with PKCE',
  );
  await page.click('button.logout');
  await page.locator('.login').waitFor();
  t.same(w.errors, []);
  await w.context.close();
});

t.test('a viewer logs in with the one-time link, filters by person and namespace, and opens the exec', async (t) => {
  const w = await loggedIn('vic');
  const { page } = w;
  t.match(await page.textContent('[data-testid="me"]'), /vic@example\.com/);
  await page.waitForSelector(`tr[data-session="${samSession}"]`);
  t.ok(await page.locator(`tr[data-session="${execSession}"]`).count(), "a viewer sees dana's sessions too");
  await page.fill('input.search', 'user:dana@example.com namespace:prod');
  await page.press('input.search', 'Enter');
  await page.waitForSelector('.chip[data-key="namespace"]');
  t.same(await page.locator('.chip').evaluateAll((els) => els.map((e) => e.getAttribute('data-key'))), ['user', 'namespace'], 'filters became chips');
  await page.locator(`tr[data-session="${samSession}"]`).waitFor({ state: 'detached' });
  const users = await page.locator('table.sessions tbody td.user').allTextContents();
  t.ok(users.length >= 2, 'the apply, exec and delete sessions are listed');
  t.ok(
    users.every((u) => u === 'dana@example.com'),
    'only dana',
  );
  t.match(page.url(), /\?q=user%3Adana%40example\.com\+namespace%3Aprod$|q=user/, 'the search is in the address, to share');
  t.match(
    await page.locator('table.sessions tbody tr td a').first().textContent(),
    /\d{2}:\d{2}:\d{2} (CET|CEST|GMT\+[12])/,
    "times in the viewer's zone (the browser's: Europe/Berlin)",
  );
  await page.screenshot({ path: join(SCREENSHOTS, 'session-list.png') });

  await page.click(`tr[data-session="${execSession}"] a`);
  // The box is on the page before the session's verdict arrives; wait for the verdict itself.
  await page.waitForSelector('.verification[data-verified]');
  t.equal(await page.getAttribute('.verification', 'data-verified'), 'true', 'the hash chain verifies');
  await page.waitForSelector('.player[data-ready="true"], .player-error');
  t.equal(await page.locator('.player-error').count(), 0, (await page.textContent('.terminal-box')) ?? '');
  t.match(await page.textContent('.typed'), /echo first-\$\(\(20\+22\)\)[\s\S]*echo second-\$\(\(50\+50\)\)/, 'a marker per typed command');
  // Seek into the pause between the two commands: the first has run, the second is not typed yet.
  const markers = await page.locator('.markers button').evaluateAll((els) => els.map((e) => Number(e.getAttribute('title')?.split(' ')[0])));
  const between = Math.round(((markers[0] + markers[1]) / 2) * 100) / 100;
  await page.fill('input.seek', String(between));
  await page.press('input.seek', 'Enter');
  await page.locator(`.player[data-seeked-to="${between}"]`).waitFor();
  await page.locator('.ap-term', { hasText: 'first-42' }).waitFor();
  const screen = (await page.textContent('.ap-term')) ?? '';
  t.match(screen, /echo first-\$\(\(20\+22\)\)\s*first-42/, 'the terminal at the seek point shows the first command and its output');
  t.notMatch(screen, /second-100/, 'and not yet the second');
  t.equal(await page.locator('.speeds button').count(), 6, 'speeds 0.25x to 8x');
  t.match(await page.getAttribute('a.download', 'href'), new RegExp(`/kubetape/v1/sessions/${execSession}/cast\\?(seq=\\d+&)?stdin=true$`));
  await page.screenshot({ path: join(SCREENSHOTS, 'player.png') });
  t.same(w.dialogs, []);
  t.same(w.errors, []);
  t.same(await w.cspViolations(), [], 'the app itself needs nothing the CSP forbids');
});

t.test("a session's requests: the apply as a diff against what the cluster returned", async (t) => {
  const w = await loggedIn('vic');
  const { page } = w;
  const applySession = (await findSession(h.kt.store, (s) => s.user === 'dana@example.com' && !!s.command?.includes('apply'))).id;
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${applySession}`);
  await page.waitForSelector('[data-timeline="loaded"]');
  const rows = page.locator('tr.req');
  t.ok((await rows.count()) >= 2, 'the GET and the create/patch are in the timeline');
  const writeRow = page.locator('tr.req', { hasText: /POST|PATCH/ }).first();
  await writeRow.click();
  await page.waitForSelector('.diff-box');
  const diff = (await page.textContent('.diff-box pre')) ?? '';
  t.match(diff, /\+ {6}"resourceVersion"|\+ +"uid"|\+ +"creationTimestamp"/, 'what the cluster added shows as added');
  t.match(await page.textContent('.body[data-body="request body"] pre'), /"mode": "blue"/, 'the request body, pretty-printed');
  // Reading a recording is itself recorded, and shown with it.
  await page.locator('.accesses li', { hasText: 'vic@example.com' }).first().waitFor();
  t.match(await page.textContent('.accesses'), /vic@example\.com · (show|events)/, "the viewer's read is listed as an access");
  await page.screenshot({ path: join(SCREENSHOTS, 'session-view.png'), fullPage: true });
  t.same(w.errors, []);
});

t.test('an approver approves the pending delete in the browser; kubectl retried passes', async (t) => {
  const w = await loggedIn('sam');
  const { page } = w;
  await page.click('nav >> text=Approvals');
  const card = page.locator(`.approval[data-approval="${approvalId}"]`);
  await card.waitFor();
  t.match(await card.textContent(), /delete pods "web-1" in namespace prod/);
  t.match(await card.textContent(), /dana@example\.com/);
  await page.screenshot({ path: join(SCREENSHOTS, 'approvals.png') });
  await card.locator('select').selectOption('10m');
  await card.locator('button.approve-for').click();
  await page.waitForSelector(`.history tr[data-approval="${approvalId}"] .status-approved`);
  const retried = await kubectl(['delete', 'pod', 'web-1', '-n', 'prod', '--wait=false'], { kubeconfig: kc.dana });
  t.equal(retried.code, 0, retried.stderr);
  t.match(retried.stdout, /pod "web-1" deleted/);
  t.same(w.errors, []);
});

t.test('nobody approves their own request from the browser either', async (t) => {
  const refused = await kubectl(['delete', 'pod', 'web-0', '-n', 'prod', '--wait=false'], { kubeconfig: kc.sam });
  const own = /approval id (ap-[0-9a-f]+)/.exec(refused.stderr)?.[1];
  t.ok(own, refused.stderr);
  const w = await loggedIn('sam');
  const { page } = w;
  await page.goto(`${h.kt.url}/kubetape/ui/approvals`);
  const card = page.locator(`.approval[data-approval="${own}"]`);
  await card.waitFor();
  await card.locator('button.approve-once').click();
  await card.locator('.msg.bad').waitFor();
  t.match(await card.locator('.msg').textContent(), /refused: .*(own|yourself)/i);
  t.equal((await kubectl(['get', 'pod', 'web-0', '-n', 'prod', '-o', 'name'], { kubeconfig: kc.vic })).stdout.trim(), 'pod/web-0', 'still there');
});

t.test('a running exec, watched live in the browser, read-only', async (t) => {
  const term = kubectlOnPty(kc.dana, ['exec', '-it', 'web-0', '-n', 'prod', '--', 'sh'], { width: 80, height: 20 });
  t.teardown(() => term.send('\x04'));
  await term.waitFor(/[#$] $/);
  term.send('echo live-$((3*7))\r');
  await term.waitFor(/\r\nlive-21\r\n/);
  const running = await findSession(h.kt.store, (s) => s.user === 'dana@example.com' && s.id !== execSession && s.resources.includes('pods/exec'));
  const w = await loggedIn('vic');
  const { page } = w;
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${running.id}`);
  const out = page.locator('[data-testid="live-output"]');
  await page.locator('[data-testid="live-output"]', { hasText: 'live-21' }).waitFor();
  term.send('echo then-$((4*5))\r');
  await page.locator('[data-testid="live-output"]', { hasText: 'then-20' }).waitFor();
  t.match(await out.textContent(), /live-21[\s\S]*then-20/, 'the output appears as it is recorded');
  t.equal(await page.locator('.live-box input, .live-box textarea, .live-box button').count(), 0, 'nothing to type into');
  term.send('\x04');
  await term.done;
  t.same(w.errors, []);
  t.same(await w.cspViolations(), []);
});

function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    sock.end(payload);
  });
}

t.test('a port-forward: each connection with its bytes both ways, text as text, binary as hex', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'console-pf-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const child = spawn(
    'kubectl',
    ['--kubeconfig', kc.dana, '--cache-dir', join(home, 'cache'), 'port-forward', '--address', '127.0.0.1', '-n', 'prod', 'web-0', ':80'],
    {
      env: { ...process.env, HOME: home },
    },
  );
  const exited = new Promise((r) => child.on('close', r));
  const local = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('port-forward did not start')), 20_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  t.equal((await echoThrough(local, Buffer.from('GET /health HTTP/1.1\r\nHost: web\r\n\r\n'))).toString(), 'GET /health HTTP/1.1\r\nHost: web\r\n\r\n');
  const binary = Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x80, 0x1b, 0x5b]);
  t.same(await echoThrough(local, binary), binary);
  child.kill('SIGINT');
  await exited;
  const pf = await findSession(h.kt.store, (s) => s.user === 'dana@example.com' && s.resources.includes('pods/portforward'));
  await settledExchanges(h.kt.store, pf.id);
  const w = await loggedIn('vic');
  const { page } = w;
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${pf.id}`);
  await page.waitForSelector('[data-timeline="loaded"]');
  await page.locator('tr.req', { hasText: 'portforward' }).first().click();
  await page.locator('.connection').nth(1).waitFor();
  const first = page.locator('.connection[data-connection="1"]');
  t.match(await first.locator('.lane[data-lane="in"] pre').textContent(), /GET \/health HTTP\/1\.1␍\nHost: web/, 'client to pod, as text');
  t.match(await first.locator('.lane[data-lane="out"] pre').textContent(), /GET \/health HTTP\/1\.1/, 'pod to client, as text');
  const second = page.locator('.connection[data-connection="2"]');
  t.match(await second.locator('.lane[data-lane="in"]').textContent(), /hex[\s\S]*00 01 02 ff fe 80 1b 5b/, 'binary as hex');
  t.same(w.errors, []);
});

t.test('someone outside the viewer groups sees only their own sessions', async (t) => {
  const w = await loggedIn('dana');
  const { page } = w;
  await page.waitForSelector(`tr[data-session="${execSession}"]`);
  const users = await page.locator('table.sessions tbody td.user').allTextContents();
  t.ok(users.length > 0);
  t.ok(
    users.every((u) => u === 'dana@example.com'),
    `only dana's: ${users.join(', ')}`,
  );
  t.equal(await page.locator(`tr[data-session="${samSession}"]`).count(), 0);
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${samSession}`);
  await page.waitForSelector('.session-head');
  await page.locator('.session-head', { hasText: 'Could not open the session' }).waitFor();
  t.notMatch(await page.textContent('main'), /sam@example\.com/, "nothing of sam's session shows");
});

t.test('a recording altered on disk: the page shows the session first, then says the chain is broken', async (t) => {
  const applySession = (await findSession(h.kt.store, (s) => s.user === 'dana@example.com' && !!s.command?.includes('apply'))).id;
  // One byte of a recorded response changed in place (the status 200 -> 299), the file's size unchanged.
  const days = join(h.dataDir, 'recordings', 'sessions');
  const day = readdirSync(days).find((d) => existsSync(join(days, d, `${applySession}.ndjson`)));
  t.ok(day, 'the session file is found');
  const path = join(days, day!, `${applySession}.ndjson`);
  const text = readFileSync(path, 'utf8');
  t.match(text, /"status":200/);
  writeFileSync(path, text.replace('"status":200', '"status":299'));

  const w = await loggedIn('vic');
  const { page } = w;
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${applySession}`);
  await page.waitForSelector('.verification[data-verified]');
  t.equal(await page.getAttribute('.verification', 'data-verified'), 'false', 'the verdict, once the chain is walked');
  t.match(await page.textContent('.verification'), /does NOT verify[\s\S]*line \d+ does not follow line \d+/, 'it says so and names the line');
  await page.waitForSelector('[data-timeline="loaded"]');
  t.ok((await page.locator('tr.req').count()) >= 2, 'the requests are still shown, as recorded');
  t.same(w.errors, []);
});
