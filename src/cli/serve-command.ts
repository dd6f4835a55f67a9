// `kubetape serve`: run the proxy until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { parseHostPort, readConfigFile, resolveConfig, ConfigError, type ServeConfig } from '../config/config.js';
import { KubeconfigError } from '../kubeconfig/load.js';
import { CliError } from './errors.js';

interface ServeFlags {
  config?: string;
  listen?: string;
  adminListen?: string;
  dataDir?: string;
  kubeconfig?: string;
  context?: string;
  clusterName?: string;
  tlsCert?: string;
  tlsKey?: string;
  tokenFile?: string;
  upstreamTimeout?: number;
  maxBodyBytes?: number;
  maxStreamBytes?: number;
  sessionIdle?: number;
  failMode?: 'open' | 'closed';
  policy?: string;
}

const num = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`${flag} wants a non-negative number, got "${v}"`);
  return n;
};

/** A bad value given as a flag is named by the flag, not by the config key it sets. */
const hostPort = (flag: string) => (v: string) => {
  try {
    parseHostPort(v, flag);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  return v;
};

const failMode = (v: string): 'open' | 'closed' => {
  if (v !== 'closed' && v !== 'open') throw new CliError(`--fail-mode must be "closed" or "open", got ${JSON.stringify(v)}`);
  return v;
};

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the recording proxy (one cluster from a kubeconfig, or the clusters in --config)')
    .option('--config <file>', 'YAML config file; flags override its keys')
    .option('--listen <host:port>', 'API listener (default 127.0.0.1:8443)', hostPort('--listen'))
    .option('--admin-listen <host:port>', 'health and metrics listener (default 127.0.0.1:9443)', hostPort('--admin-listen'))
    .option('--data-dir <dir>', 'certificates, tokens, kubeconfig and recordings (default ~/.kubetape)')
    .option('--kubeconfig <file>', 'kubeconfig of the upstream cluster (default $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'upstream context (default: current-context)')
    .option('--cluster-name <name>', 'name recordings carry for the upstream (default: the context name)')
    .option('--tls-cert <file>', 'serving certificate (PEM, chain included); default: generated into the data dir')
    .option('--tls-key <file>', 'key of --tls-cert')
    .option('--token-file <file>', 'bearer tokens, kube-apiserver format token,user,uid,"groups" (default DATA/tokens.csv, made for you)')
    .option('--upstream-timeout <seconds>', 'wait this long for upstream response headers (default 60)', num('--upstream-timeout'))
    .option('--max-body-bytes <n>', 'bytes of each body kept in the recording (default 1048576)', num('--max-body-bytes'))
    .option('--max-stream-bytes <n>', 'bytes of each watch or log stream kept (default 67108864)', num('--max-stream-bytes'))
    .option('--session-idle <seconds>', 'a kubectl session ends after this long without requests (default 30)', num('--session-idle'))
    .option('--fail-mode <mode>', 'closed: refuse what cannot be recorded (default); open: forward anyway', failMode)
    .option('--policy <file>', 'guardrail policy (YAML), reloaded when it changes; see "Guardrails" in the README')
    .action(async (f: ServeFlags) => {
      const config = buildConfig(f);
      let running;
      try {
        // Loaded here, not at the top: the data path is most of the CLI's start-up (about 1 s of
        // CPU), and every other command (sessions, verify, --help) runs without it.
        const { startKubetape } = await import('../listen/start.js');
        running = await startKubetape(config);
      } catch (e) {
        if (e instanceof KubeconfigError || e instanceof ConfigError) throw new CliError(e.message);
        throw new CliError((e as Error).message);
      }
      const say = (l: string) => process.stdout.write(l + '\n');
      say(`kubetape is recording ${running.upstream.name} (${running.upstream.server.origin})`);
      say(`  listening on   ${running.url}`);
      say(`  admin          ${running.adminUrl}/healthz, /readyz, /metrics`);
      const rec = config.recording as { store?: string; table?: string; bucket?: string; prefix?: string };
      say(
        rec.store === 'aws'
          ? `  recordings in  DynamoDB table ${rec.table ?? 'kubetape-sessions'}, s3://${rec.bucket}/${rec.prefix ?? 'recordings/'} (spool in ${config.dataDir})`
          : `  recordings in  ${config.dataDir}/recordings`,
      );
      if (running.localToken) say(`  kubeconfig     ${running.kubeconfigPath}\n\n  export KUBECONFIG=${running.kubeconfigPath}`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          say(`kubetape: ${sig}: closing sessions and stopping`);
          void running.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

function buildConfig(f: ServeFlags): ServeConfig {
  try {
    const file = f.config ? readConfigFile(f.config) : {};
    const flags: Partial<ServeConfig> = {};
    if (f.listen) flags.listen = f.listen;
    if (f.adminListen) flags.adminListen = f.adminListen;
    if (f.dataDir) flags.dataDir = f.dataDir;
    if (f.kubeconfig) flags.kubeconfig = f.kubeconfig;
    if (f.context) flags.context = f.context;
    if (f.clusterName) flags.clusterName = f.clusterName;
    if (f.tlsCert) flags.tlsCert = f.tlsCert;
    if (f.tlsKey) flags.tlsKey = f.tlsKey;
    if (f.tokenFile) flags.tokenFile = f.tokenFile;
    if (f.policy) flags.policyFile = f.policy;
    if (f.upstreamTimeout !== undefined) flags.upstreamTimeoutSeconds = f.upstreamTimeout;
    const rec: Partial<ServeConfig['recording']> = {};
    if (f.maxBodyBytes !== undefined) rec.maxBodyBytes = f.maxBodyBytes;
    if (f.maxStreamBytes !== undefined) rec.maxStreamBytes = f.maxStreamBytes;
    if (f.sessionIdle !== undefined) rec.sessionIdleSeconds = f.sessionIdle;
    if (f.failMode !== undefined) rec.failMode = f.failMode;
    flags.recording = rec as ServeConfig['recording'];
    return resolveConfig(file, flags);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message);
    throw e;
  }
}
