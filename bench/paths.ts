// Starts the three ways to the fake API server as child processes and
// describes each as a Target: the fake server itself (direct), the real
// `kubectl proxy`, and `kubetape serve` with recording on.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildSet } from './children.js';
import type { Target } from './load.js';
import { readKubeconfigAccess } from './kubeconfig-reader.js';
import { servingProcess } from './proc-stats.js';

const START_TIMEOUT_MS = 60_000;

export interface FakeApiServerStart {
  target: Target;
  kubeconfig: string;
  pid: number;
}

export interface SeedOptions {
  minor: string;
  namespace: string;
  configmaps: number;
  configmapBytes: number;
}

/** `node dist/test/fake-apiserver/main.js`, which prints one JSON line {url, kubeconfig, ca, token}. */
export async function startFakeApiServer(children: ChildSet, root: string, kubeconfigOut: string, seed: SeedOptions): Promise<FakeApiServerStart> {
  const main = join(root, 'dist/test/fake-apiserver/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: the fake API server runner has not been built (npm run build)`);
  const args = [
    main,
    '--minor',
    seed.minor,
    '--namespace',
    seed.namespace,
    '--kubeconfig',
    kubeconfigOut,
    '--seed-configmaps',
    String(seed.configmaps),
    '--configmap-bytes',
    String(seed.configmapBytes),
  ];
  // Patterns below end at a newline so a line still arriving is never matched half-way.
  const child = children.start('fake API server', process.execPath, args, { cwd: root, keepStdinOpen: true });
  const m = await child.waitForOutput(/^(\{.*\})\r?\n/m, START_TIMEOUT_MS);
  let info: { url?: unknown; kubeconfig?: unknown; ca?: unknown; token?: unknown };
  try {
    info = JSON.parse(m[1]) as typeof info;
  } catch {
    throw new Error(`fake API server printed a line that is not JSON: ${m[1]}`);
  }
  if (typeof info.url !== 'string') throw new Error(`fake API server printed no url: ${m[1]}`);
  const kubeconfig = typeof info.kubeconfig === 'string' ? info.kubeconfig : kubeconfigOut;
  const access = readKubeconfigAccess(kubeconfig);
  const token = typeof info.token === 'string' ? info.token : (access.token ?? 'admin-token');
  const target: Target = { key: 'direct', label: 'direct', url: new URL(info.url), token };
  const ca = typeof info.ca === 'string' ? info.ca : access.ca;
  if (ca) target.ca = ca;
  return { target, kubeconfig, pid: child.pid };
}

/** The real kubectl: `kubectl proxy --port=0`, plain http on 127.0.0.1, no auth. */
export async function startKubectlProxy(children: ChildSet, kubeconfig: string, cacheDir: string): Promise<Target> {
  const child = children.start('kubectl proxy', 'kubectl', ['proxy', '--port=0', '--address=127.0.0.1', '--kubeconfig', kubeconfig, '--cache-dir', cacheDir]);
  const m = await child.waitForOutput(/Starting to serve on (127\.0\.0\.1:\d+)\s/, START_TIMEOUT_MS);
  return { key: 'kubectlProxy', label: 'kubectl proxy', url: new URL(`http://${m[1]}`), pid: servingProcess(child.pid) };
}

/**
 * `bin/kubetape.js serve` run as an executable, as `./bin/kubetape.js serve` runs
 * it, so its shebang's Node flags (a small young generation) apply; token
 * and CA taken from the kubeconfig it writes.
 */
export async function startKubetapeServe(children: ChildSet, root: string, kubeconfig: string, dataDir: string): Promise<Target> {
  const args = ['serve', '--kubeconfig', kubeconfig, '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'];
  const child = children.start('kubetape serve', join(root, 'bin/kubetape.js'), args, { cwd: root });
  const kc = await child.waitForOutput(/^\s*kubeconfig +(\S+)\r?\n/m, START_TIMEOUT_MS);
  const listening = /^\s*listening on +(https:\/\/\S+)\r?\n/m.exec(child.stdout());
  if (!listening) throw new Error(`kubetape printed no "listening on https://..." line:\n${child.stdout()}`);
  const access = readKubeconfigAccess(kc[1]);
  if (!access.token) throw new Error(`kubetape's kubeconfig ${kc[1]} holds no token`);
  const caFile = join(dataDir, 'ca.crt');
  const ca = access.ca ?? (existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined);
  if (!ca) throw new Error(`kubetape's kubeconfig ${kc[1]} holds no CA and ${caFile} is missing`);
  return { key: 'kubetape', label: 'kubetape', url: new URL(listening[1]), ca, token: access.token, pid: child.pid };
}
