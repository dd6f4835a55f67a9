// From a merged kubeconfig and a context name to everything kubetape needs to
// reach that cluster: URL, TLS trust and one credential. Follows kubectl's
// rules where they matter (data fields beat file fields, a token file is
// re-read, one authentication method per user) and refuses, in a sentence,
// what kubetape cannot do upstream.
import { readFileSync } from 'node:fs';
import { KubeconfigError } from './parse.js';
import { EXEC_CLUSTER_EXTENSION, type ClusterConfig, type ExecConfig, type Kubeconfig, type UserConfig } from './types.js';

export interface UpstreamCluster {
  contextName: string;
  clusterName: string;
  userName: string;
  namespace?: string;
  /** URL as in the kubeconfig (may carry a path prefix, e.g. Rancher's /k8s/clusters/c-xxxx). */
  server: string;
  /** PEM CA bundle, from certificate-authority-data or the certificate-authority file. */
  ca?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
  disableCompression?: boolean;
  /** Content of the cluster's `client.authentication.k8s.io/exec` extension, handed to exec plugins with provideClusterInfo. */
  execClusterConfig?: unknown;
  credential: UpstreamCredentialConfig;
}

export type UpstreamCredentialConfig =
  | { type: 'none' }
  | { type: 'token'; token: string }
  /** Re-read when it changes: projected service-account tokens rotate. */
  | { type: 'tokenFile'; path: string }
  | { type: 'basic'; username: string; password: string }
  /** `token` is set when the user also carries an inline bearer token (AKS admin credentials); both are sent. */
  | { type: 'clientCert'; cert: string; key: string; token?: string }
  | { type: 'exec'; exec: ExecConfig };

function list(names: Iterable<string>): string {
  const all = [...names];
  return all.length === 0 ? 'there are none' : all.map((n) => `"${n}"`).join(', ');
}

function readPemFile(path: string, what: string, owner: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`${owner}: cannot read ${what} file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!text.includes('-----BEGIN')) throw new KubeconfigError(`${owner}: ${what} file ${path} holds no PEM data`);
  return text;
}

function decodePemData(data: string, field: string, owner: string): string {
  const compact = data.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw new KubeconfigError(`${owner}: ${field} is not base64`);
  const text = Buffer.from(compact, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) throw new KubeconfigError(`${owner}: ${field} does not decode to PEM data`);
  return text;
}

/** The `-data` field wins over the file field, as in client-go. */
function pemFrom(data: string | undefined, file: string | undefined, field: string, owner: string): string | undefined {
  if (data) return decodePemData(data, `${field}-data`, owner);
  if (file) return readPemFile(file, field, owner);
  return undefined;
}

function checkServer(server: string | undefined, owner: string): string {
  if (!server) throw new KubeconfigError(`${owner} has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeconfigError(`${owner}: server "${server}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KubeconfigError(`${owner}: server "${server}" must start with https:// (or http://)`);
  }
  return server;
}

