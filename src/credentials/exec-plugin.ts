// Runs a client-go credential plugin (the `user.exec` stanza of a kubeconfig)
// the way client-go does, minus the terminal: kubetape is a server, so the
// plugin never gets stdin and a plugin that insists on a terminal is refused.
//
// Errors name the plugin and quote its stderr, never its stdout: stdout is
// where the credential is, even when it is malformed.
import { spawn } from 'node:child_process';
import type { UpstreamCluster } from '../kubeconfig/resolve-upstream.js';
import { EXEC_API_VERSIONS, type ExecConfig } from '../kubeconfig/types.js';

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

const MAX_STDOUT = 4 * 1024 * 1024;
const MAX_STDERR_SHOWN = 2000;

export class ExecPluginError extends Error {
  override name = 'ExecPluginError';
}

/** `spec.cluster` of the ExecCredential handed to plugins with provideClusterInfo (client.authentication.k8s.io Cluster). */
export interface ExecClusterInfo {
  server: string;
  'tls-server-name'?: string;
  'insecure-skip-tls-verify'?: boolean;
  /** base64 of the PEM bundle, as Go marshals []byte */
  'certificate-authority-data'?: string;
  'proxy-url'?: string;
  'disable-compression'?: boolean;
  config?: unknown;
}

/** What a plugin run yields; at least a token or a certificate/key pair. */
export interface ExecCredentialResult {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: Date;
}

export interface RunExecPluginOptions {
  /** The cluster the credential is for; sent to the plugin only when the stanza sets provideClusterInfo. */
  cluster?: UpstreamCluster;
  timeoutMs?: number;
  /** Environment the stanza's env is merged over (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  /** The plugin's stderr after a successful run (client-go shows it to the user; a server may log it). */
  onStderr?: (text: string) => void;
}

export function execClusterInfo(cluster: UpstreamCluster): ExecClusterInfo {
  const info: ExecClusterInfo = { server: cluster.server };
  if (cluster.tlsServerName) info['tls-server-name'] = cluster.tlsServerName;
  if (cluster.insecureSkipTlsVerify) info['insecure-skip-tls-verify'] = true;
  if (cluster.ca) info['certificate-authority-data'] = Buffer.from(cluster.ca, 'utf8').toString('base64');
  if (cluster.proxyUrl) info['proxy-url'] = cluster.proxyUrl;
  if (cluster.disableCompression) info['disable-compression'] = true;
  if (cluster.execClusterConfig !== undefined) info.config = cluster.execClusterConfig;
  return info;
}

function hintOf(exec: ExecConfig): string {
  return exec.installHint ? ` (${exec.installHint.trim().replace(/\s*\n\s*/g, ' ')})` : '';
}

function stderrSummary(stderr: string): string {
  let text = stderr.trim();
  if (text.length > MAX_STDERR_SHOWN) text = '…' + text.slice(-MAX_STDERR_SHOWN);
  return text.replace(/\s*\n\s*/g, ' / ');
}

function checkStanza(exec: ExecConfig, label: string): void {
  if (!(EXEC_API_VERSIONS as readonly string[]).includes(exec.apiVersion)) {
    throw new ExecPluginError(`${label}: apiVersion "${exec.apiVersion}" is not supported; use ${EXEC_API_VERSIONS.join(' or ')}`);
  }
  if (exec.interactiveMode === 'Always') {
    throw new ExecPluginError(
      `${label} has interactiveMode Always: it needs a terminal, and kubetape runs as a server without one; use a non-interactive credential`,
    );
  }
}

function execInfo(exec: ExecConfig, cluster: UpstreamCluster | undefined): string {
  const spec: { interactive: false; cluster?: ExecClusterInfo } = { interactive: false };
  if (exec.provideClusterInfo && cluster) spec.cluster = execClusterInfo(cluster);
  return JSON.stringify({ kind: 'ExecCredential', apiVersion: exec.apiVersion, spec });
}

