// `kubetape credential`: the kubectl exec-credential plugin for OIDC login.
// kubectl runs it (the stanza `kubeconfig rewrite --oidc-issuer` writes);
// it prints an ExecCredential holding the person's ID token.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { execCredential, parseExecInfo } from '../login/exec-credential.js';
import { getIdToken, type Grant } from '../login/credential.js';
import { defaultCacheDir } from '../login/token-cache.js';
import { expandHome } from '../config/config.js';
import { CliError } from './errors.js';

export interface CredentialFlags {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  user?: string;
  scope?: string[];
  certificateAuthority?: string;
  cacheDir?: string;
  grant?: string;
  listenPort?: number[];
  browser?: boolean;
  loginTimeout?: number;
}

function collect<T>(parse: (v: string) => T) {
  return (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`--listen-port wants a port number, got "${v}"`);
  return n;
}

export async function runCredential(
  f: CredentialFlags,
  io: { env: NodeJS.ProcessEnv; stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } },
): Promise<void> {
  const grant = (f.grant ?? 'auto') as Grant;
  if (!['auto', 'authcode', 'device'].includes(grant)) throw new CliError(`--grant must be auto, authcode or device, got "${f.grant}"`);
  let info;
  try {
    info = parseExecInfo(io.env['KUBERNETES_EXEC_INFO']);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  let ca: string | undefined;
  if (f.certificateAuthority) {
    try {
      ca = readFileSync(expandHome(f.certificateAuthority), 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --certificate-authority ${f.certificateAuthority} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  try {
    const t = await getIdToken({
      issuer: f.issuer,
      clientId: f.clientId,
      user: f.user ?? '',
      ...(f.clientSecret ? { clientSecret: f.clientSecret } : {}),
      scopes: f.scope ?? [],
      ...(ca ? { ca } : {}),
      cacheDir: f.cacheDir ? expandHome(f.cacheDir) : defaultCacheDir(),
      grant,
      ports: f.listenPort && f.listenPort.length > 0 ? f.listenPort : [8000, 18000],
      browser: f.browser !== false,
      loginTimeoutMs: (f.loginTimeout ?? 300) * 1000,
      say: (line) => io.stderr.write(line + '\n'),
    });
    io.stdout.write(execCredential(info.apiVersion, t.token, t.expiresAt));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message);
  }
}

export function registerCredentialCommand(program: Command): void {
  program
    .command('credential')
    .description('kubectl exec-credential plugin: log in with OIDC (browser or device code) and print an ExecCredential')
    .requiredOption('--issuer <url>', 'OIDC issuer URL')
    .requiredOption('--client-id <id>', 'OAuth client id (the audience kubetape accepts)')
    .option('--client-secret <secret>', 'client secret, for issuers that demand one of native clients')
    .option('--user <name>', 'keep a separate login per name (several accounts at one issuer)')
    .option('--scope <scope>', 'extra scope to ask for (repeatable); openid is always asked; add offline_access for refresh tokens', collect(String), [])
    .option('--certificate-authority <file>', "PEM bundle for the issuer's TLS certificate")
    .option('--cache-dir <dir>', 'token cache (default ~/.kube/cache/kubetape)')
    .option('--grant <grant>', 'auto (browser when one can open, else device code), authcode or device', 'auto')
    .option('--listen-port <port>', 'loopback port for the browser redirect, repeatable, tried in order (default 8000, then 18000; 0 = any)', collect(port), [])
    .option('--no-browser', 'do not start a browser; print the login URL')
    .option('--login-timeout <seconds>', 'give up on a login after this long (default 300)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new CliError(`--login-timeout wants seconds, got "${v}"`);
      return n;
    })
    .action(async (f: CredentialFlags) => runCredential(f, { env: process.env, stdout: process.stdout, stderr: process.stderr }));
}
