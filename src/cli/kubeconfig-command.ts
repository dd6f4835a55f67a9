// `kubetape kubeconfig rewrite`: point contexts of a kubeconfig at kubetape.
import { readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseTokenFile } from '../authenticate/token-file.js';
import { kubeconfigPaths } from '../kubeconfig/load.js';
import { KubeconfigError } from '../kubeconfig/parse.js';
import { checkCaPem, checkProxyUrl, ProxyInputError } from '../kubeconfig/proxy-kubeconfig.js';
import { rewriteKubeconfig, RewriteError, type OidcLogin } from '../kubeconfig/rewrite.js';
import { TemplateError } from '../kubeconfig/templates.js';
import { backupFile, writeFileAtomic } from '../kubeconfig/write-file.js';
import { CliError } from './errors.js';

export const DEFAULT_PROXY_URL = 'https://127.0.0.1:8443';

export interface RewriteFlags {
  kubeconfig?: string;
  context?: string[];
  all?: boolean;
  proxy?: string;
  dataDir?: string;
  ca?: string;
  token?: string;
  out?: string;
  inPlace?: boolean;
  clusters?: boolean;
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcExtraScope?: string[];
  oidcCaFile?: string;
  oidcArg?: string[];
  execCommand?: string;
}

/** Where the command reads defaults from and writes to; tests pass their own. */
export interface RewriteIo {
  env: NodeJS.ProcessEnv;
  home: string;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  now?: () => Date;
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
}

function readText(path: string, what: string, hint = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = errCode(err);
    throw new CliError(code === 'ENOENT' ? `${what} ${path} not found${hint}` : `cannot read ${what} ${path} (${code})`);
  }
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
}

