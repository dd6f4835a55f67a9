// A complete kubeconfig that points kubectl at kubetape (what `kubetape serve`
// writes to DATA/kubeconfig), built from the same template as rewritten
// contexts so both change together when the credential does.
import { stringify } from 'yaml';
import { renderTemplate, type PlaceholderValues } from './templates.js';

export class ProxyInputError extends Error {
  override name = 'ProxyInputError';
}

/** kubectl sends no Authorization over http://, so only https proxies make sense. */
export function checkProxyUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ProxyInputError(`proxy URL "${url}" is not a URL`);
  }
  if (u.protocol !== 'https:') throw new ProxyInputError(`proxy URL "${url}" must be https:// (kubectl sends no credentials over http)`);
  if (u.search || u.hash) throw new ProxyInputError(`proxy URL "${url}" must not have a query or fragment`);
  return url;
}

export function checkCaPem(pem: string, source = 'CA'): string {
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(pem)) throw new ProxyInputError(`${source} holds no PEM certificate`);
  return pem;
}

export function checkToken(token: string): string {
  if (!token) throw new ProxyInputError('the kubetape token is empty');
  if (/[\s,]/.test(token) || /[^\x21-\x7e]/.test(token)) throw new ProxyInputError('the kubetape token must be printable ASCII without spaces or commas');
  return token;
}

export function caData(pem: string): string {
  return Buffer.from(pem, 'utf8').toString('base64');
}

export interface ProxyKubeconfigOptions {
  server: string;
  caPem: string;
  token: string;
  /** default 'kubetape' */
  contextName?: string;
  /** default: the context name */
  clusterName?: string;
  /** default: the context name */
  userName?: string;
  namespace?: string;
  /** The cluster kubetape forwards to, recorded in the cluster's kubetape extension. */
  upstreamServer?: string;
  templatesDir?: string;
}

/** YAML of a kubeconfig with one context (set as current-context) that reaches kubetape at `server`. */
export function buildProxyKubeconfig(o: ProxyKubeconfigOptions): string {
  checkProxyUrl(o.server);
  checkCaPem(o.caPem);
  checkToken(o.token);
  const contextName = o.contextName || 'kubetape';
  const clusterName = o.clusterName || contextName;
  const userName = o.userName || contextName;
  const values: PlaceholderValues = { proxyServer: o.server, proxyCaData: caData(o.caPem), token: o.token, contextName };
  if (o.upstreamServer) values.upstreamServer = o.upstreamServer;
  const { cluster, user } = renderTemplate('generic', values, o.templatesDir);
  const context: Record<string, string> = { cluster: clusterName, user: userName };
  if (o.namespace) context.namespace = o.namespace;
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster }],
    users: [{ name: userName, user }],
    contexts: [{ name: contextName, context }],
    'current-context': contextName,
    preferences: {},
  };
  return `# Written by kubetape: kubectl --kubeconfig <this file> talks to the kubetape proxy.\n${stringify(cfg, { lineWidth: 0 })}`;
}
