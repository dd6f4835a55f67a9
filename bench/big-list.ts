// Phase 2: one large list (~20 MB of ConfigMaps) through each path, a few
// times, streamed into a byte counter. The proxies' peak resident memory
// over the phase shows whether they stream the body or hold it.
import { createGunzip } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { fetchOnce, keepAliveAgent, type Target } from './load.js';
import { readMemory, resetPeak } from './proc-stats.js';
import { median } from './stats.js';
import type { TargetKey } from './small-gets.js';

export interface MemoryGrowth {
  pid: number;
  /** VmRSS before the phase, bytes. */
  rssBefore: number;
  /** VmHWM after the phase, bytes. */
  peakAfter: number;
  /** peakAfter - rssBefore, bytes. */
  growth: number;
  /** False: the kernel refused to reset the peak, so it may date from an earlier phase. */
  peakWasReset: boolean;
}

export interface ListStats {
  runsMs: number[];
  medianMs: number;
  /** Body bytes as received on the wire, per response (the last run's). */
  wireBytes: number;
  /** Content-Encoding the client saw ('identity' when none). */
  contentEncoding: string;
  memory?: MemoryGrowth;
}

export interface ListResults {
  path: string;
  /** Size of the list once decompressed, from one extra (untimed) direct GET. */
  decodedBytes: number;
  byTarget: Partial<Record<TargetKey, ListStats>>;
}

export interface ListOptions {
  path: string;
  runs: number;
  phaseLimitMs: number;
  timeoutMs: number;
}

// What kubectl sends for `get -o json`: plain JSON, gzip welcome.
const HEADERS = { accept: 'application/json', 'accept-encoding': 'gzip' };

export async function measureList(targets: Target[], o: ListOptions, log: (line: string) => void): Promise<ListResults> {
  const direct = targets.find((t) => t.key === 'direct');
  if (!direct) throw new Error('the list phase needs the direct path');
  const decodedBytes = await decodedSize(direct, o);
  log(`list ${o.path}: ${(decodedBytes / 1e6).toFixed(1)} MB decoded; ${o.runs} runs per path`);

  const memoryStart = new Map<TargetKey, { pid: number; rssBefore: number; peakWasReset: boolean }>();
  for (const t of targets) {
    if (t.pid === undefined) continue;
    const peakWasReset = resetPeak(t.pid);
    memoryStart.set(t.key, { pid: t.pid, rssBefore: readMemory(t.pid).rss, peakWasReset });
  }

  const stats = new Map<TargetKey, ListStats>(targets.map((t) => [t.key, { runsMs: [], medianMs: NaN, wireBytes: 0, contentEncoding: '' }]));
  const agents = new Map(targets.map((t) => [t.key, keepAliveAgent(t, 1)]));
  const phaseEnd = performance.now() + o.phaseLimitMs;
  try {
    for (let run = 0; run < o.runs && performance.now() < phaseEnd; run++) {
      for (const t of targets) {
        const res = await fetchOnce(t, agents.get(t.key)!, o.path, { headers: HEADERS, timeoutMs: o.timeoutMs });
        if (res.status !== 200) throw new Error(`${t.label}: GET ${o.path} answered ${res.status}: ${res.errorSnippet ?? ''}`);
        const s = stats.get(t.key)!;
        s.runsMs.push(res.ms);
        s.wireBytes = res.bytes;
        s.contentEncoding = String(res.headers['content-encoding'] ?? 'identity');
      }
    }
  } finally {
    for (const a of agents.values()) a.destroy();
  }

  const byTarget: ListResults['byTarget'] = {};
  for (const t of targets) {
    const s = stats.get(t.key)!;
    s.medianMs = median(s.runsMs);
    const start = memoryStart.get(t.key);
    if (start) {
      const peakAfter = readMemory(start.pid).hwm;
      s.memory = { ...start, peakAfter, growth: peakAfter - start.rssBefore };
    }
    byTarget[t.key] = s;
    const mem = s.memory ? `, peak RSS growth ${(s.memory.growth / 2 ** 20).toFixed(1)} MiB` : '';
    log(`  ${t.label.padEnd(14)} median ${s.medianMs.toFixed(0)} ms, ${s.wireBytes} bytes (${s.contentEncoding})${mem}`);
  }
  return { path: o.path, decodedBytes, byTarget };
}

/** Decompressed size of the list, streamed through gunzip and counted. */
async function decodedSize(t: Target, o: ListOptions): Promise<number> {
  const agent = keepAliveAgent(t, 1);
  const gunzip = createGunzip();
  let decoded = 0;
  gunzip.on('data', (c: Buffer) => (decoded += c.length));
  const gunzipped = new Promise<void>((resolve, reject) => {
    gunzip.once('end', resolve);
    gunzip.once('error', reject);
  });
  gunzipped.catch(() => undefined); // a non-gzip answer is fed in too; only a gzip one is awaited
  try {
    let raw = 0;
    const res = await fetchOnce(t, agent, o.path, {
      headers: HEADERS,
      timeoutMs: o.timeoutMs,
      onChunk: (c) => {
        raw += c.length;
        gunzip.write(c);
      },
    });
    if (res.status !== 200) throw new Error(`direct GET ${o.path} answered ${res.status}: ${res.errorSnippet ?? ''}`);
    if (res.headers['content-encoding'] !== 'gzip') {
      gunzip.destroy();
      return raw;
    }
    gunzip.end();
    await gunzipped;
    return decoded;
  } finally {
    agent.destroy();
  }
}
