// Recorded content is hostile: whoever used the cluster wrote the bodies,
// names, headers and terminal output the console shows back to a viewer.
// Recordings are made through kubetape by the real kubectl (and one raw
// client for a header kubectl will not send) carrying HTML and script in a
// user name, object data, an exec command, a User-Agent, and terminal output
// with OSC 52 (clipboard), OSC 8 (hyperlinks to javascript:) and title
// escapes. Viewed in chromium, every page stays inert: no dialog, no script
// run (a window flag the payloads set is never set), no element injected,
// no link that is not the console's own, no request anywhere but kubetape's
// own paths, no CSP violation (an injected handler would be one), the title
// never set by a recording. The UI's files are served with the strict
// Content-Security-Policy and no path leaves dist/ui.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { kubectlOnPty } from './helpers/streams.js';
import { runningPod } from './helpers/stream-upstream.js';
import { findSession, settledExchanges } from './helpers/recordings.js';
import { httpsCall } from './helpers/https-call.js';
import { rawRequest } from './helpers/raw-request.js';
import { startConsoleHarness, watchedPage, type WatchedPage } from './helpers/console-browser.js';
import { consoleLogin } from './helpers/console-login.js';

// Each payload, if it ever ran, would set window.__pwned.
const EVIL_USER = '<img src=x onerror=window.__pwned=1>';
const ESC = '\x1b';
const BEL = '\x07';
const TERMINAL_PAYLOAD =
  `${ESC}]52;c;cHduZWQ=${BEL}` + // OSC 52: write "pwned" to the clipboard
  `${ESC}]0;PWNED-TITLE${BEL}${ESC}]2;PWNED-TITLE${BEL}` + // window title
  `${ESC}]8;;javascript:window.__pwned=5${BEL}evil-link${ESC}]8;;${BEL}` + // OSC 8 hyperlink
  ` <img src=x onerror=window.__pwned=6> javascript:window.__pwned=7 https://evil.example/steal`;

let h: Harness;
let browser: Browser;
let evil = '';
const dir = mkdtempSync(join(tmpdir(), 'console-hostile-'));

t.before(async () => {
  ({ h, browser } = await startConsoleHarness(dir, `evil-token,${EVIL_USER},,"dev"\nvic-token,vic,,"auditors"\n`));
  evil = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'evil-token', name: 'evil' });
  h.api.objects.put(runningPod('web-0') as never);
  // As JSON (kubectl create sends the protobuf of a built-in kind it builds itself; from a file it sends the file's JSON).
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'evil', annotations: { note: '<iframe src="javascript:window.__pwned=12"></iframe>' } },
    data: {
      a: '<img src=x onerror=window.__pwned=2>',
      b: '</script><script>window.__pwned=3</script><!--',
      c: 'javascript:window.__pwned=4',
      d: '<a href="javascript:window.__pwned=8">click</a>',
    },
  };
  const made = await kubectl(['create', '-f', '-'], { kubeconfig: evil, input: JSON.stringify(configMap) });
  if (made.code !== 0) throw new Error(made.stderr);
  const printf = `printf '%s\\n' ${shellQuote(TERMINAL_PAYLOAD)}; printf '%s\\n' ${shellQuote('</pre><script>window.__pwned=9</script>')} >&2`;
  const plain = await kubectl(['exec', 'web-0', '--', 'sh', '-c', printf], { kubeconfig: evil });
  if (plain.code !== 0) throw new Error(plain.stderr);
  const term = kubectlOnPty(evil, ['exec', '-it', 'web-0', '--', 'sh'], { width: 100, height: 20 });
  await term.waitFor(/[#$] $/);
  term.send(`printf '%s\\n' ${shellQuote(TERMINAL_PAYLOAD)}\r`);
  await term.waitFor(/evil-link/);
  term.send('\x04');
  await term.done;
  // A User-Agent kubectl would never send, from a plain client.
  const ua = await httpsCall(`${h.kt.url}/api/v1/namespaces/default/pods`, {
    ca: h.kt.ca,
    headers: {
      Authorization: 'Bearer evil-token',
      'User-Agent': '<svg onload=window.__pwned=10>',
      'Kubectl-Command': '<iframe src=javascript:window.__pwned=11>',
    },
  });
  if (ua.status !== 200) throw new Error(ua.body);
  for (const tty of [false, true]) await execSession(tty);
});