function firstToken(dataDir: string): string {
  const file = join(dataDir, 'tokens.csv');
  const text = readText(file, 'token file', ' (start `kubetape serve` once to create it, or pass --token)');
  let first: string | undefined;
  try {
    first = parseTokenFile(text, file)[0]?.token;
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (!first) throw new CliError(`${file} holds no tokens; add one or pass --token`);
  return first;
}

/** The whole command, minus argument parsing. Throws CliError with a one-line message. */
export function runKubeconfigRewrite(flags: RewriteFlags, io: RewriteIo): void {
  const contexts = flags.context ?? [];
  if (flags.all && contexts.length > 0) throw new CliError('--all and --context cannot be used together');
  if (flags.out && flags.inPlace) throw new CliError('--out and --in-place cannot be used together');
  const proxy = flags.proxy ?? DEFAULT_PROXY_URL;
  try {
    checkProxyUrl(proxy);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const input = flags.kubeconfig ?? kubeconfigPaths(undefined, io.env, io.home)[0];
  if (flags.out && !flags.inPlace && samePath(flags.out, input)) {
    throw new CliError(`--out ${flags.out} is the input kubeconfig; use --in-place to replace it (a backup is kept)`);
  }
  const dataDir = flags.dataDir ?? join(io.home, '.kubetape');
  const caFile = flags.ca ?? join(dataDir, 'ca.crt');
  const caPem = readText(caFile, 'CA file', flags.ca ? '' : ' (start `kubetape serve` once to create it, or pass --ca)');
  if (Boolean(flags.oidcIssuer) !== Boolean(flags.oidcClientId)) throw new CliError('--oidc-issuer and --oidc-client-id go together');
  if (flags.oidcIssuer && flags.token) throw new CliError('--token and --oidc-issuer are two ways to log in: choose one');
  let oidc: OidcLogin | undefined;
  if (flags.oidcIssuer && flags.oidcClientId) {
    try {
      const u = new URL(flags.oidcIssuer);
      if (u.protocol !== 'https:' && u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error('not https');
    } catch {
      throw new CliError(`--oidc-issuer must be an https URL, got "${flags.oidcIssuer}"`);
    }
    const extraArgs: string[] = [];
    for (const scope of flags.oidcExtraScope ?? []) extraArgs.push('--scope', scope);
    if (flags.oidcCaFile) extraArgs.push('--certificate-authority', resolve(flags.oidcCaFile));
    extraArgs.push(...(flags.oidcArg ?? []));
    oidc = { issuer: flags.oidcIssuer, clientId: flags.oidcClientId, command: flags.execCommand ?? 'kubetape', extraArgs };
  }
  const token = oidc ? undefined : (flags.token ?? firstToken(dataDir));
  const text = readText(input, 'kubeconfig');

  let result;
  try {
    checkCaPem(caPem, caFile);
    result = rewriteKubeconfig(text, {
      proxyServer: proxy,
      caPem,
      ...(token ? { token } : {}),
      ...(oidc ? { oidc } : {}),
      clusterPaths: Boolean(flags.clusters),
      contexts,
      all: Boolean(flags.all),
      source: input,
    });
  } catch (err) {
    if (err instanceof RewriteError || err instanceof KubeconfigError || err instanceof ProxyInputError || err instanceof TemplateError) {
      throw new CliError(err.message.split('\n')[0]);
    }
    throw err;
  }

  const names = result.rewritten.map((r) => r.context).join(', ');
  if (flags.inPlace) {
    let backup: string;
    try {
      backup = backupFile(input, io.now?.() ?? new Date());
      writeFileAtomic(input, result.yaml);
    } catch (err) {
      throw new CliError(`cannot replace ${input} (${errCode(err)})`);
    }
    io.stderr.write(`kubetape: rewrote ${names} in ${input} (backup: ${backup})\n`);
  } else if (flags.out) {
    try {
      writeFileAtomic(flags.out, result.yaml);
    } catch (err) {
      throw new CliError(`cannot write ${flags.out} (${errCode(err)})`);
    }
    io.stderr.write(`kubetape: rewrote ${names} into ${flags.out}\n`);
  } else {
    io.stdout.write(result.yaml);
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerKubeconfigCommand(program: Command): void {
  const kubeconfig = program.command('kubeconfig').description('kubeconfigs that point kubectl at kubetape');
  kubeconfig
    .command('rewrite')
    .description('point contexts of a kubeconfig at the kubetape proxy (cluster and user replaced; names and namespaces kept)')
    .option('--kubeconfig <file>', "kubeconfig to read (default: $KUBECONFIG's first file, else ~/.kube/config)")
    .option('--context <name>', 'context to rewrite; repeatable (default: current-context)', collect, [])
    .option('--all', 'rewrite every context')
    .option('--proxy <url>', 'https URL of the kubetape proxy', DEFAULT_PROXY_URL)
    .option('--data-dir <dir>', 'kubetape data directory (default: ~/.kubetape)')
    .option('--ca <file>', "PEM CA of the proxy's serving certificate (default: DATA/ca.crt)")
    .option('--token <token>', 'kubetape bearer token (default: the first token in DATA/tokens.csv)')
    .option('--out <file>', 'write here (mode 0600) instead of stdout')
    .option('--in-place', 'replace the input file, after writing FILE.kubetape-backup-<timestamp>')
    .option('--clusters', 'kubetape serves several clusters: point each context at PROXY/clusters/<context name>')
    .option('--oidc-issuer <url>', 'people log in with OIDC: the user stanza runs `kubetape credential` for this issuer (instead of a token)')
    .option('--oidc-client-id <id>', 'OAuth client id for --oidc-issuer')
    .option('--oidc-extra-scope <scope>', 'scope the login asks for besides openid (repeatable), e.g. groups, offline_access', collect, [])
    .option('--oidc-ca-file <file>', "PEM bundle for the issuer's TLS certificate, passed to the plugin")
    .option('--oidc-arg <arg>', 'further argument for `kubetape credential` (repeatable), e.g. --oidc-arg=--grant=device', collect, [])
    .option('--exec-command <command>', 'the command kubectl runs for the plugin (default kubetape)')
    .action((_opts: unknown, cmd: Command) => {
      // main may declare --data-dir on the program itself; this command's own flags win.
      const flags = cmd.opts<RewriteFlags>();
      const dataDir = flags.dataDir ?? cmd.optsWithGlobals<RewriteFlags>().dataDir;
      if (dataDir !== undefined) flags.dataDir = dataDir;
      runKubeconfigRewrite(flags, { env: process.env, home: homedir(), stdout: process.stdout, stderr: process.stderr });
    });
}
