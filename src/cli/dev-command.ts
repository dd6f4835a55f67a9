// `kubetape dev`: try kubetape without a cluster. kubetape runs in front of
// its built-in, in-memory Kubernetes API (src/devcluster/) until
// SIGINT/SIGTERM, and writes the kubeconfig that points kubectl at it.
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { resolveConfig, ConfigError, type ServeConfig } from '../config/config.js';
import { CliError } from './errors.js';

interface DevFlags {
  listen?: string;
  adminListen?: string;
  dataDir?: string;
  policy?: string;
  sessionIdle?: number;
}

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('try kubetape without a cluster: record kubectl in front of a built-in, in-memory Kubernetes API (not a cluster)')
    .option('--listen <host:port>', 'API listener (default 127.0.0.1:8443)')
    .option('--admin-listen <host:port>', 'health and metrics listener (default 127.0.0.1:9443)')
    .option('--data-dir <dir>', 'certificates, tokens, kubeconfig and recordings (default ~/.kubetape)')
    .option('--policy <file>', 'guardrail policy (YAML), as with serve')
    .option('--session-idle <seconds>', 'a kubectl session ends after this long without requests (default 30)', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new CliError(`--session-idle wants a non-negative number, got "${v}"`);
      return n;
    })
    .action(async (f: DevFlags) => {
      const config = buildConfig(f);
      // Loaded only here: every other command starts without the built-in API server's code.
      const { DEV_CLUSTER_NAME, DEV_GIT_VERSION, DEV_POD, startDevMode } = await import('../devcluster/dev-mode.js');
      let dev;
      try {
        dev = await startDevMode(config);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const say = (l: string) => process.stdout.write(l + '\n');
      const running = dev.kubetape;
      say(
        `kubetape dev: NOT A CLUSTER. kubetape is recording ${DEV_CLUSTER_NAME}, its built-in, in-memory Kubernetes API (${DEV_GIT_VERSION}), for trying it out.`,
      );
      say(
        `  exec runs real processes on this machine, as ${userInfo().username}, in a temporary directory per pod; everything but the recordings is gone when it stops.`,
      );
      say(`  listening on   ${running.url}`);
      say(`  admin          ${running.adminUrl}/healthz, /readyz, /metrics`);
      say(`  recordings in  ${config.dataDir}/recordings`);
      say(
        `  seeded         namespace ${DEV_POD.namespace}, pod ${DEV_POD.name}: kubectl get pods; kubectl logs -f ${DEV_POD.name}; kubectl exec -it ${DEV_POD.name} -- sh`,
      );
      say(`  kubeconfig     ${running.kubeconfigPath}\n\n  export KUBECONFIG=${running.kubeconfigPath}`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          say(`kubetape: ${sig}: closing sessions and stopping`);
          void dev.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

function buildConfig(f: DevFlags): ServeConfig {
  try {
    const flags: Partial<ServeConfig> = {};
    if (f.listen) flags.listen = f.listen;
    if (f.adminListen) flags.adminListen = f.adminListen;
    if (f.dataDir) flags.dataDir = f.dataDir;
    if (f.policy) flags.policyFile = f.policy;
    if (f.sessionIdle !== undefined) flags.recording = { sessionIdleSeconds: f.sessionIdle } as ServeConfig['recording'];
    return resolveConfig({}, flags);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message);
    throw e;
  }
}