/** The session of the exec with or without a terminal, once its exchanges are all recorded. */
async function execSession(tty: boolean): Promise<string> {
  for (let i = 0; i < 100; i++) {
    for (const s of await h.kt.store.listSessions()) {
      if (!s.resources.includes('pods/exec')) continue;
      const xs = await settledExchanges(h.kt.store, s.id);
      if (xs.some((x) => x.request.exec?.tty === tty && x.response)) return s.id;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no exec session with tty=${tty}`);
}

t.teardown(async () => {
  await browser?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Everything that must hold on every page a hostile recording was shown on. */
async function assertInert(t: Test, w: WatchedPage, where: string): Promise<void> {
  const { page } = w;
  t.same(w.dialogs, [], `${where}: no dialog`);
  t.same(w.errors, [], `${where}: no page error`);
  t.equal(await page.evaluate<unknown>('window.__pwned'), undefined, `${where}: no payload ran`);
  t.same(await w.cspViolations(), [], `${where}: nothing tried to run inline or load from elsewhere`);
  t.same(w.foreignRequests, [], `${where}: no request left kubetape's own paths`);
  t.same(
    w.requests.filter((u) => /\/x$|evil\.example/.test(u)),
    [],
    `${where}: no image or link from a recording was fetched`,
  );
  t.equal(
    await page.locator('main img, main iframe, main script, main object, main embed, main form').count(),
    0,
    `${where}: no element made from recorded text`,
  );
  t.equal(
    await page.locator('main svg').evaluateAll((els) => els.filter((e) => !e.closest('.ap-wrapper')).length),
    0,
    `${where}: no svg but the player's own icons`,
  );
  const hrefs = await page.locator('a[href]').evaluateAll((els) => els.map((e) => (e as unknown as { href: string }).href));
  t.same(
    hrefs.filter((u) => !u.startsWith(`${h.kt.url}/kubetape/`)),
    [],
    `${where}: every link is the console's own`,
  );
  t.equal(await page.title(), 'kubetape console', `${where}: the title is the console's`);
}

async function asViewer(): Promise<WatchedPage> {
  const w = await watchedPage(browser, h.kt.url);
  await consoleLogin(w.page, h.kt.url, h.dataDir, { user: 'vic', groups: ['auditors'] });
  await w.page.waitForSelector('[data-testid="me"]');
  return w;
}

t.test('the session list shows hostile names, commands and agents as text', async (t) => {
  const w = await asViewer();
  const { page } = w;
  await page.waitForSelector('table.sessions tbody tr');
  const users = await page.locator('table.sessions tbody td.user').allTextContents();
  t.ok(users.includes(EVIL_USER), 'the user name is shown exactly, as text');
  t.match(
    await page.textContent('table.sessions'),
    /<iframe src=javascript:window\.__pwned=11>|<svg onload=window\.__pwned=10>/,
    'the client is shown as text',
  );
  await assertInert(t, w, 'list');
  await w.context.close();
});

t.test('bodies, headers and non-TTY output open inert, escapes made visible', async (t) => {
  const w = await asViewer();
  const { page } = w;
  const cm = await findSession(h.kt.store, (s) => s.verbs.includes('create') && s.resources.includes('configmaps'));
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${cm.id}`);
  await page.waitForSelector('[data-timeline="loaded"]');
  for (const row of await page.locator('tr.req').all()) await row.click();
  await page.waitForSelector('.body[data-body="request body"] pre');
  const body = (await page.locator('.body[data-body="request body"] pre').first().textContent()) ?? '';
  t.match(body, /"a": "<img src=x onerror=window\.__pwned=2>"/, 'the HTML is shown as the characters it is');
  t.match(body, /"b": "<\/script><script>window\.__pwned=3<\/script><!--"/);
  t.match(body, /"note": "<iframe src=\\"javascript:window\.__pwned=12\\"><\/iframe>"/);
  await assertInert(t, w, 'configmap session');

  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${await execSession(false)}`);
  await page.waitForSelector('[data-timeline="loaded"]');
  await page.locator('tr.req', { hasText: 'exec' }).first().click();
  await page.waitForSelector('.lane[data-lane="stderr"] pre');
  const stdout = (await page.textContent('.lane[data-lane="stdout"] pre')) ?? '';
  t.match(stdout, /␛\]52;c;cHduZWQ=␇/, 'OSC 52 shows as visible characters, never reaches a clipboard');
  t.match(stdout, /␛\]8;;javascript:window\.__pwned=5␇evil-link/, 'OSC 8 shows as text, no link');
  t.match(await page.textContent('.lane[data-lane="stderr"] pre'), /<\/pre><script>window\.__pwned=9<\/script>/, 'stderr in its own lane, as text');
  await assertInert(t, w, 'non-TTY exec');
  await w.context.close();
});

