// Phase 1: many small GETs through each path, at concurrency 1 (latency) and
// at a higher concurrency (throughput). Paths take turns in rounds, so drift
// over the run (CPU frequency, page cache, GC) lands on all of them alike.
import { performance } from 'node:perf_hooks';
import { keepAliveAgent, runGets, type Target } from './load.js';
import { percentile } from './stats.js';
import { cpuSeconds } from './proc-stats.js';

export interface GetStats {
  requests: number;
  errors: number;
  firstError?: string;
  /** The phase's time limit stopped this path before all requests were made. */
  cutShort: boolean;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the proxy process per request (warm-up included); absent for direct. */
  cpuMsPerRequest?: number;
}

export type TargetKey = Target['key'];

export interface SmallGetOptions {
  path: string;
  requests: number;
  warmup: number;
  concurrencies: number[];
  rounds: number;
  /** Wall-time limit of one concurrency level, all paths and warm-ups included. */
  phaseLimitMs: number;
  timeoutMs: number;
}

/** results[concurrency][target key] */
export type SmallGetResults = Record<number, Partial<Record<TargetKey, GetStats>>>;

const HEADERS = { accept: 'application/json' };

export async function measureSmallGets(targets: Target[], o: SmallGetOptions, log: (line: string) => void): Promise<SmallGetResults> {
  const results: SmallGetResults = {};
  for (const concurrency of o.concurrencies) {
    log(`small GETs at concurrency ${concurrency}: ${o.warmup} warm-up + ${o.requests} requests per path, ${o.rounds} rounds`);
    // The phase's time limit is shared evenly: each path may spend its part, warm-up included.
    const budgetMs = o.phaseLimitMs / targets.length;
    const perTarget = targets.map((t) => ({
      t,
      agent: keepAliveAgent(t, concurrency),
      latencies: [] as number[],
      completed: 0,
      errors: 0,
      firstError: undefined as string | undefined,
      cutShort: false,
      measuredMs: 0,
      spentMs: 0,
      issued: 0,
      cpuBefore: t.pid === undefined ? NaN : cpuSeconds(t.pid),
    }));
    try {
      for (const p of perTarget) {
        const warm = await runGets(p.t, p.agent, o.path, {
          count: o.warmup,
          concurrency,
          deadline: performance.now() + budgetMs,
          headers: HEADERS,
          timeoutMs: o.timeoutMs,
        });
        p.spentMs += warm.elapsedMs;
        p.issued += warm.completed + warm.errors;
        if (warm.completed === 0) throw new Error(`${p.t.label}: every warm-up GET ${o.path} failed: ${warm.firstError ?? 'no request completed'}`);
      }
      const share = Math.ceil(o.requests / o.rounds);
      for (let round = 0; round < o.rounds; round++) {
        for (const p of rotate(perTarget, round)) {
          const count = Math.min(share, o.requests - p.completed - p.errors);
          if (count <= 0 || p.cutShort) continue;
          const deadline = performance.now() + Math.max(0, budgetMs - p.spentMs);
          const r = await runGets(p.t, p.agent, o.path, { count, concurrency, deadline, headers: HEADERS, timeoutMs: o.timeoutMs });
          p.latencies.push(...r.latenciesMs);
          p.completed += r.completed;
          p.errors += r.errors;
          p.firstError ??= r.firstError;
          p.cutShort ||= r.cutShort;
          p.measuredMs += r.elapsedMs;
          p.spentMs += r.elapsedMs;
          p.issued += r.completed + r.errors;
        }
      }
    } finally {
      for (const p of perTarget) p.agent.destroy();
    }
    const byKey: Partial<Record<TargetKey, GetStats>> = {};
    for (const p of perTarget) {
      const s: GetStats = {
        requests: p.completed,
        errors: p.errors,
        cutShort: p.cutShort,
        reqPerSec: p.completed / (p.measuredMs / 1000),
        p50Ms: percentile(p.latencies, 50),
        p99Ms: percentile(p.latencies, 99),
      };
      if (p.firstError) s.firstError = p.firstError;
      if (p.t.pid !== undefined) s.cpuMsPerRequest = ((cpuSeconds(p.t.pid) - p.cpuBefore) * 1000) / p.issued;
      byKey[p.t.key] = s;
      log(
        `  ${p.t.label.padEnd(14)} ${s.reqPerSec.toFixed(0)} req/s, p50 ${s.p50Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms${s.cpuMsPerRequest === undefined ? '' : `, ${s.cpuMsPerRequest.toFixed(3)} CPU ms/request`}${p.errors ? `, ${p.errors} errors (${p.firstError})` : ''}`,
      );
    }
    results[concurrency] = byKey;
  }
  return results;
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
