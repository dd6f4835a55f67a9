// Standalone runner (the benchmark uses it):
//   node dist/test/fake-apiserver/main.js [--minor 32] [--kubeconfig OUT]
//        [--seed-configmaps N --configmap-bytes B] [--namespace NS]
// Prints one JSON line {"url","kubeconfig","ca","token"} and runs until
// SIGTERM/SIGINT or until stdin closes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFakeApiServer } from './server.js';

interface Args {
  minor: string;
  kubeconfig?: string;
  seedConfigMaps: number;
  configMapBytes: number;
  namespace: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { minor: '32', seedConfigMaps: 0, configMapBytes: 10240, namespace: 'default' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const count = (): number => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: not a non-negative integer: ${raw}`);
      return n;
    };
    switch (flag) {
      case '--minor':
        a.minor = value();
        break;
      case '--kubeconfig':
        a.kubeconfig = resolve(value());
        break;
      case '--seed-configmaps':
        a.seedConfigMaps = count();
        break;
      case '--configmap-bytes':
        a.configMapBytes = count();
        break;
      case '--namespace':
        a.namespace = value();
        break;
      default:
        throw new Error(`unknown argument: ${flag}`);
    }
  }
  return a;
}

function kubeconfigYaml(server: string, ca: string, token: string, namespace: string): string {
  const caData = Buffer.from(ca).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fake',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${caData}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: fake',
    '  context:',
    '    cluster: fake',
    '    user: admin',
    `    namespace: ${namespace}`,
    'current-context: fake',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`fake-apiserver: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const token = 'admin-token';
  const server = await startFakeApiServer({ minor: args.minor, recordRequests: false });
  if (args.seedConfigMaps > 0) server.objects.seedConfigMaps(args.namespace, args.seedConfigMaps, args.configMapBytes);
  const ownDir = args.kubeconfig ? undefined : mkdtempSync(join(tmpdir(), 'fake-apiserver-'));
  const kubeconfig = args.kubeconfig ?? join(ownDir as string, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(server.url, server.ca, token, args.namespace), { mode: 0o600 });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  // Announce only once the signal handlers are in place.
  process.stdout.write(`${JSON.stringify({ url: server.url, kubeconfig, ca: server.ca, token })}\n`);
}

void main();
