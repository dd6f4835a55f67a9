// `kubetape console`: the way into the web console. Without OIDC (a local
// kubetape with its token file) it mints a one-time login link for the
// person at this machine, valid for console.linkTtlSeconds (default 5 min),
// prints it and tries to open it; with console.oidc configured, people log
// in at the issuer, so it prints (and opens) the console's address.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { configForCli } from './cli-config.js';
import { mintLoginLink } from '../console/login-links.js';
import { openBrowser } from '../login/browser.js';
import { LOCK_FILE } from '../listen/data-dir-lock.js';

interface ConsoleOptions {
  dataDir?: string;
  config?: string;
  url?: string;
  user?: string;
  group?: string[];
  open: boolean;
}

/** The URL of the kubetape holding the data dir, from its lock file. */
function runningUrl(dataDir: string): string {
  let url: unknown;
  try {
    url = (JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as { url?: unknown }).url;
  } catch {
    url = undefined;
  }
  if (typeof url !== 'string' || !/^https:\/\/[^/\s]+$/.test(url))
    throw new CliError(`no kubetape is running on ${dataDir}: start \`kubetape serve\` (or give its address with --url)`);
  return url;
}

export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description('open the web console: a one-time login link (local mode), or its address (with OIDC)')
    .option('--url <url>', "kubetape's address as the browser reaches it (default: the running kubetape's)")
    .option('--user <name>', 'log in as this user (default: your OS user, as in the local token file)')
    .option('--group <group>', 'a group of that user (repeatable; default kubetape:local)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--no-open', 'only print the link')
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file')
    .action((o: ConsoleOptions) => {
      const c = configForCli(o);
      const base = (o.url ?? runningUrl(c.dataDir)).replace(/\/+$/, '');
      if (!/^https?:\/\/[^/\s]+$/.test(base)) throw new CliError(`--url wants the scheme and host only, like https://kubetape.example.com, got "${base}"`);
      let link: string;
      if (c.console?.oidc) {
        link = `${base}/kubetape/ui/`;
        process.stdout.write(`Open the kubetape console and log in with ${c.console.oidc.issuer}:\n  ${link}\n`);
      } else {
        const ttl = c.console?.linkTtlSeconds ?? 300;
        const token = mintLoginLink(c.dataDir, { user: o.user ?? userInfo().username, groups: o.group ?? ['kubetape:local'] }, ttl);
        link = `${base}/kubetape/v1/login/link?token=${token}`;
        process.stdout.write(`Open this link within ${Math.round(ttl / 60) || 1} min to log in to the kubetape console (it works once):\n  ${link}\n`);
      }
      if (o.open && openBrowser(link)) process.stderr.write('kubetape: opened in your browser\n');
    });
}
