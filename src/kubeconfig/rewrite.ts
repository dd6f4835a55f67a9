// Rewriting contexts of an existing kubeconfig so kubectl talks to kubetape:
// the chosen contexts keep their names and namespaces, their cluster and user
// stanzas come from a template (eks or generic), and everything else in the
// file — other contexts, comments, order — is left as it was.
//
// A cluster or user entry that an unchosen context also uses is not touched;
// the chosen contexts get a copy named `kubetape/<name>` instead.
import { isMap, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { detectEks, type EksInfo } from './eks.js';
import { KubeconfigError, parseKubeconfigText } from './parse.js';
import { caData, checkCaPem, checkProxyUrl, checkToken } from './proxy-kubeconfig.js';
import { renderTemplate, type PlaceholderValues, type TemplateName } from './templates.js';
import type { ClusterConfig, KubeconfigFile, UserConfig } from './types.js';

export class RewriteError extends Error {
  override name = 'RewriteError';
}

/** Name of the cluster extension where kubetape keeps what the cluster was before. */
export const KUBETAPE_EXTENSION = 'kubetape';
/** Prefix of entries kubetape adds when the original is shared with contexts it leaves alone. */
export const COPY_PREFIX = 'kubetape/';

/** People log in with OIDC: the user stanza runs `kubetape credential` instead of holding a token. */
export interface OidcLogin {
  issuer: string;
  clientId: string;
  /** The command kubectl runs (default kubetape). */
  command: string;
  /** Appended to `credential --issuer X --client-id Y` (e.g. --scope groups). */
  extraArgs: string[];
}

export interface RewriteOptions {
  proxyServer: string;
  caPem: string;
  /** The static kubetape token; not used with `oidc`. */
  token?: string;
  oidc?: OidcLogin;
  /** kubetape serves several clusters: each context goes to PROXY/clusters/<context name>. */
  clusterPaths?: boolean;
  /** Contexts to rewrite; default (and when empty) the current-context. */
  contexts?: string[];
  all?: boolean;
  /** Name of the input for messages (its path). */
  source?: string;
  templatesDir?: string;
}

export interface RewrittenContext {
  context: string;
  template: TemplateName;
  /** Cluster and user entries the context now uses. */
  cluster: string;
  user: string;
  upstreamServer: string;
}

export interface RewriteResult {
  yaml: string;
  rewritten: RewrittenContext[];
}

/** What an earlier rewrite recorded, so rewriting twice keeps pointing at the real upstream. */
interface PriorRewrite {
  server?: string;
  cluster?: string;
  user?: string;
  eks?: EksInfo;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function priorRewrite(cluster: ClusterConfig): PriorRewrite | undefined {
  const ext = cluster.extensions?.find((e) => e.name === KUBETAPE_EXTENSION)?.extension;
  if (typeof ext !== 'object' || ext === null) return undefined;
  const e = ext as Record<string, unknown>;
  const prior: PriorRewrite = {};
  if (str(e['upstream-server'])) prior.server = str(e['upstream-server'])!;
  if (str(e['upstream-cluster'])) prior.cluster = str(e['upstream-cluster'])!;
  if (str(e['upstream-user'])) prior.user = str(e['upstream-user'])!;
  const eks: EksInfo = {};
  if (str(e['eks-cluster-name'])) eks.clusterName = str(e['eks-cluster-name'])!;
  if (str(e['eks-region'])) eks.region = str(e['eks-region'])!;
  if (eks.clusterName || eks.region) prior.eks = eks;
  return prior;
}

function quoteList(names: string[]): string {
  return names.length === 0 ? 'none' : names.map((n) => `"${n}"`).join(', ');
}

function chooseContexts(cfg: KubeconfigFile, opts: RewriteOptions, source: string): Set<string> {
  const names = (cfg.contexts ?? []).map((c) => c.name);
  const asked = [...new Set(opts.contexts ?? [])];
  if (opts.all && asked.length > 0) throw new RewriteError('choose contexts by name or all of them, not both (--all with --context)');
  if (names.length === 0) throw new RewriteError(`${source} has no contexts to rewrite`);
  if (opts.all) return new Set(names);
  if (asked.length > 0) {
    for (const n of asked) if (!names.includes(n)) throw new RewriteError(`no context "${n}" in ${source} (contexts: ${quoteList(names)})`);
    return new Set(asked);
  }
  const current = cfg['current-context'];
  if (!current) throw new RewriteError(`${source} has no current-context; name contexts with --context or use --all`);
  if (!names.includes(current)) throw new RewriteError(`current-context "${current}" is not among the contexts of ${source} (contexts: ${quoteList(names)})`);
  return new Set([current]);
}

/** Contexts that use each cluster / user name. */
function references(cfg: KubeconfigFile, key: 'cluster' | 'user'): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  for (const c of cfg.contexts ?? []) {
    const target = c.context[key];
    if (!target) continue;
    refs.set(target, [...(refs.get(target) ?? []), c.name]);
  }
  return refs;
}

function seqOf(doc: Document, key: string): YAMLSeq {
  const node = doc.get(key, true);
  if (isSeq(node)) return node;
  const seq = doc.createNode([]) as YAMLSeq;
  doc.set(key, seq);
  return seq;
}

function findNamed(seq: YAMLSeq, name: string): YAMLMap | undefined {
  for (const item of seq.items) if (isMap(item) && item.get('name') === name) return item;
  return undefined;
}

/** Replace the inner stanza of entry `name` (keeping the entry's place and comments), or append a new entry. */
function putNamed(doc: Document, listKey: string, innerKey: string, name: string, value: Record<string, unknown>): void {
  const seq = seqOf(doc, listKey);
  const entry = findNamed(seq, name);
  if (entry) entry.set(innerKey, doc.createNode(value));
  else seq.add(doc.createNode({ name, [innerKey]: value }));
}

function setContextField(doc: Document, context: string, field: 'cluster' | 'user', value: string): void {
  const entry = findNamed(seqOf(doc, 'contexts'), context);
  const inner = entry?.get('context', true);
  if (isMap(inner)) inner.set(field, value);
  else entry?.set('context', doc.createNode({ [field]: value }));
}

/** Rewrite the chosen contexts of a kubeconfig's text; returns the new text. Throws RewriteError, KubeconfigError or ProxyInputError. */
export function rewriteKubeconfig(text: string, opts: RewriteOptions): RewriteResult {
  const source = opts.source ?? 'kubeconfig';
  checkProxyUrl(opts.proxyServer);
  checkCaPem(opts.caPem);
  if (!opts.oidc) checkToken(opts.token ?? '');
  const cfg = parseKubeconfigText(text, source);
  const chosen = chooseContexts(cfg, opts, source);
  const clusters = new Map((cfg.clusters ?? []).map((c) => [c.name, c.cluster] as const));
  const users = new Map((cfg.users ?? []).map((u) => [u.name, u.user] as const));
  const clusterRefs = references(cfg, 'cluster');
  const userRefs = references(cfg, 'user');
  const usedElsewhere = (refs: Map<string, string[]>, name: string) => (refs.get(name) ?? []).some((c) => !chosen.has(c));

  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new KubeconfigError(`${source}: not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  const written = { cluster: new Set<string>(), user: new Set<string>() };
  const rewritten: RewrittenContext[] = [];

  for (const { name: contextName, context } of cfg.contexts ?? []) {
    if (!chosen.has(contextName)) continue;
    const clusterName = context.cluster;
    if (!clusterName) throw new RewriteError(`context "${contextName}" in ${source} names no cluster`);
    const cluster = clusters.get(clusterName);
    if (!cluster) throw new RewriteError(`context "${contextName}" refers to cluster "${clusterName}", which is not in ${source}`);
    const prior = priorRewrite(cluster);
    const upstreamServer = prior?.server ?? cluster.server;
    if (!upstreamServer) throw new RewriteError(`cluster "${clusterName}" in ${source} has no server`);
    const userName = context.user || undefined;
    const user: UserConfig | undefined = userName ? users.get(userName) : undefined;
    const upstreamClusterName = prior?.cluster ?? clusterName;
    const eks = detectEks(upstreamClusterName, upstreamServer, user) ?? prior?.eks;
    const template: TemplateName = `${eks ? 'eks' : 'generic'}${opts.oidc ? '-oidc' : ''}`;
    if (opts.clusterPaths && !/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(contextName)) {
      throw new RewriteError(
        `context "${contextName}" cannot name a kubetape cluster path (lower-case letters, digits, '.', '_', '-'); rewrite it on its own with --proxy .../clusters/NAME`,
      );
    }
    const values: PlaceholderValues = {
      proxyServer: opts.clusterPaths ? `${opts.proxyServer.replace(/\/+$/, '')}/clusters/${contextName}` : opts.proxyServer,
      proxyCaData: caData(opts.caPem),
      contextName,
      upstreamClusterName,
      upstreamServer,
    };
    if (opts.token && !opts.oidc) values.token = opts.token;
    if (opts.oidc) {
      values.execCommand = opts.oidc.command;
      values.oidcIssuer = opts.oidc.issuer;
      values.oidcClientId = opts.oidc.clientId;
    }
    const upstreamUserName = prior?.user ?? userName;
    if (upstreamUserName) values.upstreamUserName = upstreamUserName;
    if (eks?.clusterName) values.eksClusterName = eks.clusterName;
    if (eks?.region) values.eksRegion = eks.region;
    const filled = renderTemplate(template, values, opts.templatesDir);
    const exec = filled.user['exec'] as { args?: unknown } | undefined;
    if (opts.oidc && opts.oidc.extraArgs.length > 0 && exec && Array.isArray(exec.args)) exec.args = [...(exec.args as string[]), ...opts.oidc.extraArgs];

    const clusterTarget = usedElsewhere(clusterRefs, clusterName) ? COPY_PREFIX + clusterName : clusterName;
    const userTarget = !userName || !user ? `${COPY_PREFIX}${contextName}` : usedElsewhere(userRefs, userName) ? COPY_PREFIX + userName : userName;
    if (!written.cluster.has(clusterTarget)) {
      putNamed(doc, 'clusters', 'cluster', clusterTarget, filled.cluster);
      written.cluster.add(clusterTarget);
    }
    if (!written.user.has(userTarget)) {
      putNamed(doc, 'users', 'user', userTarget, filled.user);
      written.user.add(userTarget);
    }
    if (clusterTarget !== clusterName) setContextField(doc, contextName, 'cluster', clusterTarget);
    if (userTarget !== userName) setContextField(doc, contextName, 'user', userTarget);
    rewritten.push({ context: contextName, template, cluster: clusterTarget, user: userTarget, upstreamServer });
  }

  // kubectl writes lists flush with their key ("clusters:\n- cluster:"); keep whichever style the file had.
  const indentSeq = !/^[A-Za-z-]+:\s*\n- /m.test(text);
  return { yaml: doc.toString({ lineWidth: 0, indentSeq }), rewritten };
}
