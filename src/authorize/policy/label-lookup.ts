// Reading an object's current labels from the cluster for a rule that
// matches on them. The lookup goes with the credential the caller's own
// request would be forwarded with, so the cluster's RBAC for that caller
// applies to it as well; metadata only is asked for.
import { request as httpsRequest, type Agent } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { upstreamTarget, type Upstream, type UpstreamAuth } from '../../model/upstream.js';
import type { Labels } from './label-selector.js';

export const LABEL_LOOKUP_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 1024 * 1024;
const ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/** The object a request is about, in API server terms. */
export interface LabelTarget {
  apiGroup: string;
  apiVersion: string;
  resource: string;
  namespace: string;
  name: string;
}

/** The lookup failed: 403 when the cluster refused it, 503 for everything else. `reason` is what went wrong. */
export class LabelLookupFailure extends Error {
  constructor(
    readonly statusCode: 403 | 503,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The object's labels; {} when it does not exist (404). Throws LabelLookupFailure. */
export async function fetchLabels(
  upstream: Upstream,
  agent: Agent | undefined,
  auth: UpstreamAuth,
  t: LabelTarget,
  timeoutMs = LABEL_LOOKUP_TIMEOUT_MS,
): Promise<Labels> {
  const { status, body } = await getObject(upstream, agent, auth, objectPath(t), timeoutMs);
  if (status === 404) return {};
  if (status !== 200) {
    const why = statusMessage(body);
    throw new LabelLookupFailure(status === 403 ? 403 : 503, `the cluster answered ${status}${why ? `: ${why}` : ''}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(body.toString('utf8'));
  } catch {
    throw new LabelLookupFailure(503, 'the cluster answered with a body that is not JSON');
  }
  const labels = (obj as { metadata?: { labels?: unknown } } | null)?.metadata?.labels ?? {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
    throw new LabelLookupFailure(503, 'the object the cluster returned has malformed metadata.labels');
  }
  return { ...(labels as Labels) };
}

/** /api/v1/namespaces/prod/pods/x, /apis/apps/v1/namespaces/prod/deployments/x, /api/v1/namespaces/prod (a namespace). */
export function objectPath(t: LabelTarget): string {
  const base = t.apiGroup ? `/apis/${t.apiGroup}/${t.apiVersion}` : `/api/${t.apiVersion}`;
  const e = encodeURIComponent;
  const namespaceItself = t.apiGroup === '' && t.resource === 'namespaces';
  const scope = t.namespace && !namespaceItself ? `/namespaces/${e(t.namespace)}` : '';
  return `${base}${scope}/${e(t.resource)}/${e(t.name)}`;
}

function getObject(
  upstream: Upstream,
  agent: Agent | undefined,
  auth: UpstreamAuth,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; body: Buffer }> {
  const target = upstreamTarget(upstream, auth);
  const https = target.protocol === 'https:';
  const headers: Record<string, string | string[]> = { Accept: ACCEPT, 'User-Agent': 'kubetape (policy label lookup)', ...(auth.headers ?? {}) };
  if (auth.authorization) headers['Authorization'] = auth.authorization;
  return new Promise((resolve, reject) => {
    const options = {
      method: 'GET',
      hostname: target.hostname,
      port: target.port,
      path: target.path + path,
      headers,
      ...(https
        ? {
            agent,
            rejectUnauthorized: !upstream.insecureSkipTlsVerify,
            ...(target.ca ? { ca: target.ca } : {}),
            ...(target.cert ? { cert: target.cert } : {}),
            ...(target.key ? { key: target.key } : {}),
          }
        : {}),
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) return req.destroy(new Error('the answer was larger than 1 MiB'));
        chunks.push(c);
      });
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
      res.once('error', fail);
    };
    const req = https ? httpsRequest(options, onResponse) : httpRequest(options, onResponse);
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(
        new LabelLookupFailure(
          503,
          `could not ask the cluster: ${(err as NodeJS.ErrnoException).code && !/within|larger/.test(err.message) ? `${(err as NodeJS.ErrnoException).code} ` : ''}${err.message}`,
        ),
      );
    }
    req.once('error', fail);
    req.end();
  });
}

function statusMessage(body: Buffer): string {
  try {
    const s = JSON.parse(body.toString('utf8')) as { message?: unknown };
    if (typeof s.message === 'string') return s.message;
  } catch {
    // not a Status: say nothing more than the code
  }
  return '';
}
