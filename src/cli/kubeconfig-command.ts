// `kubetape kubeconfig rewrite`: point contexts of a kubeconfig at kubetape.
import { readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseTokenFile } from '../authenticate/token-file.js';
import { kubeconfigPaths } from '../kubeconfig/load.js';
import { KubeconfigError } from '../kubeconfig/parse.js';
import { checkCaPem, checkProxyUrl, ProxyInputError } from '../kubeconfig/proxy-kubeconfig.js';
import { rewriteKubeconfig, RewriteError } from '../kubeconfig/rewrite.js';
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
  const input = flags.kubeconfig ?? kubeconfigPaths(undefined, io.env, io.home)[0]!;
  if (flags.out && !flags.inPlace && samePath(flags.out, input)) {
    throw new CliError(`--out ${flags.out} is the input kubeconfig; use --in-place to replace it (a backup is kept)`);
  }
  const dataDir = flags.dataDir ?? join(io.home, '.kubetape');
  const caFile = flags.ca ?? join(dataDir, 'ca.crt');
  const caPem = readText(caFile, 'CA file', flags.ca ? '' : ' (start `kubetape serve` once to create it, or pass --ca)');
  const token = flags.token ?? firstToken(dataDir);
  const text = readText(input, 'kubeconfig');

  let result;
  try {
    checkCaPem(caPem, caFile);
    result = rewriteKubeconfig(text, {
      proxyServer: proxy,
      caPem,
      token,
      contexts,
      all: Boolean(flags.all),
      source: input,
    });
  } catch (err) {
    if (err instanceof RewriteError || err instanceof KubeconfigError || err instanceof ProxyInputError || err instanceof TemplateError) {
      throw new CliError(err.message.split('\n')[0]!);
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
    .action((_opts: unknown, cmd: Command) => {
      // main may declare --data-dir on the program itself; this command's own flags win.
      const flags = cmd.opts<RewriteFlags>();
      const dataDir = flags.dataDir ?? cmd.optsWithGlobals<RewriteFlags>().dataDir;
      if (dataDir !== undefined) flags.dataDir = dataDir;
      runKubeconfigRewrite(flags, { env: process.env, home: homedir(), stdout: process.stdout, stderr: process.stderr });
    });
}