/** Parse the plugin's stdout; messages describe what is wrong without quoting it. */
export function parseExecCredential(stdout: string, exec: ExecConfig, label: string): ExecCredentialResult {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    const size = Buffer.byteLength(stdout);
    throw new ExecPluginError(`${label} printed ${size === 0 ? 'nothing' : `${size} bytes that are not JSON`}; it must print an ExecCredential`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ExecPluginError(`${label} printed JSON that is not an ExecCredential object`);
  const cred = doc as Record<string, unknown>;
  if (cred.kind !== 'ExecCredential') throw new ExecPluginError(`${label} printed kind "${String(cred.kind)}", expected ExecCredential`);
  if (cred.apiVersion !== exec.apiVersion) {
    throw new ExecPluginError(`${label} is configured for ${exec.apiVersion} but returned apiVersion "${String(cred.apiVersion)}"`);
  }
  const status = cred.status;
  if (typeof status !== 'object' || status === null) throw new ExecPluginError(`${label} returned an ExecCredential without a status`);
  const s = status as Record<string, unknown>;
  const str = (key: string): string | undefined => {
    const v = s[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ExecPluginError(`${label}: status.${key} is not a string`);
    return v;
  };
  const result: ExecCredentialResult = {};
  const token = str('token');
  const cert = str('clientCertificateData');
  const key = str('clientKeyData');
  if ((cert === undefined) !== (key === undefined)) throw new ExecPluginError(`${label} returned only a client certificate or only a key, not both`);
  if (token === undefined && cert === undefined) throw new ExecPluginError(`${label} returned neither a token nor a client certificate and key`);
  if (token !== undefined) result.token = token;
  if (cert !== undefined && key !== undefined) {
    result.clientCertificateData = cert;
    result.clientKeyData = key;
  }
  const exp = str('expirationTimestamp');
  if (exp !== undefined) {
    const when = new Date(exp);
    if (!/^\d{4}-\d\d-\d\dT/.test(exp) || Number.isNaN(when.getTime())) {
      throw new ExecPluginError(`${label}: status.expirationTimestamp "${exp}" is not an RFC 3339 time`);
    }
    result.expirationTimestamp = when;
  }
  return result;
}

/** Run the plugin once. Never hangs: the timeout kills it and stops waiting for its pipes. */
export async function runExecPlugin(exec: ExecConfig, opts: RunExecPluginOptions = {}): Promise<ExecCredentialResult> {
  const label = `exec plugin "${exec.command}"`;
  checkStanza(exec, label);
  const env: NodeJS.ProcessEnv = { ...(opts.baseEnv ?? process.env) };
  for (const { name, value } of exec.env ?? []) env[name] = value;
  env.KUBERNETES_EXEC_INFO = execInfo(exec, opts.cluster);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;

  return new Promise<ExecCredentialResult>((resolve, reject) => {
    let settled = false;
    const stdout: Buffer[] = [];
    let stdoutSize = 0;
    let stderr = '';
    const child = spawn(exec.command, exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });

    const finish = (err: Error | null, value?: ExecCredentialResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        // A grandchild may hold the pipes open; stop reading rather than wait for it.
        child.stdout.destroy();
        child.stderr.destroy();
        reject(err);
      } else resolve(value!);
    };

    const timer = setTimeout(() => {
      const seconds = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`;
      finish(new ExecPluginError(`${label} did not finish within ${seconds}${hintOf(exec)}`));
    }, timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutSize += chunk.length;
      if (stdoutSize > MAX_STDOUT) finish(new ExecPluginError(`${label} printed more than ${MAX_STDOUT} bytes; that is not an ExecCredential`));
      else stdout.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > 4 * MAX_STDERR_SHOWN) stderr = stderr.slice(-2 * MAX_STDERR_SHOWN);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') finish(new ExecPluginError(`${label} not found${exec.command.includes('/') ? '' : ' in PATH'}${hintOf(exec)}`));
      else if (err.code === 'EACCES') finish(new ExecPluginError(`${label} is not executable${hintOf(exec)}`));
      else finish(new ExecPluginError(`${label} could not be started: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      if (code !== 0) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const said = stderrSummary(stderr);
        finish(new ExecPluginError(`${label} ${how}${said ? `: ${said}` : ''}${hintOf(exec)}`));
        return;
      }
      try {
        const result = parseExecCredential(Buffer.concat(stdout).toString('utf8'), exec, label);
        if (stderr.trim() && opts.onStderr) opts.onStderr(stderr);
        finish(null, result);
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}
