// Debian's chromium driven by playwright-core for the console's browser
// tests: headless, no sandbox (containers), background networking off, and
// every page watched for what must never happen with hostile recordings:
// a dialog, a page error, a Content-Security-Policy violation, a request
// that leaves kubetape's own /kubetape/ paths.
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildUi } from '../../ui/build.mjs';
import { startHarness, type Harness } from './harness.js';
import type { FakeApiServerOptions } from '../fake-apiserver/index.js';

export const CHROMIUM = process.env.KUBETAPE_CHROMIUM ?? '/usr/bin/chromium';

let built: Promise<unknown> | undefined;
/** The console's assets, built once per test process (the tests run from source, before any npm build). */
export function ensureUiBuilt(): Promise<unknown> {
  return (built ??= buildUi());
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  dialogs: string[];
  errors: string[];
  /** URLs requested that are not under origin/kubetape/. */
  foreignRequests: string[];
  /** Every URL the page requested. */
  requests: string[];
  /** CSP violations the page reported (blocked URI and directive). */
  cspViolations(): Promise<string[]>;
}

/** A new context (its own cookies) for the kubetape at `origin`, which presents a certificate from `ca` (ignored: the test CA is not in chromium's store). */
export async function watchedPage(browser: Browser, origin: string): Promise<WatchedPage> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
  const page = await context.newPage();
  const w: WatchedPage = {
    page,
    context,
    dialogs: [],
    errors: [],
    foreignRequests: [],
    requests: [],
    cspViolations: async () => {
      try {
        return await page.evaluate<string[]>('window.__cspViolations || []');
      } catch {
        return ['(page gone)'];
      }
    },
  };
  // Runs before the page's own scripts; CSP does not apply to it.
  await context.addInitScript({
    content: `window.__cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page.on('dialog', (d) => {
    w.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    w.requests.push(u);
    if (!u.startsWith(`${origin}/kubetape/`) && !u.startsWith('data:')) w.foreignRequests.push(u);
  });
  return w;
}

/**
 * kubetape in front of the test API server with people from a token file (`TOKEN,USER,,"GROUP"` lines
 * written into `dir`), the console on with the auditors group as viewers, and chromium and the built
 * UI ready, all started together.
 */
export async function startConsoleHarness(dir: string, tokensCsv: string, api?: FakeApiServerOptions): Promise<{ h: Harness; browser: Browser }> {
  writeFileSync(join(dir, 'tokens.csv'), tokensCsv);
  const [h, browser] = await Promise.all([
    startHarness({
      ...(api ? { api } : {}),
      config: { tokenFile: join(dir, 'tokens.csv'), console: { viewers: [{ group: 'auditors' }], linkTtlSeconds: 300, sessionTtlSeconds: 3600 } },
    }),
    launchChromium(),
    ensureUiBuilt(),
  ]);
  return { h, browser };
}
