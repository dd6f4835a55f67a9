// 10 MB of stdin and 10 MB of different stdout through kubetape, byte for
// byte, for two client x cluster pairs that need translating (WebSocket v5
// client to a SPDY-only cluster, SPDY client to a WebSocket cluster). Three
// witnesses per direction: what kubectl sent or saw, what the process in
// the cluster read or wrote (files beside it), and what the recording holds.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlBinary, recorded, settledStreamExchanges, startStreamHarness } from './helpers/streams.js';

const MB10 = 10 * 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const PAIRS = [
  { name: 'kubectl 1.32 (WebSocket v5) -> SPDY-only cluster', minor: '32', webSocket: false, client: 'websocket' },
  { name: 'kubectl 1.29 (SPDY) -> WebSocket cluster', minor: '29', webSocket: true, client: 'spdy' },
] as const;

const dir = mkdtempSync(join(tmpdir(), 'kt-large-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

for (const pair of PAIRS) {
  t.test(`10 MB each way, ${pair.name}`, async (t) => {
    // Both channels count towards the per-exchange limit: leave room for 20 MB and more.
    const s = await startStreamHarness({
      minor: pair.minor,
      upstream: { webSocket: pair.webSocket },
      config: { recording: { maxBodyBytes: 1024 * 1024, maxStreamBytes: 256 * 1024 * 1024, sessionIdleSeconds: 30, failMode: 'closed' } },
    });
    t.teardown(() => s.close());
    const input = randomBytes(MB10);
    const output = randomBytes(MB10);
    const received = join(dir, `${pair.minor}-received.bin`);
    const toSend = join(dir, `${pair.minor}-send.bin`);
    writeFileSync(toSend, output);
    const script = `cat > '${received}' && cat '${toSend}'`;
    const r = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'sh', '-c', script], { input, timeoutMs: 120_000 });
    t.equal(r.code, 0, r.stderr);

    const clusterRead = readFileSync(received);
    t.equal(clusterRead.length, MB10, 'the cluster read every byte of stdin');
    t.equal(sha(clusterRead), sha(input), 'the cluster read exactly what kubectl sent');
    t.equal(r.stdout.length, MB10, 'kubectl saw every byte of stdout');
    t.equal(sha(r.stdout), sha(output), 'kubectl saw exactly what the cluster wrote');

    const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command[2] === script, 1, 30_000);
    t.match(x.response?.streamProtocol?.client, new RegExp(`^${pair.client} `));
    t.equal(x.response?.exitCode, 0);
    t.notOk(
      x.streams.some((e) => e.truncated),
      'nothing was cut at the recording limit',
    );
    t.equal(sha(recorded(x, 'stdin')), sha(input), 'the recording holds the stdin sent');
    t.equal(sha(recorded(x, 'stdout')), sha(output), 'the recording holds the stdout seen');
    t.equal(x.response?.streamBytes?.stdin, MB10);
    t.equal(x.response?.streamBytes?.stdout, MB10);
  });
}
