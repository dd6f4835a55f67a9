// `npm run bench`: kubetape against the baselines it must beat, in one run.
// Three paths to the same fake API server, each its own process:
//   direct         HTTPS straight to the fake API server (admin token)
//   kubectl proxy  the real kubectl, plain http on 127.0.0.1
//   kubetape       `kubetape serve` with recording on
// Progress goes to stderr; the table (or --json) to stdout. Exit 0 whatever
// the figures; non-zero only when something could not be run.
import { readdirSync, statSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ChildSet, withChildren } from './children.js';
import { fetchOnce, keepAliveAgent, type Target } from './load.js';
import { startFakeApiServer, startKubectlProxy, startKubetapeServe } from './paths.js';
import { measureSmallGets } from './small-gets.js';
import { measureList } from './big-list.js';
import { checkGoals, computeRatios, renderJson, renderTable, type BenchReport, type RunSettings } from './report.js';
import { kubetapeNodeOptions, withKubetapeNodeOptions } from './kubetape-node-options.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMALL_NAMESPACE = 'default';
const SMALL_CONFIGMAP = 'bench-small';
const SEED_NAMESPACE = 'bench';
const SERVER_MINOR = '32';
const PHASE_LIMIT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;

const USAGE = `usage: npm run bench [-- options]
  --json                 print all figures as JSON instead of the table
  --requests <n>         small GETs per path and concurrency (default 3000)
  --warmup <n>           warm-up GETs per path and concurrency (default 300)
  --concurrency <n>      concurrency of the throughput phase (default 16)
  --rounds <n>           interleaved rounds the requests are split into (default 3)
  --configmaps <n>       ConfigMaps in the large list (default 2000)
  --configmap-bytes <n>  data bytes per ConfigMap (default 10240)
  --list-runs <n>        GETs of the large list per path (default 3)
  --cpu-profile <dir>    write a V8 CPU profile of the kubetape process to <dir> (when it exits)
environment:
  KUBETAPE_BENCH_NODE_OPTIONS  extra Node options for the kubetape process only`;

