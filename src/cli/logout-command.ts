// `kubetape logout`: forget cached logins. By default the one the current
// kubeconfig context uses (read from its `kubetape credential` stanza);
// --context picks another, --issuer/--client-id name one directly, --all
// forgets every login. A cached refresh token is revoked at the issuer first
// (RFC 7009) unless --no-revoke; the local copy is forgotten either way.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { kubeconfigPaths, loadKubeconfig } from '../kubeconfig/load.js';
import { defaultCacheDir, TokenCache, type CachedTokens, type LoginKey } from '../login/token-cache.js';
import { describeRevocation, revokeLogin } from '../login/revoke.js';
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
  clientSecret?: string;
  certificateAuthority?: string;
  /** commander's negation of --no-revoke. */
  revoke?: boolean;
}

/** Value of `--flag VALUE` or `--flag=VALUE`. */
function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === name && i + 1 < args.length) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

/** The login a kubeconfig context's `kubetape credential` stanza uses, and its cache dir. */
export function loginOfContext(
  kubeconfig: string | undefined,
  context: string | undefined,
  env: NodeJS.ProcessEnv,
): { key: LoginKey; cacheDir?: string; clientSecret?: string; caFile?: string; context: string } {
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
  const clientSecret = flag(args, '--client-secret');
  const caFile = flag(args, '--certificate-authority');
  return {
    key: { issuer, clientId, user: flag(args, '--user') ?? '' },
    ...(cacheDir ? { cacheDir } : {}),
    ...(clientSecret ? { clientSecret } : {}),
    ...(caFile ? { caFile } : {}),
    context: name,
  };
}

export async function runLogout(f: LogoutFlags, io: { env: NodeJS.ProcessEnv; stderr: { write(s: string): unknown } }): Promise<void> {
  if (f.all && (f.issuer || f.clientId || f.context))
    throw new CliError('--all forgets every login; do not combine it with --issuer, --client-id or --context');
  if (Boolean(f.issuer) !== Boolean(f.clientId)) throw new CliError('--issuer and --client-id go together');
  const revoke = f.revoke !== false;
  if (f.all) {
    const cache = new TokenCache(f.cacheDir ? expandHome(f.cacheDir) : defaultCacheDir());
    if (revoke) {
      for (const entry of cache.list()) {
        const r = await revokeLogin(entry, f.clientSecret ? { clientSecret: f.clientSecret } : {});
        if (r.kind === 'failed' || r.kind === 'unsupported')
          io.stderr.write(`kubetape: ${entry.issuer} (client ${entry.clientId})${describeRevocation(r, entry.issuer)}\n`);
      }
    }
    const n = cache.removeAll();
    io.stderr.write(`kubetape: forgot ${n} login${n === 1 ? '' : 's'} in ${cache.dir}\n`);
    return;
  }
  let key: LoginKey;
  let cacheDir = f.cacheDir;
  let clientSecret = f.clientSecret;
  let caFile = f.certificateAuthority;
  let what: string;
  if (f.issuer && f.clientId) {
    key = { issuer: f.issuer, clientId: f.clientId, user: f.user ?? '' };
    what = `${f.issuer} (client ${f.clientId}${key.user ? `, user ${key.user}` : ''})`;
  } else {
    const found = loginOfContext(f.kubeconfig, f.context, io.env);
    key = found.key;
    cacheDir ??= found.cacheDir;
    clientSecret ??= found.clientSecret;
    caFile ??= found.caFile;
    what = `context ${found.context}: ${key.issuer} (client ${key.clientId}${key.user ? `, user ${key.user}` : ''})`;
  }
  const cache = new TokenCache(cacheDir ? expandHome(cacheDir) : defaultCacheDir());
  const entry = cache.read(key);
  let revoked = '';
  if (entry && revoke) revoked = describeRevocation(await revokeLogin(withCa(entry, caFile), clientSecret ? { clientSecret } : {}), key.issuer);
  const removed = cache.remove(key);
  io.stderr.write(removed ? `kubetape: logged out of ${what}${revoked}\n` : `kubetape: no cached login for ${what}\n`);
}

/** Logins cached before the CA was kept in the entry: trust the file the stanza or flag names. */
function withCa(entry: CachedTokens, caFile: string | undefined): CachedTokens {
  if (entry.ca || !caFile) return entry;
  try {
    return { ...entry, ca: readFileSync(expandHome(caFile), 'utf8') };
  } catch (err) {
    throw new CliError(`cannot read the issuer CA ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function registerLogoutCommand(program: Command): void {
  program
    .command('logout')
    .description("forget cached OIDC logins (default: the current kubeconfig context's)")
    .option('--all', 'forget every cached login')
    .option('--context <name>', 'the kubeconfig context whose login to forget')
    .option('--kubeconfig <file>', 'kubeconfig to read (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--issuer <url>', 'forget the login at this issuer (with --client-id)')
    .option('--client-id <id>', 'client id of that login')
    .option('--user <name>', 'the --user of that login, if one was given')
    .option('--cache-dir <dir>', 'token cache (default ~/.kube/cache/kubetape)')
    .option('--client-secret <secret>', 'client secret, for issuers that authenticate clients at revocation')
    .option('--certificate-authority <file>', "PEM bundle for the issuer's TLS certificate (logins cached by this kubetape keep their own)")
    .option('--no-revoke', 'only forget the local copy; do not revoke the refresh token at the issuer')
    .action(async (f: LogoutFlags) => {
      try {
        await runLogout(f, { env: process.env, stderr: process.stderr });
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError((err as Error).message);
      }
    });
}
