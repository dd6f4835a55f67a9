// The fake API server for bench/streams.ts, run as its own process:
//   node dist/bench/stream-cluster-main.js --kubeconfig OUT
// Like test/fake-apiserver/main.ts, plus a running pod (bench-0) whose exec
// runs real local processes (the server's default stream runtime). Prints
// one JSON line {"url","kubeconfig","ca","token"}; runs until SIGTERM/SIGINT
// or until stdin closes, and kills the processes it started on the way out.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startFakeApiServer } from '../test/fake-apiserver/server.js';
import { runningPod } from '../test/helpers/stream-upstream.js';

const BENCH_POD = 'bench-0';
const TOKEN = 'admin-token';

function kubeconfigYaml(server: string, ca: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fake',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${Buffer.from(ca).toString('base64')}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${TOKEN}`,
    'contexts:',
    '- name: fake',
    '  context:',
    '    cluster: fake',
    '    user: admin',
    '    namespace: default',
    'current-context: fake',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--kubeconfig');
  const out = i >= 0 ? process.argv[i + 1] : undefined;
  if (!out) {
    process.stderr.write('stream-cluster-main: --kubeconfig OUT is required\n');
    process.exitCode = 2;
    return;
  }
  const kubeconfig = resolve(out);
  const server = await startFakeApiServer({ minor: '32', recordRequests: false });
  server.objects.put(runningPod(BENCH_POD) as never);
  writeFileSync(kubeconfig, kubeconfigYaml(server.url, server.ca), { mode: 0o600 });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
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
  process.stdout.write(`${JSON.stringify({ url: server.url, kubeconfig, ca: server.ca, token: TOKEN })}\n`);
}

void main();
