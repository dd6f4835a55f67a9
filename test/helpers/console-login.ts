// Logging a browser page in to the console with a local one-time link, the
// way `kubetape console` mints one (a link file in the data dir), consumed
// by the running kubetape, which sets the session cookie and sends the
// browser to the UI.
import type { Page } from 'playwright-core';
import { mintLoginLink } from '../../src/console/login-links.js';
import { httpsCall } from './https-call.js';

export interface ConsoleUser {
  user: string;
  groups: string[];
}

export function loginLinkUrl(origin: string, dataDir: string, who: ConsoleUser): string {
  return `${origin}/kubetape/v1/login/link?token=${mintLoginLink(dataDir, who, 300)}`;
}

export async function consoleLogin(page: Page, origin: string, dataDir: string, who: ConsoleUser): Promise<void> {
  const r = await page.goto(loginLinkUrl(origin, dataDir, who));
  if (!r?.ok()) throw new Error(`login link answered ${r?.status()}: ${await r?.text()}`);
  await page.waitForURL(/\/kubetape\/ui\/$/);
}

/** Logs in with a one-time link; returns the cookie's value. */
export async function linkLogin(url: string, ca: string, dataDir: string, who: { user: string; groups: string[] }): Promise<string> {
  const r = await httpsCall(loginLinkUrl(url, dataDir, who), { ca });
  if (r.status !== 302) throw new Error(`login link answered ${r.status}: ${r.body}`);
  const cookie = String(r.headers['set-cookie']).match(/kubetape_session=([A-Za-z0-9_-]+)/)?.[1];
  if (!cookie) throw new Error('no session cookie');
  return cookie;
}
