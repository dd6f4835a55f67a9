// The console with many recordings: 10,000 sessions in the local store and
// one hour-long exec of 100,000 events. Prints how long the sessions API
// takes for a page (first, deep via the cursor, filtered) and walking all
// 10,000; how long the list page takes in chromium to show its first page
// and the next; and how long the player takes to open the big recording
// (fetch /cast, parse, build the player) and to seek in it.
//
//   npx tsc -p tsconfig.json && node ui/build.mjs && node dist/bench/console.js
//
// Everything runs in this process (API server, kubetape, the HTTP client)
// except chromium; figures are medians over a few runs, in milliseconds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'node:https';
import { chromium } from 'playwright-core';
import { startApiServer } from '../src/devcluster/index.js';
import { startKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { newSessionId, type RecordingStore } from '../src/store/store.js';
import { mintLoginLink } from '../src/console/login-links.js';
import { writeExecRecording, type Frame } from '../test/helpers/recorded-exec.js';
import { median } from './stats.js';

const SESSIONS = Number(process.env.SESSIONS ?? 10_000);
const BIG_EVENTS = Number(process.env.BIG_EVENTS ?? 100_000);
const TYPE_EVERY = Number(process.env.TYPE_EVERY ?? 50);
const USERS = ['dana@example.com', 'sam@example.com', 'lee@example.com', 'kim@example.com'];
const NAMESPACES = ['prod', 'staging', 'default', 'kube-system'];

function get(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

async function writeSessions(store: RecordingStore, n: number): Promise<void> {
  const start = Date.now() - n * 60_000;
  for (let i = 0; i < n; i++) {
    const at = start + i * 60_000;
    const id = newSessionId(at);
    const user = USERS[i % USERS.length];
    const ns = NAMESPACES[i % NAMESPACES.length];
    const time = new Date(at).toISOString();
    const w = await store.openSession({
      type: 'session.start',
      session: id,
      time,
      user,
      groups: ['dev'],
      authMethod: 'token',
      cluster: 'bench',
      source: '127.0.0.1',
      command: i % 10 === 0 ? 'kubectl exec' : 'kubectl get',
      userAgent: 'kubectl/v1.32.0 (linux/amd64) kubernetes/abc',
    });
    await w.append({
      type: 'request',
      session: id,
      seq: 1,
      time,
      method: 'GET',
      uri: `/api/v1/namespaces/${ns}/pods`,
      attrs: { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: ns, name: '', isResourceRequest: true } as never,
      headers: {},
      streaming: false,
    });
    await w.append({ type: 'response', session: id, seq: 1, time, status: 200, durationMs: 3, bytesIn: 0, bytesOut: 512 });
    await w.close({
      type: 'session.end',
      session: id,
      time,
      reason: 'idle',
      summary: { requests: 1, bytesIn: 0, bytesOut: 512, verbs: ['list'], namespaces: [ns], resources: ['pods'], errors: 0 },
    });
  }
}

/** One exec -it of an hour: typed commands, output, 100,000 stream events. */
function writeBigExec(store: RecordingStore, events: number): Promise<string> {
  const at = Date.now() - 3_600_000;
  const step = 3_600_000 / events;
  function* frames(): Generator<Frame> {
    yield { offsetMs: 0, channel: 'resize', data: '{"Width":120,"Height":40}' };
    let typed = 0;
    for (let i = 0; i < events - 1; i++) {
      const offsetMs = Math.round(i * step);
      if (i % TYPE_EVERY === 0) yield { offsetMs, channel: 'stdin', data: `cat /var/log/app-${typed++}.log\r` };
      else
        yield {
          offsetMs,
          channel: 'stdout',
          data: `\x1b[32m${new Date(at + offsetMs).toISOString()}\x1b[0m line ${i} of the log, some text to fill a terminal row\r\n`,
        };
    }
  }
  return writeExecRecording(store, frames(), { at });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-bench-console-'));
  const api = await startApiServer({});
  const { writeFileSync } = await import('node:fs');
  const tokens = join(dir, 'tokens.csv');
  writeFileSync(tokens, 'viewer-token,viewer@example.com,,"auditors"\n');
  const kubeconfig = join(dir, 'upstream.yaml');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: ${api.url}\n    certificate-authority-data: ${Buffer.from(api.ca).toString('base64')}\nusers:\n- name: b\n  user:\n    token: admin-token\ncontexts:\n- name: b\n  context: {cluster: b, user: b}\ncurrent-context: b\n`,
  );
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(dir, 'data'),
      kubeconfig,
      tokenFile: tokens,
      console: { viewers: [{ group: 'auditors' }], linkTtlSeconds: 300, sessionTtlSeconds: 3600 },
    },
  );
  const kt = await startKubetape(config, { log: () => undefined });
  const browser = await chromium.launch({
    executablePath: process.env.KUBETAPE_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const [t] = await timed(() => writeSessions(kt.store, SESSIONS));
    console.log(`wrote ${SESSIONS} sessions in ${ms(t)}`);
    const [tb, big] = await timed(() => writeBigExec(kt.store, BIG_EVENTS));
    console.log(`wrote one exec of ${BIG_EVENTS} events (one hour) in ${ms(tb)}`);

    const call = (path: string) => get(`${kt.url}${path}`, kt.ca, 'viewer-token');
    const runs = async (path: string, n = 5): Promise<number> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const [d, r] = await timed(() => call(path));
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
        out.push(d);
      }
      return median(out);
    };
    console.log('\nsessions API, median of 5:');
    console.log(`  first page (100)                 ${ms(await runs('/kubetape/v1/sessions?limit=100'))}`);
    console.log(`  first page, user + namespace     ${ms(await runs('/kubetape/v1/sessions?limit=100&user=dana%40example.com&namespace=prod'))}`);
    console.log(`  free text q=exec                 ${ms(await runs('/kubetape/v1/sessions?limit=100&q=exec'))}`);
    let cursor: string | undefined;
    let pages = 0;
    let seen = 0;
    const [walk] = await timed(async () => {
      do {
        const r = await call(`/kubetape/v1/sessions?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        const page = JSON.parse(r.body) as { items: unknown[]; nextCursor?: string };
        seen += page.items.length;
        pages++;
        cursor = page.nextCursor;
      } while (cursor);
    });
    console.log(`  all ${seen} sessions, ${pages} pages of 1000 via the cursor: ${ms(walk)}`);

    console.log(`\nthe ${BIG_EVENTS}-event exec through the API, median of 3:`);
    // The first open walks the whole file; later ones find the verification cached (unchanged file and index).
    const [cold] = await timed(() => call(`/kubetape/v1/sessions/${big}`));
    console.log(`  summary + hash chain, first open  ${ms(cold)}`);
    console.log(`  summary + hash chain verified     ${ms(await runs(`/kubetape/v1/sessions/${big}`, 3))}`);
    console.log(`  events, no bodies (timeline)      ${ms(await runs(`/kubetape/v1/sessions/${big}/events?bodies=false`, 3))}`);
    console.log(`  events, types=request,response    ${ms(await runs(`/kubetape/v1/sessions/${big}/events?bodies=false&types=request,response`, 3))}`);
    console.log(`  cast (asciicast v2, markers)      ${ms(await runs(`/kubetape/v1/sessions/${big}/cast?seq=1&stdin=true`, 3))}`);
    // The player's source: the same cast cut into segments with screen snapshots (built once, then kept).
    const [cut, index] = await timed(() => call(`/kubetape/v1/sessions/${big}/player?stdin=true&idle=2`));
    const segments = (JSON.parse(index.body) as { segments: unknown[] }).segments.length;
    console.log(`  player index, first (cut into ${segments} segments) ${ms(cut)}`);
    console.log(`  player index, kept                ${ms(await runs(`/kubetape/v1/sessions/${big}/player?stdin=true&idle=2`, 3))}`);
    console.log(`  one segment                       ${ms(await runs(`/kubetape/v1/sessions/${big}/player/${segments >> 1}?stdin=true&idle=2`, 3))}`);

    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const link = mintLoginLink(join(dir, 'data'), { user: 'viewer@example.com', groups: ['auditors'] }, 300);
    await page.goto(`${kt.url}/kubetape/v1/login/link?token=${link}`);
    const listRuns: number[] = [];
    const nextRuns: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [d] = await timed(async () => {
        await page.goto(`${kt.url}/kubetape/ui/`);
        await page
          .locator('table.sessions tbody tr')
          .nth(Math.min(100, SESSIONS) - 1)
          .waitFor();
      });
      listRuns.push(d);
      const before = await page.getAttribute('main', 'data-loaded');
      const [n] = await timed(async () => {
        await page.click('text=older →');
        // (a polled attribute: the page's CSP forbids the string predicates waitForFunction would evaluate)
        while ((await page.getAttribute('main', 'data-loaded')) === before) await new Promise((r) => setTimeout(r, 5));
      });
      nextRuns.push(n);
    }
    console.log('\nlist page in chromium, median of 5:');
    console.log(`  load to 100 rows shown           ${ms(median(listRuns))}`);
    console.log(`  next page                        ${ms(median(nextRuns))}`);

    const openRuns: number[] = [];
    const openInPage: number[] = [];
    const seekRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const cdp = process.env.BENCH_PROFILE ? await page.context().newCDPSession(page) : undefined;
      if (cdp) {
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.start');
      }
      const [d] = await timed(async () => {
        await page.goto(`${kt.url}/kubetape/ui/sessions/${big}`);
        await page.locator('.player[data-ready="true"]').waitFor({ timeout: 120_000 });
      });
      openRuns.push(d);
      openInPage.push(Number(await page.getAttribute('.player', 'data-open-ms')));
      if (process.env.BENCH_TRACE) {
        const entries = await page.evaluate(() =>
          performance.getEntries().map((e) => {
            const r = e as unknown as { responseStart?: number; responseEnd?: number };
            return [e.entryType, e.name.replace(/^https:\/\/[^/]+/, ''), e.startTime, r.responseStart ?? 0, r.responseEnd ?? e.startTime + e.duration];
          }),
        );
        for (const [type, name, start, first, end] of entries)
          console.log(
            `    ${String(type).padEnd(10)} ${Number(start).toFixed(0).padStart(6)} ${Number(first).toFixed(0).padStart(6)} ${Number(end).toFixed(0).padStart(6)}  ${String(name).slice(0, 90)}`,
          );
      }
      for (const at of [600, 1800, 3000, 120, 2400]) {
        await page.fill('input.seek', String(at));
        await page.press('input.seek', 'Enter');
        await page.locator(`.player[data-seeked-to="${at}"]`).waitFor();
        seekRuns.push(Number(await page.getAttribute('.player', 'data-seek-ms')));
        if (process.env.BENCH_TRACE) console.log(`    seek to ${at}: ${seekRuns[seekRuns.length - 1]} ms`);
      }
      if (cdp) {
        await new Promise((r) => setTimeout(r, 1500));
        const { profile } = await cdp.send('Profiler.stop');
        const self = new Map<string, number>();
        const dt = profile.timeDeltas ?? [];
        const byId = new Map(profile.nodes.map((n) => [n.id, n]));
        (profile.samples ?? []).forEach((id, i) => {
          const n = byId.get(id)!;
          const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
          self.set(k, (self.get(k) ?? 0) + (dt[i] ?? 0) / 1000);
        });
        for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${v.toFixed(0).padStart(6)} ms  ${k}`);
      }
    }
    console.log(`\nplayer, one hour, ${BIG_EVENTS} events (index and first segment fetched, terminal drawn):`);
    console.log(`  open: page load to player ready  ${ms(median(openRuns))} (median of 3)`);
    console.log(`  open: in the page, to drawn      ${ms(median(openInPage))} (median of 3)`);
    console.log(`  seek (5 points x 3)              ${ms(median(seekRuns))} median, ${ms(Math.max(...seekRuns))} worst`);
  } finally {
    await browser.close();
    await kt.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
