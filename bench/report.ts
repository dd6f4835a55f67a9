// Turns the measurements into the figures the issue asks for: a table for
// people, the same figures as JSON, and the three goal checks.
import type { SmallGetResults, GetStats, TargetKey } from './small-gets.js';
import type { ListResults } from './big-list.js';
import { round } from './stats.js';

export interface RunSettings {
  smallGetPath: string;
  requests: number;
  warmup: number;
  rounds: number;
  latencyConcurrency: number;
  throughputConcurrency: number;
  configmaps: number;
  configmapBytes: number;
  listRuns: number;
}

export interface Environment {
  cpus: number;
  cpuModel: string;
  node: string;
  kernel: string;
  serverMinor: string;
}

export interface Ratios {
  /** kubetape req/s ÷ kubectl proxy req/s, at the throughput concurrency. */
  kubetapeOverKubectlProxyThroughput: number;
  kubetapeOverDirectThroughput: number;
  kubectlProxyOverDirectThroughput: number;
  /** p50 at concurrency 1 minus direct's p50, ms. */
  kubetapeAddedP50Ms: number;
  kubectlProxyAddedP50Ms: number;
}

export interface Goal {
  goal: string;
  pass: boolean;
  figure: string;
}

export interface BenchReport {
  environment: Environment;
  settings: RunSettings;
  smallGets: SmallGetResults;
  ratios: Ratios;
  list: ListResults;
  /** Bytes kubetape wrote under DATA/recordings during the run. */
  recordingBytes: number;
  goals: Goal[];
  durationSeconds: number;
}

const LABELS: Record<TargetKey, string> = { direct: 'direct', kubectlProxy: 'kubectl proxy', kubetape: 'kubetape' };
const KEYS: TargetKey[] = ['direct', 'kubectlProxy', 'kubetape'];
const MIB = 2 ** 20;
const RSS_GOAL_MIB = 32;
const LATENCY_GOAL_MS = 1;

export function computeRatios(r: SmallGetResults, s: RunSettings): Ratios {
  const tput = (k: TargetKey) => r[s.throughputConcurrency]?.[k]?.reqPerSec ?? NaN;
  const p50 = (k: TargetKey) => r[s.latencyConcurrency]?.[k]?.p50Ms ?? NaN;
  return {
    kubetapeOverKubectlProxyThroughput: tput('kubetape') / tput('kubectlProxy'),
    kubetapeOverDirectThroughput: tput('kubetape') / tput('direct'),
    kubectlProxyOverDirectThroughput: tput('kubectlProxy') / tput('direct'),
    kubetapeAddedP50Ms: p50('kubetape') - p50('direct'),
    kubectlProxyAddedP50Ms: p50('kubectlProxy') - p50('direct'),
  };
}

export function checkGoals(r: SmallGetResults, ratios: Ratios, list: ListResults, s: RunSettings): Goal[] {
  const kt = r[s.throughputConcurrency]?.['kubetape'];
  const kp = r[s.throughputConcurrency]?.['kubectlProxy'];
  const growth = list.byTarget.kubetape?.memory?.growth ?? NaN;
  const clean = (st: GetStats | undefined) => !!st && st.errors === 0 && !st.cutShort;
  const caveat = (st: GetStats | undefined) => (clean(st) ? '' : ' (run had errors or was cut short)');
  return [
    {
      goal: 'kubetape throughput >= kubectl proxy throughput',
      pass: clean(kt) && ratios.kubetapeOverKubectlProxyThroughput >= 1,
      figure: `${fmt(kt?.reqPerSec, 0)} vs ${fmt(kp?.reqPerSec, 0)} req/s at concurrency ${s.throughputConcurrency} (${fmt(ratios.kubetapeOverKubectlProxyThroughput, 2)}x)${caveat(kt)}`,
    },
    {
      goal: `p50 added latency < ${LATENCY_GOAL_MS} ms`,
      pass: clean(r[s.latencyConcurrency]?.['kubetape']) && ratios.kubetapeAddedP50Ms < LATENCY_GOAL_MS,
      figure: `+${fmt(ratios.kubetapeAddedP50Ms, 3)} ms over direct at concurrency ${s.latencyConcurrency} (kubectl proxy: +${fmt(ratios.kubectlProxyAddedP50Ms, 3)} ms)${caveat(r[s.latencyConcurrency]?.['kubetape'])}`,
    },
    {
      goal: `peak RSS growth on the ${fmt(list.decodedBytes / 1e6, 0)} MB list < ${RSS_GOAL_MIB} MiB`,
      pass: growth < RSS_GOAL_MIB * MIB,
      figure: `${fmt(growth / MIB, 1)} MiB (kubectl proxy: ${fmt((list.byTarget.kubectlProxy?.memory?.growth ?? NaN) / MIB, 1)} MiB)`,
    },
  ];
}

