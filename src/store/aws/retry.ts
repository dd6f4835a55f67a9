// Every upload call is retried until it succeeds or kubetape stops: with
// exponential backoff and jitter, each failure counted and logged (at most
// one line per kind of failure every few seconds). Nothing is dropped: while
// calls fail, events wait in the spool.
import type { Metrics } from '../../admin/metrics.js';
import { textOf } from '../../model/text.js';

export type UploadTarget = 'dynamodb' | 's3';

/** The uploader is stopping: give up this call; the spool keeps the data for next time. */
export class UploadStopped extends Error {
  constructor() {
    super('upload stopped');
  }
}

export interface RetryContext {
  signal: AbortSignal;
  metrics: Metrics | undefined;
  log: (line: string) => void;
}

const BASE_MS = 100;
const CAP_MS = 5000;
const LOG_EVERY_MS = 10_000;
const lastLogged = new Map<string, number>();

export function backoffMs(attempt: number): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new UploadStopped());
    const onAbort = () => {
      clearTimeout(t);
      reject(new UploadStopped());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms).unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function errorName(e: unknown): string {
  return (e as { name?: string })?.name ?? 'Error';
}

/** Run `fn` until it succeeds; `what` names the call in logs. */
export async function withRetries<T>(ctx: RetryContext, target: UploadTarget, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (ctx.signal.aborted) throw new UploadStopped();
    const started = performance.now();
    try {
      const r = await fn(ctx.signal);
      ctx.metrics?.uploadDuration.observe({ target }, (performance.now() - started) / 1000);
      return r;
    } catch (e) {
      if (ctx.signal.aborted || e instanceof UploadStopped) throw new UploadStopped();
      ctx.metrics?.uploadFailures.inc({ target });
      const key = `${target}:${errorName(e)}`;
      const now = Date.now();
      if (now - (lastLogged.get(key) ?? 0) >= LOG_EVERY_MS) {
        lastLogged.set(key, now);
        ctx.log(`kubetape: upload to ${target} failed (${what}): ${errorName(e)}: ${(e as Error).message}; retrying (recordings wait in the spool)`);
      }
      await sleep(backoffMs(attempt), ctx.signal);
      ctx.metrics?.uploadRetries.inc({ target });
    }
  }
}

/** Run `fn` over `items` with at most `limit` at a time; rejects with the first failure after all settle. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (e) {
        failure ??= e instanceof Error ? e : new Error(textOf(e));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
  return out;
}
