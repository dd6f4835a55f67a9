// `kubetape logout`: forget cached logins. By default the one the current
// kubeconfig context uses (read from its `kubetape credential` stanza);
// --context picks another, --issuer/--client-id name one directly, --all
// forgets every login.
import type { Command } from 'commander';
import { kubeconfigPaths, loadKubeconfig } from '../kubeconfig/load.js';
import { defaultCacheDir, TokenCache, type LoginKey } from '../login/token-cache.js';
import { expandHome } from '../config/config.js';
import { CliError } from './errors.js';

export interface LogoutFlags {
  all?: boolean;
  issuer?: string;
  clientId?: string;
  user?: string;
  context?: string;
  kubeconfig?: string;
  cacheDir?: string;
}

/** Value of `--flag VALUE` or `--flag=VALUE`. */
function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === name && i + 1 < args.length) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

/** The login a kubeconfig context's `kubetape credential` stanza uses, and its cache dir. */
export function loginOfContext(kubeconfig: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv): { key: LoginKey; cacheDir?: string; context: string } {
  const cfg = loadKubeconfig(kubeconfigPaths(kubeconfig, env));
  const name = context ?? cfg.currentContext;
  if (!name) throw new CliError('the kubeconfig has no current-context; name one with --context, or use --issuer/--client-id or --all');
  const ctx = cfg.contexts.get(name);
  if (!ctx) throw new CliError(`no context "${name}" in ${cfg.files.join(', ')}`);
  const exec = ctx.value.user ? cfg.users.get(ctx.value.user)?.value.exec : undefined;
  const args = exec?.args ?? [];
  const ci = args.indexOf('credential');
  const issuer = ci >= 0 ? flag(args, '--issuer') : undefined;
  const clientId = ci >= 0 ? flag(args, '--client-id') : undefined;
  if (!issuer || !clientId) throw new CliError(`context "${name}" does not log in with \`kubetape credential\`; use --issuer/--client-id or --all`);
  const cacheDir = flag(args, '--cache-dir');
  return { key: { issuer, clientId, user: flag(args, '--user') ?? '' }, ...(cacheDir ? { cacheDir } : {}), context: name };
}

export function runLogout(f: LogoutFlags, io: { env: NodeJS.ProcessEnv; stderr: { write(s: string): unknown } }): void {
  if (f.all && (f.issuer || f.clientId || f.context)) throw new CliError('--all forgets every login; do not combine it with --issuer, --client-id or --context');
  if (Boolean(f.issuer) !== Boolean(f.clientId)) throw new CliError('--issuer and --client-id go together');
  if (f.all) {
    const cache = new TokenCache(f.cacheDir ? expandHome(f.cacheDir) : defaultCacheDir());
    const n = cache.removeAll();
    io.stderr.write(`kubetape: forgot ${n} login${n === 1 ? '' : 's'} in ${cache.dir}\n`);
    return;
  }
  let key: LoginKey;
  let cacheDir = f.cacheDir;
  let what: string;
  if (f.issuer && f.clientId) {
    key = { issuer: f.issuer, clientId: f.clientId, user: f.user ?? '' };
    what = `${f.issuer} (client ${f.clientId}${key.user ? `, user ${key.user}` : ''})`;
  } else {
    const found = loginOfContext(f.kubeconfig, f.context, io.env);
    key = found.key;
    cacheDir ??= found.cacheDir;
    what = `context ${found.context}: ${key.issuer} (client ${key.clientId}${key.user ? `, user ${key.user}` : ''})`;
  }
  const cache = new TokenCache(cacheDir ? expandHome(cacheDir) : defaultCacheDir());
  const removed = cache.remove(key);
  io.stderr.write(removed ? `kubetape: logged out of ${what}\n` : `kubetape: no cached login for ${what}\n`);
}

export function registerLogoutCommand(program: Command): void {
  program
    .command('logout')
    .description("forget cached OIDC logins (default: the current kubeconfig context's)")
    .option('--all', 'forget every cached login')
    .option('--context <name>', 'the kubeconfig context whose login to forget')
    .option('--kubeconfig <file>', "kubeconfig to read (default: $KUBECONFIG, then ~/.kube/config)")
    .option('--issuer <url>', 'forget the login at this issuer (with --client-id)')
    .option('--client-id <id>', 'client id of that login')
    .option('--user <name>', 'the --user of that login, if one was given')
    .option('--cache-dir <dir>', 'token cache (default ~/.kube/cache/kubetape)')
    .action((f: LogoutFlags) => {
      try {
        runLogout(f, { env: process.env, stderr: process.stderr });
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError((err as Error).message);
      }
    });
}
