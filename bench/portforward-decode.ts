// `node dist/bench/portforward-decode.js`: what decoding port-forward traffic
// (src/record/decode/) costs in throughput. One kubetape (recording on, raw
// bytes recorded either way) in front of the built-in test API server, whose
// pod port is a node HTTP server in a child process; the real `kubectl
// port-forward` and `curl` are children too. Two workloads, taking turns
// with decoding on and off (off: the recorder's decode tap is disabled in
// this process, nothing else changes):
//   bulk   one GET of --bytes (default 128 MiB), Content-Length framed
//   many   --requests GETs of 64 KiB on one keep-alive connection
// Prints MB/s per mode (median of --rounds) and the ratio on/off, and the
// median of each round's own on/off ratio (the two modes of a round run back
// to back, so this ratio is the one least moved by the shared machine's load).
// Also the CPU time of this process (kubetape runs in it) per MiB forwarded,
// on over off: what decoding adds to the work, less moved by other load.
// --warmup rounds run first and are not counted (the first port-forward of a
// process pays for JIT warm-up, whichever mode it runs).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startApiServer } from '../src/devcluster/server.js';
import { startKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { Exchange } from '../src/record/recorder.js';
import { median } from './stats.js';

const TARGET = String.raw`
const http = require('node:http');
const block = Buffer.alloc(64 * 1024, 'k');
const server = http.createServer((req, res) => {
  const n = Number(new URL(req.url, 'http://x').searchParams.get('n') || 65536);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
  let left = n;
  const pump = () => {
    while (left > 0) {
      const part = block.subarray(0, Math.min(block.length, left));
      left -= part.length;
      if (!res.write(part)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

const { values } = parseArgs({
  options: {
    bytes: { type: 'string', default: String(128 * 2 ** 20) },
    requests: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
  },
});
const BYTES = Number(values.bytes);
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const WARMUP = Number(values.warmup);

const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'kt-bench-pfd-'));

function child(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

function firstMatch(c: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${out}`)), 30_000);
    c.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    c.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  });
}

/** curl's wall time for the URLs (one connection, keep-alive), and the bytes it read. */
function curl(urls: string[]): Promise<{ seconds: number; bytes: number }> {
  const c = child('curl', ['-s', '--fail', ...urls.flatMap((u) => ['-o', '/dev/null', u]), '-w', '%{size_download}\n']);
  let out = '';
  c.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) =>
    c.once('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`curl exited ${code}`));
      resolve({
        seconds,
        bytes: out
          .trim()
          .split('\n')
          .map(Number)
          .reduce((a, b) => a + b, 0),
      });
    }),
  );
}

async function main(): Promise<void> {
  const target = child(process.execPath, ['-e', TARGET]);
  const port = Number((await firstMatch(target, /^(\d+)\n/))[1]);
  const api = await startApiServer({ portForwardTarget: () => ({ host: '127.0.0.1', port }) });
  api.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'bench-0', namespace: 'default' },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase: 'Running' },
  });
  const upstream = join(dir, 'upstream.kubeconfig');
  writeFileSync(
    upstream,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${api.url}\n    certificate-authority-data: ${Buffer.from(api.ca).toString('base64')}\nusers:\n- name: admin\n  user:\n    token: admin-token\ncontexts:\n- name: fake\n  context: {cluster: fake, user: admin, namespace: default}\ncurrent-context: fake\n`,
  );
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(dir, 'data'),
      kubeconfig: upstream,
      recording: { maxBodyBytes: 1024 * 1024, maxStreamBytes: 8 * 2 ** 30, sessionIdleSeconds: 30, failMode: 'closed', userDailyBytes: 0, diskReserveBytes: 0 },
    },
  );
  const kt = await startKubetape(config, { log: () => undefined });

  const decodeTap = Object.getOwnPropertyDescriptor(Exchange.prototype, 'decodeTap')!;
  const setDecoding = (on: boolean): void => {
    if (on) Object.defineProperty(Exchange.prototype, 'decodeTap', decodeTap);
    else Object.defineProperty(Exchange.prototype, 'decodeTap', { ...decodeTap, value: () => undefined });
  };
  // The tap is taken when a port-forward starts, so each mode gets its own kubectl port-forward.
  const results: Record<string, Record<'on' | 'off', number[]>> = { bulk: { on: [], off: [] }, many: { on: [], off: [] } };
  /** CPU seconds of this process per MiB forwarded. */
  const cpu: Record<string, Record<'on' | 'off', number[]>> = { bulk: { on: [], off: [] }, many: { on: [], off: [] } };
  const cpuSeconds = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  for (let round = -WARMUP; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      setDecoding(mode === 'on');
      const fwd = child('kubectl', ['--kubeconfig', kt.kubeconfigPath, 'port-forward', '--address', '127.0.0.1', 'bench-0', ':8080'], { HOME: dir });
      const p = Number((await firstMatch(fwd, /Forwarding from 127\.0\.0\.1:(\d+) ->/))[1]);
      const c0 = cpuSeconds();
      const bulk = await curl([`http://127.0.0.1:${p}/big?n=${BYTES}`]);
      const c1 = cpuSeconds();
      const many = await curl([`http://127.0.0.1:${p}/big?n=65536&i=[1-${REQUESTS}]`]);
      const c2 = cpuSeconds();
      if (round >= 0) {
        results.bulk[mode].push(bulk.bytes / bulk.seconds / 2 ** 20);
        results.many[mode].push(many.bytes / many.seconds / 2 ** 20);
        cpu.bulk[mode].push((c1 - c0) / (bulk.bytes / 2 ** 20));
        cpu.many[mode].push((c2 - c1) / (many.bytes / 2 ** 20));
      }
      process.stderr.write(
        `${round < 0 ? 'warm-up' : `round ${round + 1}`} decoding ${mode}: bulk ${(bulk.bytes / bulk.seconds / 2 ** 20).toFixed(1)} MiB/s, many ${(many.bytes / many.seconds / 2 ** 20).toFixed(1)} MiB/s\n`,
      );
      fwd.kill('SIGINT');
      await new Promise((r) => fwd.once('exit', r));
    }
  }
  const rows = Object.entries(results).map(([name, r]) => {
    const on = median(r.on);
    const off = median(r.off);
    const paired = median(r.on.map((x, i) => x / r.off[i]));
    const cpuRatio = median(cpu[name].on) / median(cpu[name].off);
    return `${name.padEnd(6)} ${off.toFixed(1).padStart(10)} ${on.toFixed(1).padStart(10)} ${(on / off).toFixed(3).padStart(10)} ${paired.toFixed(3).padStart(14)} ${cpuRatio.toFixed(3).padStart(16)}`;
  });
  process.stdout.write(`port-forward throughput through kubetape (MiB/s, median of ${ROUNDS}; bulk ${BYTES} B, many ${REQUESTS} x 64 KiB)\n`);
  process.stdout.write(
    `${'load'.padEnd(6)} ${'decode off'.padStart(10)} ${'decode on'.padStart(10)} ${'on/off'.padStart(10)} ${'round on/off'.padStart(14)} ${'CPU/MiB on/off'.padStart(16)}\n${rows.join('\n')}\n`,
  );
  await kt.close();
  await api.close();
}

main()
  .catch((e: Error) => {
    process.stderr.write(`bench failed: ${e.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
