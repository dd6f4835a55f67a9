// Finding and merging kubeconfig files the way kubectl does, so
// `kubetape serve` talks to the same cluster `kubectl` would.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { KubeconfigError, parseKubeconfigText } from './parse.js';
import type { ClusterConfig, ContextConfig, Kubeconfig, KubeconfigFile, Located, UserConfig } from './types.js';

export { KubeconfigError } from './parse.js';

/** No kubeconfig file exists at all (a machine without a cluster): callers may say what to do next. */
export class KubeconfigNotFoundError extends KubeconfigError {
  override name = 'KubeconfigNotFoundError';
}
export { resolveUpstream } from './resolve-upstream.js';
export type { UpstreamCluster, UpstreamCredentialConfig } from './resolve-upstream.js';

/**
 * Kubeconfig files in precedence order: the explicit file alone; else every
 * entry of $KUBECONFIG (split on ':' — ';' on Windows — empties dropped,
 * duplicates dropped like client-go); else ~/.kube/config.
 */
export function kubeconfigPaths(explicit?: string, env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string[] {
  if (explicit) return [explicit];
  const list = env.KUBECONFIG;
  if (list) {
    const seen = new Set<string>();
    const paths: string[] = [];
    for (const p of list.split(delimiter)) {
      if (p === '' || seen.has(p)) continue;
      seen.add(p);
      paths.push(p);
    }
    if (paths.length > 0) return paths;
  }
  return [join(home, '.kube', 'config')];
}

function resolveAgainst(base: string, p: string | undefined): string | undefined {
  if (p === undefined || p === '' || isAbsolute(p)) return p;
  return resolve(base, p);
}

/** kubectl resolves file references relative to the kubeconfig that holds them; do it before merging. */
function resolveLocalPaths(cfg: KubeconfigFile, file: string): void {
  const base = dirname(resolve(file));
  for (const { cluster } of cfg.clusters ?? []) {
    cluster['certificate-authority'] = resolveAgainst(base, cluster['certificate-authority']);
  }
  for (const { user } of cfg.users ?? []) {
    user['client-certificate'] = resolveAgainst(base, user['client-certificate']);
    user['client-key'] = resolveAgainst(base, user['client-key']);
    user.tokenFile = resolveAgainst(base, user.tokenFile);
    // A bare command name is looked up in PATH; only a command with a path separator is a file reference.
    if (user.exec && user.exec.command.includes(sep)) user.exec.command = resolve(base, user.exec.command);
  }
}

function readKubeconfigFile(file: string): KubeconfigFile | 'missing' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'EISDIR') throw new KubeconfigError(`${file}: is a directory, not a kubeconfig file`);
    throw new KubeconfigError(`${file}: cannot read kubeconfig (${code ?? (err as Error).message})`);
  }
  const cfg = parseKubeconfigText(text, file);
  resolveLocalPaths(cfg, file);
  return cfg;
}

function mergeInto<T>(target: Map<string, Located<T>>, entries: Array<{ name: string; value: T }>, file: string): void {
  for (const { name, value } of entries) if (!target.has(name)) target.set(name, { name, value, file });
}

/**
 * Read and merge kubeconfig files: the first file to name a cluster, user or
 * context wins, as does the first current-context. A missing file is skipped
 * when it is one of several (as kubectl does for $KUBECONFIG lists); a single
 * missing file, or all of them missing, is an error.
 */
export function loadKubeconfig(paths: string[]): Kubeconfig {
  if (paths.length === 0) throw new KubeconfigError('no kubeconfig file given');
  const merged: Kubeconfig = { clusters: new Map(), users: new Map(), contexts: new Map(), files: [] };
  const missing: string[] = [];
  for (const file of paths) {
    const cfg = readKubeconfigFile(file);
    if (cfg === 'missing') {
      missing.push(file);
      continue;
    }
    merged.files.push(file);
    if (merged.currentContext === undefined && cfg['current-context']) merged.currentContext = cfg['current-context'];
    mergeInto<ClusterConfig>(
      merged.clusters,
      (cfg.clusters ?? []).map((e) => ({ name: e.name, value: e.cluster })),
      file,
    );
    mergeInto<UserConfig>(
      merged.users,
      (cfg.users ?? []).map((e) => ({ name: e.name, value: e.user })),
      file,
    );
    mergeInto<ContextConfig>(
      merged.contexts,
      (cfg.contexts ?? []).map((e) => ({ name: e.name, value: e.context })),
      file,
    );
  }
  if (merged.files.length === 0) {
    throw new KubeconfigNotFoundError(
      paths.length === 1 ? `${paths[0]}: kubeconfig file not found` : `no kubeconfig found: none of ${missing.join(', ')} exists`,
    );
  }
  return merged;
}
