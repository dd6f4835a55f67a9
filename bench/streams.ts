// `node dist/bench/streams.js`: what kubetape costs on exec streams, in one
// run, against the same fake cluster reached directly. Each server is a child
// process (the fake API server with a running pod, `kubetape serve` with
// recording on); the exec client is this process, WebSocket v5 (exec-client.ts).
//   1. stdout throughput of one large stream (`head -c N /dev/zero`)
//   2. kubetape's resident memory with many idle execs open (`sleep 600`)
//   3. time to first stdout byte of a short exec (`printf x`)
// Progress goes to stderr, the table to stdout. Exit 0 whatever the figures.
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ChildSet, withChildren } from './children.js';
import { openExec, runExec, type OpenExec } from './exec-client.js';
import type { Target } from './load.js';
import { startKubetapeServe } from './paths.js';
import { cpuSeconds, readMemory } from './proc-stats.js';
import { median, percentile } from './stats.js';
import { readKubeconfigAccess } from './kubeconfig-reader.js';
import { kubetapeNodeOptions, withKubetapeNodeOptions } from './kubetape-node-options.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const POD = 'bench-0';
const MIB = 2 ** 20;
const START_TIMEOUT_MS = 60_000;
const STREAM_TIMEOUT_MS = 90_000;
const OPEN_TIMEOUT_MS = 60_000;
const OPEN_CONCURRENCY = 25;
const THROUGHPUT_GOAL = 0.8;
const RSS_GOAL_MIB = 256;
const TTFB_GOAL_MS = 5;

const USAGE = `usage: node dist/bench/streams.js [options]
  --bytes <n>       size of the stdout stream, bytes; K/M/G suffixes are binary (default 1G)
  --sessions <n>    concurrent idle execs for the memory figure (default 1000)
  --ttfb-runs <n>   short execs per path for time to first byte (default 50)
  --only <phases>   comma-separated subset of idle,ttfb,throughput (default: all three)
  --cpu-profile <dir>  write a V8 CPU profile of the kubetape process to <dir> (when it exits)
environment:
  KUBETAPE_BENCH_NODE_OPTIONS  extra Node options for the kubetape process only`;

type Phase = 'idle' | 'ttfb' | 'throughput';
const PHASES: readonly Phase[] = ['idle', 'ttfb', 'throughput'];

interface Settings {
  bytes: number;
  sessions: number;
  ttfbRuns: number;
  phases: ReadonlySet<Phase>;
  /** Where the kubetape process writes its CPU profile (--cpu-profile). */
  cpuProfileDir?: string;
}

class UsageError extends Error {}

