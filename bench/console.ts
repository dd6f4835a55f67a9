// The console with many recordings: 10,000 sessions in the local store and
// one hour-long exec of 100,000 events. Prints how long the sessions API
// takes for a page (first, deep via the cursor, filtered) and walking all
// 10,000; then (bench/console-browser.ts) how long the list page takes in
// chromium to show its first page and the next, how long the player takes
// to open the big recording the first time (nothing cut or walked yet) and
// later, and to seek in it.
//
//   npx tsc -p tsconfig.json && node ui/build.mjs && node dist/bench/console.js
//
// This process runs the API server, kubetape and the API client; the page
// is driven from a child process (playwright's async hooks would slow every
// promise of kubetape's process). Figures are medians over a few runs, in
// milliseconds. BENCH_TRACE=1 prints what the page fetched and when.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'node:https';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startApiServer } from '../src/devcluster/index.js';
import { startKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { newSessionId, type RecordingStore } from '../src/store/store.js';
import { mintLoginLink } from '../src/console/login-links.js';
import { writeExecRecording, type Frame } from '../test/helpers/recorded-exec.js';
import { median } from './stats.js';

const SESSIONS = Number(process.env.SESSIONS ?? 10_000);
const BIG_EVENTS = Number(process.env.BIG_EVENTS ?? 100_000);
const TYPE_EVERY = Number(process.env.TYPE_EVERY ?? 50);
const USERS = ['dana@example.com', 'sam@example.com', 'lee@example.com', 'kim@example.com'];
const NAMESPACES = ['prod', 'staging', 'default', 'kube-system'];

function get(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

async function writeSessions(store: RecordingStore, n: number): Promise<void> {
  const start = Date.now() - n * 60_000;
  for (let i = 0; i < n; i++) {
    const at = start + i * 60_000;
    const id = newSessionId(at);
    const user = USERS[i % USERS.length];
    const ns = NAMESPACES[i % NAMESPACES.length];
    const time = new Date(at).toISOString();
    const w = await store.openSession({
      type: 'session.start',
      session: id,
      time,
      user,
      groups: ['dev'],
      authMethod: 'token',
      cluster: 'bench',
      source: '127.0.0.1',
      command: i % 10 === 0 ? 'kubectl exec' : 'kubectl get',
      userAgent: 'kubectl/v1.32.0 (linux/amd64) kubernetes/abc',
    });
    await w.append({
      type: 'request',
      session: id,
      seq: 1,
      time,
      method: 'GET',
      uri: `/api/v1/namespaces/${ns}/pods`,
      attrs: { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: ns, name: '', isResourceRequest: true } as never,
      headers: {},
      streaming: false,
    });
    await w.append({ type: 'response', session: id, seq: 1, time, status: 200, durationMs: 3, bytesIn: 0, bytesOut: 512 });
    await w.close({
      type: 'session.end',
      session: id,
      time,
      reason: 'idle',
      summary: { requests: 1, bytesIn: 0, bytesOut: 512, verbs: ['list'], namespaces: [ns], resources: ['pods'], errors: 0 },
    });
  }
}

/** One exec -it of an hour: typed commands, output, 100,000 stream events. */
function writeBigExec(store: RecordingStore, events: number): Promise<string> {
  const at = Date.now() - 3_600_000;
  const step = 3_600_000 / events;
  function* frames(): Generator<Frame> {
    yield { offsetMs: 0, channel: 'resize', data: '{"Width":120,"Height":40}' };
    let typed = 0;
    for (let i = 0; i < events - 1; i++) {
      const offsetMs = Math.round(i * step);
      if (i % TYPE_EVERY === 0) yield { offsetMs, channel: 'stdin', data: `cat /var/log/app-${typed++}.log\r` };
      else
        yield {
          offsetMs,
          channel: 'stdout',
          data: `\x1b[32m${new Date(at + offsetMs).toISOString()}\x1b[0m line ${i} of the log, some text to fill a terminal row\r\n`,
        };
    }
  }
  return writeExecRecording(store, frames(), { at });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-bench-console-'));
  const api = await startApiServer({});
  const { writeFileSync } = await import('node:fs');
  const tokens = join(dir, 'tokens.csv');
  writeFileSync(tokens, 'viewer-token,viewer@example.com,,"auditors"\n');
  const kubeconfig = join(dir, 'upstream.yaml');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: ${api.url}\n    certificate-authority-data: ${Buffer.from(api.ca).toString('base64')}\nusers:\n- name: b\n  user:\n    token: admin-token\ncontexts:\n- name: b\n  context: {cluster: b, user: b}\ncurrent-context: b\n`,
  );
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(dir, 'data'),
      kubeconfig,
      tokenFile: tokens,
      console: { viewers: [{ group: 'auditors' }], linkTtlSeconds: 300, sessionTtlSeconds: 3600 },
    },
  );
  const kt = await startKubetape(config, { log: () => undefined });
  try {
    const [t] = await timed(() => writeSessions(kt.store, SESSIONS));
    console.log(`wrote ${SESSIONS} sessions in ${ms(t)}`);
    const [tb, big] = await timed(() => writeBigExec(kt.store, BIG_EVENTS));
    console.log(`wrote one exec of ${BIG_EVENTS} events (one hour) in ${ms(tb)}`);
    // A second one, opened only in the page: the very first open (nothing walked, nothing cut yet).
    const unopened = await writeBigExec(kt.store, BIG_EVENTS);

    const call = (path: string) => get(`${kt.url}${path}`, kt.ca, 'viewer-token');
    const runs = async (path: string, n = 5): Promise<number> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const [d, r] = await timed(() => call(path));
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
        out.push(d);
      }
      return median(out);
    };
    console.log('\nsessions API, median of 5:');
    console.log(`  first page (100)                 ${ms(await runs('/kubetape/v1/sessions?limit=100'))}`);
    console.log(`  first page, user + namespace     ${ms(await runs('/kubetape/v1/sessions?limit=100&user=dana%40example.com&namespace=prod'))}`);
    console.log(`  free text q=exec                 ${ms(await runs('/kubetape/v1/sessions?limit=100&q=exec'))}`);
    let cursor: string | undefined;
    let pages = 0;
    let seen = 0;
    const [walk] = await timed(async () => {
      do {
        const r = await call(`/kubetape/v1/sessions?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        const page = JSON.parse(r.body) as { items: unknown[]; nextCursor?: string };
        seen += page.items.length;
        pages++;
        cursor = page.nextCursor;
      } while (cursor);
    });
    console.log(`  all ${seen} sessions, ${pages} pages of 1000 via the cursor: ${ms(walk)}`);

    console.log(`\nthe ${BIG_EVENTS}-event exec through the API, median of 3:`);
    // The first open walks the whole file; later ones find the verification cached (unchanged file and index).
    const [cold] = await timed(() => call(`/kubetape/v1/sessions/${big}`));
    console.log(`  summary + hash chain, first open  ${ms(cold)}`);
    console.log(`  summary + hash chain verified     ${ms(await runs(`/kubetape/v1/sessions/${big}`, 3))}`);
    console.log(`  events, no bodies (timeline)      ${ms(await runs(`/kubetape/v1/sessions/${big}/events?bodies=false`, 3))}`);
    console.log(`  events, types=request,response    ${ms(await runs(`/kubetape/v1/sessions/${big}/events?bodies=false&types=request,response`, 3))}`);
    console.log(`  cast (asciicast v2, markers)      ${ms(await runs(`/kubetape/v1/sessions/${big}/cast?seq=1&stdin=true`, 3))}`);
    // The player's source: the same cast cut into segments with screen snapshots (built once, then kept).
    const [cut, index] = await timed(() => call(`/kubetape/v1/sessions/${big}/player?stdin=true&idle=2`));
    const segments = (JSON.parse(index.body) as { segments: unknown[] }).segments.length;
    console.log(`  player index, first (cut into ${segments} segments) ${ms(cut)}`);
    console.log(`  player index, kept                ${ms(await runs(`/kubetape/v1/sessions/${big}/player?stdin=true&idle=2`, 3))}`);
    console.log(`  one segment                       ${ms(await runs(`/kubetape/v1/sessions/${big}/player/${segments >> 1}?stdin=true&idle=2`, 3))}`);

    // The page is driven from a process of its own: playwright turns on async hooks (AsyncLocalStorage)
    // that make every promise of the process that loads it slower, and kubetape here is no such process.
    const link = mintLoginLink(join(dir, 'data'), { user: 'viewer@example.com', groups: ['auditors'] }, 300);
    const child = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'console-browser.js')], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        BENCH_URL: kt.url,
        BENCH_LINK: link,
        BENCH_BIG: big,
        BENCH_UNOPENED: unopened,
        BENCH_SESSIONS: String(SESSIONS),
        BENCH_EVENTS: String(BIG_EVENTS),
      },
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the browser half of the bench exited with ${code}`);
  } finally {
    await kt.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
