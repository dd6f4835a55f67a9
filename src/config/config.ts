// kubetape's configuration: defaults, then the YAML file (--config), then
// command-line flags, each overriding the one before. Every flag has a key
// here; the README documents them in this order.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from '../model/config-error.js';
import { RECORDING_STORE_KEYS, validateRecordingStore, type RecordingConfig } from '../store/settings.js';
import { parseAuthentication, type AuthenticationConfig } from './authentication.js';
import { parseConsoleConfig, type ConsoleConfig } from './console.js';
import { parsePolicyObject } from '../authorize/policy/load.js';
import type { Policy } from '../authorize/policy/types.js';
import { parseClustersConfig, type AwsConfig, type ClusterSpec } from '../clusters/config.js';

export interface ServeConfig {
  /** host:port of the API listener (default 127.0.0.1:8443). */
  listen: string;
  /** host:port of the health/metrics listener (default 127.0.0.1:9443). */
  adminListen: string;
  dataDir: string;
  /** Upstream kubeconfig (default $KUBECONFIG, then ~/.kube/config). */
  kubeconfig?: string;
  /** Upstream context (default: current-context). */
  context?: string;
  /** Name recordings carry for the upstream (default: the context name). */
  clusterName?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Token file (kube-apiserver format). Default: DATA/tokens.csv, created with one token for the OS user. Same as authentication.tokenFile. */
  tokenFile?: string;
  /** How callers prove who they are: OIDC issuers and/or a token file. */
  authentication?: AuthenticationConfig;
  /** Many clusters at /clusters/NAME (EKS with per-person roles, others with impersonation). Without it: the one kubeconfig upstream at /. */
  clusters?: ClusterSpec[];
  /** AWS calls for EKS clusters (STS, DescribeCluster). */
  aws?: AwsConfig;
  /** Seconds to wait for upstream response headers on non-streaming requests (default 60). */
  upstreamTimeoutSeconds: number;
  /** Largest request body accepted, in bytes (default 8 MiB; the API server itself stops at 3 MiB). */
  maxRequestBodyBytes: number;
  recording: RecordingConfig;
  /** Guardrails written inline (validated at load; fixed until restart). */
  policy?: Policy;
  /** Guardrails in their own YAML file, reloaded when it changes (same as --policy). */
  policyFile?: string;
  /** The sessions API and web console: who sees every session, browser login. */
  console?: ConsoleConfig;
}

export const DEFAULTS: ServeConfig = {
  listen: '127.0.0.1:8443',
  adminListen: '127.0.0.1:9443',
  dataDir: join(homedir(), '.kubetape'),
  upstreamTimeoutSeconds: 60,
  maxRequestBodyBytes: 8 * 1024 * 1024,
  recording: { maxBodyBytes: 1024 * 1024, maxStreamBytes: 64 * 1024 * 1024, sessionIdleSeconds: 30, failMode: 'closed' },
};

export { ConfigError } from '../model/config-error.js';

const TOP_KEYS = new Set([
  'listen',
  'adminListen',
  'dataDir',
  'kubeconfig',
  'context',
  'clusterName',
  'tlsCert',
  'tlsKey',
  'tokenFile',
  'upstreamTimeoutSeconds',
  'maxRequestBodyBytes',
  'recording',
  'authentication',
  'clusters',
  'aws',
  'policy',
  'policyFile',
  'console',
]);
const RECORDING_KEYS = new Set([
  'maxBodyBytes',
  'maxStreamBytes',
  'maxStreamEvents',
  'diskReserveBytes',
  'userDailyBytes',
  'sessionIdleSeconds',
  'failMode',
  ...RECORDING_STORE_KEYS,
]);