function parseFlags(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', default: false },
      bytes: { type: 'string', default: '1G' },
      sessions: { type: 'string', default: '1000' },
      'ttfb-runs': { type: 'string', default: '50' },
      only: { type: 'string', default: PHASES.join(',') },
      'cpu-profile': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, min: number): number => {
    const m = /^(\d+)([KMG]?)$/i.exec(v ?? '');
    const n = m ? Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} wants an integer >= ${min}, got "${v}"`);
    return n;
  };
  const phases = new Set<Phase>();
  for (const name of (values.only ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    if (!PHASES.includes(name as Phase)) throw new UsageError(`--only: unknown phase "${name}" (phases: ${PHASES.join(', ')})`);
    phases.add(name as Phase);
  }
  if (phases.size === 0) throw new UsageError('--only wants at least one phase');
  return {
    bytes: int('bytes', values.bytes, 1),
    sessions: int('sessions', values.sessions, 1),
    ttfbRuns: int('ttfb-runs', values['ttfb-runs'], 1),
    phases,
    ...(values['cpu-profile'] ? { cpuProfileDir: resolve(values['cpu-profile']) } : {}),
  };
}

const started = performance.now();
const log = (line: string): void => void process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

/** The fake API server with a running pod whose exec runs local processes. */
async function startStreamCluster(children: ChildSet, kubeconfigOut: string): Promise<{ target: Target; kubeconfig: string; pid: number }> {
  const main = join(ROOT, 'dist/bench/stream-cluster-main.js');
  const child = children.start('fake API server', process.execPath, [main, '--kubeconfig', kubeconfigOut], { cwd: ROOT, keepStdinOpen: true });
  const m = await child.waitForOutput(/^(\{.*\})\r?\n/m, START_TIMEOUT_MS);
  const info = JSON.parse(m[1]) as { url: string; kubeconfig: string; ca: string; token: string };
  readKubeconfigAccess(info.kubeconfig);
  return { target: { key: 'direct', label: 'direct', url: new URL(info.url), ca: info.ca, token: info.token }, kubeconfig: info.kubeconfig, pid: child.pid };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

interface ThroughputResult {
  label: string;
  seconds: number;
  mibPerSecond: number;
  /** CPU seconds kubetape used during the stream (kubetape path only). */
  proxyCpuSeconds?: number;
  /** CPU seconds of the fake cluster (API server and the exec'd process's reader) and of this client. */
  serverCpuSeconds: number;
  clientCpuSeconds: number;
}

const ownCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function throughput(target: Target, bytes: number, serverPid: number, proxyPid?: number): Promise<ThroughputResult> {
  const cpuBefore = proxyPid ? cpuSeconds(proxyPid) : 0;
  const serverBefore = cpuSeconds(serverPid);
  const clientBefore = ownCpuSeconds();
  const r = await withTimeout(runExec(target, POD, ['head', '-c', String(bytes), '/dev/zero']), STREAM_TIMEOUT_MS, `${target.label}: the ${bytes}-byte stream`);
  if (r.stdoutBytes !== bytes) throw new Error(`${target.label}: ${r.stdoutBytes} of ${bytes} stdout bytes arrived`);
  const seconds = r.totalMs / 1000;
  const out: ThroughputResult = {
    label: target.label,
    seconds,
    mibPerSecond: bytes / MIB / seconds,
    serverCpuSeconds: cpuSeconds(serverPid) - serverBefore,
    clientCpuSeconds: ownCpuSeconds() - clientBefore,
  };
  if (proxyPid) out.proxyCpuSeconds = cpuSeconds(proxyPid) - cpuBefore;
  return out;
}

interface IdleResult {
  sessions: number;
  openSeconds: number;
  rssBeforeMiB: number;
  rssWithMiB: number;
}

async function idleSessions(kubetape: Target, count: number): Promise<IdleResult> {
  const rssBefore = readMemory(kubetape.pid!).rss;
  const open: OpenExec[] = [];
  const t0 = performance.now();
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next++;
        const e = openExec(kubetape, POD, ['sleep', '600']);
        open.push(e);
        await e.opened;
      }
    };
    await withTimeout(Promise.all(Array.from({ length: OPEN_CONCURRENCY }, worker)), OPEN_TIMEOUT_MS, `opening ${count} idle execs`);
    const openSeconds = (performance.now() - t0) / 1000;
    log(`${count} idle execs open in ${openSeconds.toFixed(1)}s; letting kubetape settle`);
    await new Promise((r) => setTimeout(r, 2000));
    const stillOpen = open.filter((e) => e.ws.readyState === e.ws.OPEN).length;
    if (stillOpen !== count) throw new Error(`only ${stillOpen} of ${count} idle execs stayed open`);
    return { sessions: stillOpen, openSeconds, rssBeforeMiB: rssBefore / MIB, rssWithMiB: readMemory(kubetape.pid!).rss / MIB };
  } finally {
    for (const e of open) e.ws.terminate();
    await Promise.all(open.map((e) => e.done.catch(() => undefined)));
  }
}

interface TtfbResult {
  label: string;
  p50: number;
  p90: number;
}

async function timeToFirstByte(targets: Target[], runs: number): Promise<TtfbResult[]> {
  const samples = new Map<string, number[]>(targets.map((t) => [t.label, []]));
  const warmups = Math.min(5, runs);
  for (let i = 0; i < warmups + runs; i++) {
    // Paths take turns so drift hits both alike.
    for (const t of targets) {
      const r = await withTimeout(runExec(t, POD, ['printf', 'x']), 10_000, `${t.label}: a short exec`);
      if (r.stdoutBytes !== 1) throw new Error(`${t.label}: printf x gave ${r.stdoutBytes} bytes`);
      if (i >= warmups) samples.get(t.label)!.push(r.firstByteMs);
    }
  }
  return targets.map((t) => ({ label: t.label, p50: median(samples.get(t.label)!), p90: percentile(samples.get(t.label)!, 90) }));
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => '    ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), ...rows.map(line)];
}

function render(s: Settings, tp: ThroughputResult[] | undefined, idle: IdleResult | undefined, ttfb: TtfbResult[] | undefined): string {
  const lines = [`kubetape exec streams bench   node ${process.version}, ${cpus().length} CPUs, exec over WebSocket v5.channel.k8s.io, kubetape recording on`];
  const goals: string[] = [];
  if (tp) {
    const [tpDirect, tpKt] = tp as [ThroughputResult, ThroughputResult];
    const ratio = tpKt.mibPerSecond / tpDirect.mibPerSecond;
    lines.push(
      '',
      `  1. stdout throughput: head -c ${s.bytes} /dev/zero (${(s.bytes / MIB).toFixed(0)} MiB)`,
      ...table(
        ['path', 'seconds', 'MiB/s', 'kubetape CPU s', 'API server CPU s', 'client CPU s'],
        tp.map((r) => [
          r.label,
          r.seconds.toFixed(2),
          r.mibPerSecond.toFixed(0),
          r.proxyCpuSeconds === undefined ? '-' : r.proxyCpuSeconds.toFixed(2),
          r.serverCpuSeconds.toFixed(2),
          r.clientCpuSeconds.toFixed(2),
        ]),
      ),
      `    kubetape / direct: ${ratio.toFixed(2)}`,
    );
    goals.push(`  ${ratio >= THROUGHPUT_GOAL ? 'PASS' : 'MISS'}  stdout throughput kubetape / direct >= ${THROUGHPUT_GOAL}: ${ratio.toFixed(2)}`);
  }
  if (idle) {
    const perSessionKiB = ((idle.rssWithMiB - idle.rssBeforeMiB) * 1024) / idle.sessions;
    lines.push(
      '',
      `  2. idle execs through kubetape: sleep 600, ${idle.sessions} open at once (opened in ${idle.openSeconds.toFixed(1)}s)`,
      ...table(
        ['kubetape RSS', 'MiB'],
        [
          ['before', idle.rssBeforeMiB.toFixed(1)],
          [`with ${idle.sessions} sessions`, idle.rssWithMiB.toFixed(1)],
          ['per session (KiB)', perSessionKiB.toFixed(1)],
        ],
      ),
    );
    goals.push(
      `  ${idle.rssWithMiB < RSS_GOAL_MIB ? 'PASS' : 'MISS'}  kubetape RSS with ${idle.sessions} idle execs < ${RSS_GOAL_MIB} MiB: ${idle.rssWithMiB.toFixed(1)} MiB`,
    );
  }
  if (ttfb) {
    const [ttDirect, ttKt] = ttfb as [TtfbResult, TtfbResult];
    const added = ttKt.p50 - ttDirect.p50;
    lines.push(
      '',
      `  3. time to first stdout byte: printf x, ${s.ttfbRuns} runs per path (new TLS connection each)`,
      ...table(
        ['path', 'p50 ms', 'p90 ms'],
        ttfb.map((r) => [r.label, r.p50.toFixed(2), r.p90.toFixed(2)]),
      ),
      `    added by kubetape (p50): ${added.toFixed(2)} ms`,
    );
    goals.push(`  ${added < TTFB_GOAL_MS ? 'PASS' : 'MISS'}  time to first byte added < ${TTFB_GOAL_MS} ms: ${added.toFixed(2)} ms`);
  }
  lines.push('', 'Goals', ...goals, '', `  took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return lines.join('\n');
}