t.test('terminal escapes reach only the terminal renderer', async (t) => {
  const w = await asViewer();
  const { page } = w;
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${await execSession(true)}`);
  await page.waitForSelector('.player[data-ready="true"]');
  await page.locator('button[data-speed="8"]').click();
  await page.locator('.ap-term', { hasText: 'evil-link' }).waitFor();
  // The shell echoes the typed command (escapes as ^[); the printed line is the one that starts with the link text.
  const rows = (await page.locator('.ap-term .ap-line').allTextContents()).map((r) => r.trimEnd());
  const printed = rows.filter((r) => r.startsWith('evil-link'));
  t.equal(printed.length, 1, `the printed line is on screen: ${rows.join('\n')}`);
  t.match(printed[0], /^evil-link <img src=x onerror=window\.__pwned=6> javascript:window\.__pwned=7/, 'the terminal shows the text');
  t.notMatch(printed[0], /52;c;|PWNED-TITLE|8;;javascript|\x1b/, 'the escapes were taken by the terminal emulator, not printed');
  t.equal(await page.locator('.ap-term a').count(), 0, 'no hyperlink in the terminal');
  await assertInert(t, w, 'player');
  await w.context.close();
});

t.test('the UI files: strict CSP on every answer, nothing outside dist/ui', async (t) => {
  const index = await httpsCall(`${h.kt.url}/kubetape/ui/sessions/whatever`, { ca: h.kt.ca });
  t.equal(index.status, 200, 'app routes answer index.html');
  t.match(index.body, /<script type="module" src="\/kubetape\/ui\/assets\/app-[0-9a-f]{12}\.js"><\/script>/);
  t.notMatch(index.body, /<script>|<style|\sstyle=|\son[a-z]+=/i, 'no inline script or style in the page');
  const csp = String(index.headers['content-security-policy']);
  t.match(csp, /default-src 'self'/);
  t.notMatch(csp, /'unsafe-inline'|'unsafe-eval'|\*/, 'nothing inline, no JS eval, no wildcard');
  const asset = /src="(\/kubetape\/ui\/assets\/[^"]+)"/.exec(index.body)?.[1] ?? '';
  const js = await httpsCall(`${h.kt.url}${asset}`, { ca: h.kt.ca });
  t.equal(js.status, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  t.match(js.headers['cache-control'], /immutable/);
  // Written byte for byte (node's URL would resolve the dot segments first).
  for (const target of [
    '/kubetape/ui/assets/..%2f..%2fpackage.json',
    '/kubetape/ui/assets/%2e%2e/%2e%2e/package.json',
    '/kubetape/ui/assets/../../../package.json',
    '/kubetape/ui/assets/..\\..\\package.json',
    '/kubetape/ui/assets/.index.html.js',
    '/kubetape/ui/assets/nope.js',
  ]) {
    const r = await rawRequest({ url: h.kt.url, ca: h.kt.ca, method: 'GET', target, headers: { Host: 'localhost' } });
    t.not(r.status, 200, `${target} is not served`);
    t.notMatch(r.body, /"name": "kubetape"|<html/, `${target}: nothing of the checkout or the page`);
  }
  const post = await httpsCall(`${h.kt.url}/kubetape/ui/`, { ca: h.kt.ca, method: 'POST', body: 'x' });
  t.equal(post.status, 405);
});