function resolveCredential(user: UserConfig, owner: string): UpstreamCredentialConfig {
  if (user['auth-provider']) {
    throw new KubeconfigError(
      `${owner} uses auth-provider "${user['auth-provider'].name}", which kubetape does not support (kubectl dropped it too); ` +
        'switch the user to an exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin)',
    );
  }
  if (user.as || user['as-uid'] || (user['as-groups']?.length ?? 0) > 0 || user['as-user-extra']) {
    throw new KubeconfigError(`${owner} impersonates another identity (as/as-groups), which kubetape does not support upstream`);
  }
  const hasToken = Boolean(user.token || user.tokenFile);
  const hasBasic = Boolean(user.username || user.password);
  const hasCertData = Boolean(user['client-certificate-data'] || user['client-certificate']);
  const hasKeyData = Boolean(user['client-key-data'] || user['client-key']);
  const hasCert = hasCertData || hasKeyData;
  // A client certificate plus an inline token (AKS --admin kubeconfigs have both) is sent together, like client-go does.
  const certWithToken = hasCert && Boolean(user.token) && !user.tokenFile && !user.exec && !hasBasic;
  const methods = [user.exec && 'exec', hasToken && 'token', hasBasic && 'username/password', hasCert && 'client certificate'].filter(Boolean);
  if (methods.length > 1 && !certWithToken) {
    throw new KubeconfigError(`${owner} combines ${methods.join(' and ')}; kubetape uses exactly one upstream credential per user`);
  }
  if (user.exec) return { type: 'exec', exec: user.exec };
  // client-go prefers the file when both are set: it re-reads it, so a rotated token is picked up.
  if (user.tokenFile) {
    try {
      readFileSync(user.tokenFile);
    } catch (err) {
      throw new KubeconfigError(`${owner}: cannot read tokenFile ${user.tokenFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return { type: 'tokenFile', path: user.tokenFile };
  }
  if (user.token && !certWithToken) return { type: 'token', token: user.token };
  if (hasBasic) {
    if (!user.username || user.password === undefined)
      throw new KubeconfigError(`${owner} has a username without a password, or a password without a username`);
    return { type: 'basic', username: user.username, password: user.password };
  }
  if (hasCert) {
    if (!hasCertData || !hasKeyData) throw new KubeconfigError(`${owner} has a client certificate without its key, or a key without its certificate`);
    const cert = pemFrom(user['client-certificate-data'], user['client-certificate'], 'client-certificate', owner)!;
    const key = pemFrom(user['client-key-data'], user['client-key'], 'client-key', owner)!;
    return certWithToken ? { type: 'clientCert', cert, key, token: user.token! } : { type: 'clientCert', cert, key };
  }
  return { type: 'none' };
}

function tlsOf(cluster: ClusterConfig, owner: string): Pick<UpstreamCluster, 'ca' | 'insecureSkipTlsVerify'> {
  const ca = pemFrom(cluster['certificate-authority-data'], cluster['certificate-authority'], 'certificate-authority', owner);
  const insecureSkipTlsVerify = cluster['insecure-skip-tls-verify'] === true;
  if (ca && insecureSkipTlsVerify) {
    throw new KubeconfigError(`${owner} sets both a certificate authority and insecure-skip-tls-verify; kubectl refuses that too — keep one`);
  }
  return ca === undefined ? { insecureSkipTlsVerify } : { ca, insecureSkipTlsVerify };
}

/** Resolve the upstream cluster of `contextName` (default: current-context). */
export function resolveUpstream(cfg: Kubeconfig, contextName?: string): UpstreamCluster {
  const files = cfg.files.join(', ');
  const name = contextName || cfg.currentContext;
  if (!name) {
    throw new KubeconfigError(`no current-context in ${files}; pick one with --context (contexts: ${list(cfg.contexts.keys())})`);
  }
  const ctx = cfg.contexts.get(name);
  if (!ctx) throw new KubeconfigError(`context "${name}" not found in ${files} (contexts: ${list(cfg.contexts.keys())})`);
  const clusterName = ctx.value.cluster;
  if (!clusterName) throw new KubeconfigError(`context "${name}" (${ctx.file}) names no cluster`);
  const cluster = cfg.clusters.get(clusterName);
  if (!cluster) throw new KubeconfigError(`context "${name}" refers to cluster "${clusterName}", which is not in ${files}`);
  const clusterOwner = `cluster "${clusterName}" (${cluster.file})`;
  const userName = ctx.value.user ?? '';
  let credential: UpstreamCredentialConfig = { type: 'none' };
  if (userName) {
    const user = cfg.users.get(userName);
    if (!user) throw new KubeconfigError(`context "${name}" refers to user "${userName}", which is not in ${files}`);
    credential = resolveCredential(user.value, `user "${userName}" (${user.file})`);
  }
  const c = cluster.value;
  const out: UpstreamCluster = {
    contextName: name,
    clusterName,
    userName,
    server: checkServer(c.server, clusterOwner),
    ...tlsOf(c, clusterOwner),
    credential,
  };
  if (ctx.value.namespace) out.namespace = ctx.value.namespace;
  if (c['tls-server-name']) out.tlsServerName = c['tls-server-name'];
  if (c['proxy-url']) out.proxyUrl = c['proxy-url'];
  if (c['disable-compression']) out.disableCompression = true;
  const execExt = c.extensions?.find((e) => e.name === EXEC_CLUSTER_EXTENSION);
  if (execExt && execExt.extension !== undefined) out.execClusterConfig = execExt.extension;
  return out;
}
