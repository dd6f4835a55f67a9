// The console shows what kubetape decoded inside a port-forward (issue 16's
// events) under each connection's raw bytes: HTTP exchanges with their
// headers and bodies, and MCP messages with the tool, its arguments and its
// result. Traffic from the real kubectl port-forward to a real node HTTP
// server and the MCP SDK's server; the bodies carry HTML and script, which
// must stay text.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Harness } from './helpers/harness.js';
import { startConsoleHarness, watchedPage } from './helpers/console-browser.js';
import { consoleLogin } from './helpers/console-login.js';
import { rawConnection, startHttpTarget, startMcpTarget, startPortForward, type Target } from './helpers/decode-targets.js';
import { runningPod } from './helpers/stream-upstream.js';
import { writeKubeconfig } from './helpers/kubectl.js';
import { settledStreamExchanges } from './helpers/streams.js';

const EVIL = '<img src=x onerror=window.__pwned=1>';
const dir = mkdtempSync(join(tmpdir(), 'console-decoded-'));
// The README's picture of this view, refreshed on request (as test/console-ui.test.ts does).
const SCREENSHOTS = process.env.KUBETAPE_SCREENSHOTS ? resolve(dirname(fileURLToPath(import.meta.url)), '../docs/screenshots') : join(dir, 'screenshots');
let h: Harness;
let browser: Browser;
let web: Target;
let mcp: Target;
let session = '';

t.before(async () => {
  [web, mcp] = await Promise.all([startHttpTarget(), startMcpTarget()]);
  ({ h, browser } = await startConsoleHarness(dir, 'dana-token,dana,,"dev"\nvic-token,vic,,"auditors"\n', {
    minor: '32',
    portForwardTarget: (_pod, port) =>
      port === 80 ? { host: '127.0.0.1', port: web.port } : port === 8080 ? { host: '127.0.0.1', port: mcp.port } : undefined,
  }));
  h.api.objects.put(runningPod('web-0') as never);
  const dana = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dana-token', name: 'dana' });
  const pf = await startPortForward(dana, [80, 8080]);
  try {
    const body = JSON.stringify({ note: EVIL });
    await rawConnection(pf.local[0], [
      { send: 'GET /hello HTTP/1.1\r\nHost: pod\r\n\r\n', until: (b) => b.includes('hello from the pod') },
      {
        send: `POST /echo HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        until: (b) => b.includes('window.__pwned'),
      },
    ]);
    const client = new Client({ name: 'console-test-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${pf.local[1]}/mcp`)));
    await client.callTool({ name: 'echo', arguments: { text: EVIL } });
    await client.close();
  } finally {
    await pf.stop();
  }
  const [x] = await settledStreamExchanges(h.kt.store, (e) => e.request.portForward !== undefined);
  session = x.session;
});

t.teardown(async () => {
  await browser?.close();
  await h?.close();
  await web?.close();
  await mcp?.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('HTTP exchanges and MCP messages under their connections, recorded text as text', async (t) => {
  const w = await watchedPage(browser, h.kt.url);
  const { page } = w;
  await consoleLogin(page, h.kt.url, h.dataDir, { user: 'vic', groups: ['auditors'] });
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${session}`);
  await page.waitForSelector('[data-timeline="loaded"]');
  await page.locator('tr.req', { hasText: 'portforward' }).first().click();
  await page.locator('.http-exchange').first().waitFor();

  const http = page.locator('.connection', { has: page.locator('.http-exchange', { hasText: 'GET /hello' }) });
  t.match(await http.locator('.decode-note').first().textContent(), /decoded as HTTP/, 'the decoder says what the connection carried');
  const summaries = await http.locator('.http-exchange summary').allTextContents();
  t.match(summaries[0], /^GET \/hello → 200 OK/, 'the first exchange: request line and status');
  t.match(summaries[1], /^POST \/echo → 200/, 'the second');
  await http.locator('.http-exchange summary').nth(0).click();
  t.match(
    await http.locator('.http-exchange').nth(0).locator('.body[data-body^="response body"] pre').textContent(),
    'hello from the pod',
    'its response body',
  );
  await http.locator('.http-exchange summary').nth(1).click();
  const sent = (await http.locator('.http-exchange').nth(1).locator('.body[data-body^="request body"] pre').textContent()) ?? '';
  t.match(sent, `"note": "${EVIL}"`, 'the posted JSON, pretty-printed, its HTML shown as the characters it is');
  t.match(await http.locator('.http-exchange').nth(1).locator('table.headers').first().textContent(), /content-type\s*application\/json/i, 'request headers');

  const call = page.locator('.mcp-message[data-method="tools/call"]');
  await call.first().waitFor();
  const callText = (await call.allTextContents()).join('\n');
  t.match(callText, /client · request · tools\/call · tool echo/, 'the tool call: who, what, which tool');
  t.match(callText, `"text": "${EVIL}"`, 'its arguments as JSON text');
  t.match(callText, /server · response · tools\/call · tool echo[\s\S]*echo: <img src=x onerror=window\.__pwned=1>/, 'and the result, linked to it');
  t.match(
    await page.locator('.mcp-message[data-method="initialize"]').allTextContents(),
    [/client console-test-agent 1\.0\.0/],
    'the client named at initialize',
  );

  await call.first().scrollIntoViewIfNeeded();
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, 'port-forward.png') });
  t.equal(await page.evaluate<unknown>('window.__pwned'), undefined, 'nothing recorded ran');
  t.equal(await page.locator('main img').count(), 0, 'no element made from recorded text');
  t.same(w.errors, []);
  t.same(await w.cspViolations(), []);
  await w.context.close();
});
