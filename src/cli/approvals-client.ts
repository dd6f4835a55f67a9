// Calls kubetape's approvals API as the current kubeconfig user: the
// server, CA and bearer token come from the kubeconfig context kubectl uses.
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';
import { kubeconfigPaths, loadKubeconfig, KubeconfigError } from '../kubeconfig/load.js';

export interface ApprovalsTarget {
  /** The server URL of the context (may carry a /clusters/NAME prefix). */
  server: string;
  ca?: string;
  insecure: boolean;
  token: string;
}

export function approvalsTarget(o: { kubeconfig?: string; context?: string }): ApprovalsTarget {
  let kc;
  try {
    kc = loadKubeconfig(kubeconfigPaths(o.kubeconfig));
  } catch (e) {
    if (e instanceof KubeconfigError) throw new CliError(e.message);
    throw e;
  }
  const contextName = o.context ?? kc.currentContext;
  if (!contextName) throw new CliError('the kubeconfig has no current-context; pass --context');
  const context = kc.contexts.get(contextName)?.value;
  if (!context) throw new CliError(`context "${contextName}" not found in the kubeconfig`);
  const cluster = context.cluster ? kc.clusters.get(context.cluster)?.value : undefined;
  if (!cluster?.server) throw new CliError(`context "${contextName}" names no cluster with a server`);
  const user = context.user ? kc.users.get(context.user)?.value : undefined;
  let token = user?.token;
  try {
    if (!token && user?.tokenFile) token = readFileSync(user.tokenFile, 'utf8').trim();
    const ca = cluster['certificate-authority-data']
      ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
      : cluster['certificate-authority']
        ? readFileSync(cluster['certificate-authority'], 'utf8')
        : undefined;
    if (!token) throw new CliError(`the user of context "${contextName}" has no bearer token (token or tokenFile); approvals need one`);
    return { server: cluster.server, ...(ca ? { ca } : {}), insecure: cluster['insecure-skip-tls-verify'] === true, token };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read the kubeconfig's credentials: ${(e as Error).message}`);
  }
}

/** Sends one approvals API call; a non-2xx answer becomes a CliError with the server's message. */
export function callApprovals(t: ApprovalsTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const base = new URL(t.server);
  const url = new URL(base.pathname.replace(/\/+$/, '') + '/kubetape/v1/approvals' + path, base);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          Authorization: `Bearer ${t.token}`,
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
        },
        ...(t.ca ? { ca: t.ca } : {}),
        rejectUnauthorized: !t.insecure,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            value = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) return resolve(value);
          const message = (value as { message?: string } | undefined)?.message ?? (text.trim() || `HTTP ${code}`);
          reject(new CliError(`${message} (HTTP ${code})`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30s')));
    req.on('error', (e) => reject(new CliError(`cannot reach kubetape at ${t.server}: ${e.message}`)));
    req.end(payload);
  });
}
