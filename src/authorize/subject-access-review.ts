// Asks a cluster, with kubetape's own credential, whether a subject may do
// something: a SubjectAccessReview (authorization.k8s.io/v1). Allowed answers
// are kept briefly per (subject, question), so a kubectl command's dozen
// requests cost one review each; denials are asked again every time, so a
// newly granted permission works at once.
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { UpstreamAuth } from '../model/upstream.js';
import type { ImpersonationCheck, ReviewSubject } from '../model/impersonation.js';

export interface ReviewTarget {
  server: URL;
  ca?: string;
  insecureSkipTlsVerify: boolean;
}

export interface OwnCredentialForReview {
  get(): Promise<UpstreamAuth>;
  invalidate(): void;
}

/** The cluster could not answer (unreachable, refused kubetape, malformed reply): nothing may be forwarded. */
export class ReviewError extends Error {
  override name = 'ReviewError';
}

export interface SubjectAccessReviewerOptions {
  timeoutMs?: number;
  /** How long an `allowed` answer is reused. */
  cacheMs?: number;
  now?: () => number;
}

const PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const MAX_CACHED = 4096;

export class SubjectAccessReviewer {
  private readonly allowedUntil = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  /** Reviews actually sent (tests read it to see the cache at work). */
  reviewsSent = 0;

  constructor(
    private readonly target: () => ReviewTarget,
    private readonly own: OwnCredentialForReview,
    o: SubjectAccessReviewerOptions = {},
  ) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.cacheMs = o.cacheMs ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  async allowed(subject: ReviewSubject, check: ImpersonationCheck): Promise<boolean> {
    const key = JSON.stringify([
      subject.user,
      [...subject.groups].sort(),
      check.group,
      check.resource,
      check.subresource ?? '',
      check.namespace ?? '',
      check.name,
    ]);
    const until = this.allowedUntil.get(key);
    if (until !== undefined && until > this.now()) return true;
    this.allowedUntil.delete(key);
    const allowed = await this.review(subject, check);
    if (allowed) {
      if (this.allowedUntil.size >= MAX_CACHED) this.prune();
      this.allowedUntil.set(key, this.now() + this.cacheMs);
    }
    return allowed;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, until] of this.allowedUntil) if (until <= now) this.allowedUntil.delete(k);
    if (this.allowedUntil.size >= MAX_CACHED) this.allowedUntil.clear();
  }

  private async review(subject: ReviewSubject, check: ImpersonationCheck): Promise<boolean> {
    const resourceAttributes: Record<string, string> = { verb: 'impersonate', group: check.group, resource: check.resource, name: check.name };
    if (check.subresource) resourceAttributes['subresource'] = check.subresource;
    if (check.namespace) resourceAttributes['namespace'] = check.namespace;
    const body = JSON.stringify({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: subject.user, groups: subject.groups, resourceAttributes },
    });
    let auth: UpstreamAuth;
    try {
      auth = await this.own.get();
    } catch (err) {
      throw new ReviewError(`kubetape has no credential of its own for the cluster: ${(err as Error).message}`);
    }
    this.reviewsSent++;
    const { status, text } = await this.post(auth, body);
    if (status === 401) this.own.invalidate();
    if (status !== 200 && status !== 201) {
      throw new ReviewError(
        `the cluster answered the SubjectAccessReview with HTTP ${status}${upstreamMessage(text)} (kubetape's own identity needs create on subjectaccessreviews.authorization.k8s.io)`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ReviewError('the cluster answered the SubjectAccessReview with something that is not JSON');
    }
    const allowed = (parsed as { status?: { allowed?: unknown } } | null)?.status?.allowed;
    if (typeof allowed !== 'boolean' && allowed !== undefined) throw new ReviewError('the SubjectAccessReview answer has no status.allowed');
    return allowed === true;
  }

  private post(auth: UpstreamAuth, body: string): Promise<{ status: number; text: string }> {
    const t = this.target();
    const url = t.server;
    const https = url.protocol === 'https:';
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      'User-Agent': 'kubetape',
    };
    if (auth.authorization) headers['Authorization'] = auth.authorization;
    const options = {
      method: 'POST',
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : https ? 443 : 80,
      path: url.pathname.replace(/\/+$/, '') + PATH,
      headers,
      timeout: this.timeoutMs,
      ...(https
        ? {
            rejectUnauthorized: !t.insecureSkipTlsVerify,
            ...(t.ca ? { ca: t.ca } : {}),
            ...(auth.cert ? { cert: auth.cert } : {}),
            ...(auth.key ? { key: auth.key } : {}),
          }
        : {}),
    };
    return new Promise((resolve, reject) => {
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 1 << 20) chunks.push(c);
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.once('error', (err) => reject(new ReviewError(`the SubjectAccessReview answer broke off: ${err.message}`)));
      };
      const req = https ? httpsRequest(options, onResponse) : httpRequest(options, onResponse);
      req.once('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.once('error', (err: NodeJS.ErrnoException) =>
        reject(new ReviewError(`could not ask the cluster ${url.origin} for a SubjectAccessReview: ${err.code ?? err.message}`)),
      );
      req.end(body);
    });
  }
}

function upstreamMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === 'string' ? `: ${m.slice(0, 300)}` : '';
  } catch {
    return '';
  }
}
