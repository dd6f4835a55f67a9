// The browser half of bench/console.ts, in a process of its own (that one
// runs kubetape and starts this one): the list page in chromium, the
// player's first open of a recording nobody has opened, its later opens and
// seeks. Reads what to open from the environment bench/console.ts sets.
import { performance } from 'node:perf_hooks';
import { chromium, type Page } from 'playwright-core';
import { median } from './stats.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run bench/console.ts, which starts this`);
  return v;
};
const url = env('BENCH_URL');
const big = env('BENCH_BIG');
const unopened = env('BENCH_UNOPENED');
const SESSIONS = Number(env('BENCH_SESSIONS'));
const BIG_EVENTS = Number(env('BENCH_EVENTS'));

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

/** BENCH_TRACE: what the page fetched, when (ms since navigation: start, first byte, end). */
async function printTrace(page: Page): Promise<void> {
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

async function main(): Promise<void> {
  const browser = await chromium.launch({
    executablePath: process.env.KUBETAPE_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(`${url}/kubetape/v1/login/link?token=${env('BENCH_LINK')}`);
    const listRuns: number[] = [];
    const nextRuns: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [d] = await timed(async () => {
        await page.goto(`${url}/kubetape/ui/`);
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

    // The first open of a recording nobody has opened: its cast is cut and its chain walked now.
    // The page shows the player first and the verification after it.
    const [firstOpen] = await timed(async () => {
      await page.goto(`${url}/kubetape/ui/sessions/${unopened}`);
      await page.locator('.player[data-ready="true"]').waitFor({ timeout: 120_000 });
    });
    const [firstVerdict] = await timed(() => page.locator('.verification[data-verified="true"]').waitFor({ timeout: 120_000 }));
    if (process.env.BENCH_TRACE) await printTrace(page);

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
        await page.goto(`${url}/kubetape/ui/sessions/${big}`);
        await page.locator('.player[data-ready="true"]').waitFor({ timeout: 120_000 });
      });
      openRuns.push(d);
      openInPage.push(Number(await page.getAttribute('.player', 'data-open-ms')));
      if (process.env.BENCH_TRACE) await printTrace(page);
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
    console.log(`  first open: page load to player ready ${ms(firstOpen)}, then verification shown after ${ms(firstVerdict)} more`);
    console.log(`  open: page load to player ready  ${ms(median(openRuns))} (median of 3)`);
    console.log(`  open: in the page, to drawn      ${ms(median(openInPage))} (median of 3)`);
    console.log(`  seek (5 points x 3)              ${ms(median(seekRuns))} median, ${ms(Math.max(...seekRuns))} worst`);
  } finally {
    await browser.close();
  }
}

await main();