async function run(s: Settings, children: ChildSet, tmp: string): Promise<string> {
  log('starting the fake API server (pod bench-0) and kubetape serve');
  const cluster = await startStreamCluster(children, join(tmp, 'upstream.kubeconfig'));
  const kubetape = await withKubetapeNodeOptions(kubetapeNodeOptions(s.cpuProfileDir, tmp, log), () =>
    startKubetapeServe(children, ROOT, cluster.kubeconfig, join(tmp, 'kubetape-data')),
  );
  const direct = cluster.target;
  for (const t of [direct, kubetape]) await runExec(t, POD, ['true']);

  // Idle sessions first, on a fresh kubetape: a 1 GB stream before would leave its heap behind.
  let idle: IdleResult | undefined;
  if (s.phases.has('idle')) {
    log(`opening ${s.sessions} idle execs through kubetape`);
    idle = await idleSessions(kubetape, s.sessions);
    // Let the cluster reap the closed sessions' processes before timing anything.
    await new Promise((r) => setTimeout(r, 2000));
  }

  let ttfb: TtfbResult[] | undefined;
  if (s.phases.has('ttfb')) {
    log(`time to first byte, ${s.ttfbRuns} runs per path`);
    ttfb = await timeToFirstByte([direct, kubetape], s.ttfbRuns);
  }

  let tp: ThroughputResult[] | undefined;
  if (s.phases.has('throughput')) {
    log(`warming up with 16 MiB streams, then ${s.bytes} bytes direct and through kubetape`);
    for (const t of [direct, kubetape]) await throughput(t, Math.min(s.bytes, 16 * MIB), cluster.pid);
    tp = [];
    tp.push(await throughput(direct, s.bytes, cluster.pid));
    log(`direct: ${tp[0].mibPerSecond.toFixed(0)} MiB/s`);
    tp.push(await throughput(kubetape, s.bytes, cluster.pid, kubetape.pid));
    log(`kubetape: ${tp[1].mibPerSecond.toFixed(0)} MiB/s`);
  }

  return render(s, tp, idle, ttfb);
}

async function main(): Promise<number> {
  let settings: Settings;
  try {
    settings = parseFlags(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  return withChildren('kubetape-bench-streams-', log, (children, tmp) => run(settings, children, tmp));
}

process.exitCode = await main();