export function renderTable(rep: BenchReport): string {
  const { settings: s, smallGets: r, ratios, list, environment: env } = rep;
  const lines: string[] = [];
  lines.push(`kubetape benchmark: ${env.cpus} CPUs (${env.cpuModel}), Node ${env.node}, Linux ${env.kernel}, fake API server minor ${env.serverMinor}`);
  lines.push('');
  lines.push(`Small GETs: GET ${s.smallGetPath}`);
  lines.push(`  ${s.requests} requests per path after ${s.warmup} warm-up, keep-alive, paths interleaved in ${s.rounds} rounds;`);
  lines.push('  CPU ms/req: CPU time of the proxy process itself (user + system) per request served');
  const lat = s.latencyConcurrency;
  const tp = s.throughputConcurrency;
  lines.push(
    ...table(
      ['path', `req/s @${tp}`, `p50 @${tp} ms`, `p99 @${tp} ms`, `CPU ms/req @${tp}`, `req/s @${lat}`, `p50 @${lat} ms`, `p99 @${lat} ms`, 'errors'],
      KEYS.map((k) => {
        const a = r[tp]?.[k];
        const b = r[lat]?.[k];
        const errors = (a?.errors ?? 0) + (b?.errors ?? 0);
        const cut = a?.cutShort || b?.cutShort ? ' (cut short)' : '';
        return [
          LABELS[k],
          fmt(a?.reqPerSec, 0),
          fmt(a?.p50Ms, 3),
          fmt(a?.p99Ms, 3),
          fmt(a?.cpuMsPerRequest, 3),
          fmt(b?.reqPerSec, 0),
          fmt(b?.p50Ms, 3),
          fmt(b?.p99Ms, 3),
          String(errors) + cut,
        ];
      }),
    ),
  );
  lines.push('');
  lines.push('Ratios (same run)');
  lines.push(
    `  kubetape / kubectl proxy throughput   ${fmt(ratios.kubetapeOverKubectlProxyThroughput, 2)}x   (>= 1: kubetape serves at least as many requests/s)`,
  );
  lines.push(`  kubetape / direct throughput          ${fmt(ratios.kubetapeOverDirectThroughput, 2)}x`);
  lines.push(`  kubectl proxy / direct throughput     ${fmt(ratios.kubectlProxyOverDirectThroughput, 2)}x`);
  lines.push(`  added p50 latency, kubetape           +${fmt(ratios.kubetapeAddedP50Ms, 3)} ms over direct (concurrency ${lat})`);
  lines.push(`  added p50 latency, kubectl proxy      +${fmt(ratios.kubectlProxyAddedP50Ms, 3)} ms over direct (concurrency ${lat})`);
  lines.push('');
  lines.push(`Large list: GET ${list.path}`);
  lines.push(
    `  ${s.configmaps} ConfigMaps of ~${fmt(s.configmapBytes / 1000, 0)} KB, ${fmt(list.decodedBytes / 1e6, 1)} MB decoded; Accept: application/json, Accept-Encoding: gzip;`,
  );
  lines.push(`  bytes are counted as received (compressed when the encoding says gzip); time is the median of ${s.listRuns} runs`);
  lines.push(
    ...table(
      ['path', 'median ms', 'runs ms', 'bytes received', 'encoding', 'RSS before MiB', 'peak after MiB', 'growth MiB'],
      KEYS.map((k) => {
        const l = list.byTarget[k];
        const m = l?.memory;
        return [
          LABELS[k],
          fmt(l?.medianMs, 0),
          l?.runsMs.map((x) => x.toFixed(0)).join('/') ?? '-',
          l ? String(l.wireBytes) : '-',
          l?.contentEncoding ?? '-',
          m ? fmt(m.rssBefore / MIB, 1) : '-',
          m ? fmt(m.peakAfter / MIB, 1) + (m.peakWasReset ? '' : '*') : '-',
          m ? fmt(m.growth / MIB, 1) : '-',
        ];
      }),
    ),
  );
  if (Object.values(list.byTarget).some((l) => l?.memory && !l.memory.peakWasReset))
    lines.push('  * peak could not be reset before the phase: it may date from earlier');
  lines.push('');
  lines.push(`kubetape recorded ${fmt(rep.recordingBytes / MIB, 1)} MiB under DATA/recordings during the run`);
  lines.push('');
  lines.push('Goals');
  for (const g of rep.goals) lines.push(`  ${g.pass ? 'PASS' : 'MISS'}  ${g.goal}: ${g.figure}`);
  lines.push('');
  lines.push(`total ${rep.durationSeconds.toFixed(0)} s`);
  return lines.join('\n');
}

/** The report as JSON, non-finite numbers as null and floats trimmed. */
export function renderJson(rep: BenchReport): string {
  return JSON.stringify(rep, (_k, v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? v : round(v, 4)) : v), 2);
}

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