/** Read a YAML config file; unknown keys are errors (a typo must not silently weaken recording). */
export function readConfigFile(path: string): Partial<ServeConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    // The parser's message ends "at line 2, column 1:" and a code frame: one line, file:line:column first.
    const where = e instanceof YAMLParseError && e.linePos ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    const message = (e as Error).message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`config ${path}${where}: ${message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config ${path}: expected a mapping at the top level`);
  const obj = doc as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!TOP_KEYS.has(k)) throw new ConfigError(`config ${path}: unknown key "${k}"`);
  const rec = obj['recording'];
  if (rec !== undefined) {
    if (typeof rec !== 'object' || rec === null) throw new ConfigError(`config ${path}: "recording" must be a mapping`);
    for (const k of Object.keys(rec)) if (!RECORDING_KEYS.has(k)) throw new ConfigError(`config ${path}: unknown key "recording.${k}"`);
  }
  // Relative paths in a config file are relative to the file, like kubeconfig paths.
  const base = resolve(path, '..');
  for (const k of ['dataDir', 'kubeconfig', 'tlsCert', 'tlsKey', 'tokenFile', 'policyFile'] as const) {
    const v = obj[k];
    if (typeof v === 'string') obj[k] = resolve(base, expandHome(v));
  }
  const atBase = (p: string) => resolve(base, expandHome(p));
  for (const k of ['checkpointKeyFile', 'checkpointAnchorFile']) {
    if (typeof (rec as Record<string, unknown> | undefined)?.[k] === 'string') (rec as Record<string, unknown>)[k] = atBase((rec as Record<string, string>)[k]);
  }
  try {
    if (obj['authentication'] !== undefined) obj['authentication'] = parseAuthentication(obj['authentication'], atBase);
    if (obj['clusters'] !== undefined) {
      const parsed = parseClustersConfig(obj['clusters'], obj['aws'], atBase);
      obj['clusters'] = parsed.clusters;
      if (parsed.aws) obj['aws'] = parsed.aws;
      else delete obj['aws'];
    } else if (obj['aws'] !== undefined) throw new ConfigError('"aws" configures the EKS clusters under "clusters", and there are none');
    if (obj['policy'] !== undefined) obj['policy'] = parsePolicyObject(obj['policy'], 'policy');
    if (obj['console'] !== undefined) obj['console'] = parseConsoleConfig(obj['console'], atBase);
  } catch (e) {
    throw new ConfigError(`config ${path}: ${(e as Error).message}`);
  }
  return obj;
}

export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** Merge layers and validate the result. */
export function resolveConfig(file: Partial<ServeConfig>, flags: Partial<ServeConfig>): ServeConfig {
  const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  const c: ServeConfig = {
    ...DEFAULTS,
    ...defined(file),
    ...defined(flags),
    recording: { ...DEFAULTS.recording, ...defined(file.recording ?? {}), ...defined(flags.recording ?? {}) },
  };
  c.dataDir = resolve(expandHome(c.dataDir));
  parseHostPort(c.listen, 'listen');
  parseHostPort(c.adminListen, 'adminListen');
  for (const [k, v] of [
    ['upstreamTimeoutSeconds', c.upstreamTimeoutSeconds],
    ['maxRequestBodyBytes', c.maxRequestBodyBytes],
    ['recording.maxBodyBytes', c.recording.maxBodyBytes],
    ['recording.maxStreamBytes', c.recording.maxStreamBytes],
    ['recording.sessionIdleSeconds', c.recording.sessionIdleSeconds],
  ] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${k} must be a non-negative number, got ${JSON.stringify(v)}`);
  }
  if (c.recording.failMode !== 'closed' && c.recording.failMode !== 'open') {
    throw new ConfigError(`recording.failMode must be "closed" or "open", got ${JSON.stringify(c.recording.failMode)}`);
  }
  for (const k of ['maxStreamEvents', 'diskReserveBytes', 'userDailyBytes'] as const) {
    const v = c.recording[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (k === 'maxStreamEvents' ? 1 : 0))) {
      throw new ConfigError(`recording.${k} must be a whole number${k === 'maxStreamEvents' ? ' from 1' : ' (0: no limit)'}, got ${JSON.stringify(v)}`);
    }
  }
  validateRecordingStore(c.recording);
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) throw new ConfigError('tlsCert and tlsKey go together: give both or neither');
  if (c.policy && c.policyFile) throw new ConfigError('policy (inline) and policyFile (--policy) both give a policy: give one');
  if (c.tokenFile && c.authentication?.tokenFile && resolve(c.tokenFile) !== resolve(c.authentication.tokenFile)) {
    throw new ConfigError('tokenFile and authentication.tokenFile name different files: give one');
  }
  return c;
}

export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${what} must be host:port (e.g. 127.0.0.1:8443), got "${s}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