interface Flags {
  json: boolean;
  /** Where the kubetape process writes its CPU profile (--cpu-profile). */
  cpuProfileDir?: string;
  settings: RunSettings;
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      requests: { type: 'string', default: '3000' },
      warmup: { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '3' },
      configmaps: { type: 'string', default: '2000' },
      'configmap-bytes': { type: 'string', default: '10240' },
      'list-runs': { type: 'string', default: '3' },
      'cpu-profile': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} wants an integer >= ${min}, got "${v}"`);
    return n;
  };
  return {
    json: values.json === true,
    ...(values['cpu-profile'] ? { cpuProfileDir: resolve(values['cpu-profile']) } : {}),
    settings: {
      smallGetPath: `/api/v1/namespaces/${SMALL_NAMESPACE}/configmaps/${SMALL_CONFIGMAP}`,
      requests: int('requests', values.requests, 1),
      warmup: int('warmup', values.warmup, 1),
      rounds: int('rounds', values.rounds, 1),
      latencyConcurrency: 1,
      throughputConcurrency: int('concurrency', values.concurrency, 1),
      configmaps: int('configmaps', values.configmaps, 1),
      configmapBytes: int('configmap-bytes', values['configmap-bytes'], 1),
      listRuns: int('list-runs', values['list-runs'], 1),
    },
  };
}

class UsageError extends Error {}

const started = performance.now();
const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

async function run(flags: Flags, children: ChildSet, tmp: string): Promise<BenchReport> {
  const s = flags.settings;
  log(`starting the fake API server with ${s.configmaps} ConfigMaps of ${s.configmapBytes} bytes`);
  const api = await startFakeApiServer(children, ROOT, join(tmp, 'upstream.kubeconfig'), {
    minor: SERVER_MINOR,
    namespace: SEED_NAMESPACE,
    configmaps: s.configmaps,
    configmapBytes: s.configmapBytes,
  });
  const direct = api.target;
  await createSmallConfigMap(direct);

  log('starting kubectl proxy and kubetape serve');
  const [kubectlProxy, kubetape] = await Promise.all([
    startKubectlProxy(children, api.kubeconfig, join(tmp, 'kubectl-cache')),
    withKubetapeNodeOptions(kubetapeNodeOptions(flags.cpuProfileDir, tmp, log), () =>
      startKubetapeServe(children, ROOT, api.kubeconfig, join(tmp, 'kubetape-data')),
    ),
  ]);
  const targets: Target[] = [direct, kubectlProxy, kubetape];
  for (const t of targets) await expectOk(t, s.smallGetPath);
  log(
    `paths: direct ${direct.url.origin}, kubectl proxy ${kubectlProxy.url.origin} (pid ${kubectlProxy.pid}), kubetape ${kubetape.url.origin} (pid ${kubetape.pid})`,
  );

  const smallGets = await measureSmallGets(
    targets,
    {
      path: s.smallGetPath,
      requests: s.requests,
      warmup: s.warmup,
      concurrencies: [s.latencyConcurrency, s.throughputConcurrency],
      rounds: s.rounds,
      phaseLimitMs: PHASE_LIMIT_MS,
      timeoutMs: REQUEST_TIMEOUT_MS,
    },
    log,
  );
  for (const [c, byKey] of Object.entries(smallGets)) {
    for (const [k, st] of Object.entries(byKey)) {
      if (st && st.errors > s.requests * 0.01) throw new Error(`${k} failed ${st.errors} of its small GETs at concurrency ${c}: ${st.firstError}`);
    }
  }

  const list = await measureList(
    targets,
    { path: `/api/v1/namespaces/${SEED_NAMESPACE}/configmaps`, runs: s.listRuns, phaseLimitMs: PHASE_LIMIT_MS, timeoutMs: REQUEST_TIMEOUT_MS },
    log,
  );
  if (list.decodedBytes < s.configmaps * s.configmapBytes * 0.9) {
    throw new Error(
      `the list is only ${list.decodedBytes} bytes decoded; seeding ${s.configmaps} x ${s.configmapBytes} bytes into "${SEED_NAMESPACE}" did not happen`,
    );
  }

  const ratios = computeRatios(smallGets, s);
  return {
    environment: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      node: process.version,
      kernel: release(),
      serverMinor: SERVER_MINOR,
    },
    settings: s,
    smallGets,
    ratios,
    list,
    recordingBytes: directoryBytes(join(tmp, 'kubetape-data', 'recordings')),
    goals: checkGoals(smallGets, ratios, list, s),
    durationSeconds: (performance.now() - started) / 1000,
  };
}

/** The object of the small-GET phase, made through the direct path. */
async function createSmallConfigMap(direct: Target): Promise<void> {
  const agent = keepAliveAgent(direct, 1);
  try {
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: SMALL_CONFIGMAP, namespace: SMALL_NAMESPACE },
      data: { greeting: 'hello' },
    });
    const res = await fetchOnce(direct, agent, `/api/v1/namespaces/${SMALL_NAMESPACE}/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    if (res.status !== 201 && res.status !== 409) throw new Error(`creating configmap ${SMALL_CONFIGMAP} answered ${res.status}: ${res.errorSnippet ?? ''}`);
  } finally {
    agent.destroy();
  }
}

async function expectOk(t: Target, path: string): Promise<void> {
  const agent = keepAliveAgent(t, 1);
  try {
    const res = await fetchOnce(t, agent, path, { headers: { accept: 'application/json' }, timeoutMs: REQUEST_TIMEOUT_MS });
    if (res.status !== 200) throw new Error(`${t.label}: GET ${path} answered ${res.status}: ${res.errorSnippet ?? ''}`);
  } catch (err) {
    throw new Error(`${t.label} does not answer GET ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    agent.destroy();
  }
}

function directoryBytes(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += directoryBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

async function main(): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  return withChildren('kubetape-bench-', log, async (children, tmp) => {
    const report = await run(flags, children, tmp);
    return flags.json ? renderJson(report) : renderTable(report);
  });
}

process.exitCode = await main();
