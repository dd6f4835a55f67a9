// The cost of guardrails, in process: policy evaluation per request with
// the example policy and with 1,000 rules, and Secret masking on a 20 MB
// Secret list. Each figure comes with its baseline from the same run (no
// policy; JSON.parse + JSON.stringify of the same body without masking), so
// the ratios say what guardrails add. The list is masked the way kubetape
// relays it, streaming in 64 KiB chunks (StreamingSecretMasker: the most it
// holds at once is reported), and whole (maskJsonBody, still used for error
// bodies) for comparison.
//
//   npx tsc -p tsconfig.json && node dist/bench/policy.js
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parsePolicyText } from '../src/authorize/policy/load.js';
import { evaluatePolicy } from '../src/authorize/policy/evaluate.js';
import { maskJsonBody } from '../src/mask/mask-secrets.js';
import { StreamingSecretMasker } from '../src/mask/mask-list-stream.js';
import type { PolicyRequest } from '../src/authorize/policy/types.js';

const root = new URL('../../', import.meta.url);
const examplePolicy = parsePolicyText(readFileSync(new URL('examples/policy.yaml', root), 'utf8'), 'examples/policy.yaml');

// 1,000 rules that never match the requests below (so every one is checked), then the example policy.
const many = ['rules:'];
for (let i = 0; i < 1000; i++) {
  many.push(
    `  - name: team-${i}`,
    '    match:',
    `      namespace: team-${i}`,
    `      verb: [delete, patch]`,
    '      resource: [deployments, statefulsets]',
    '    action: deny',
    `    message: rule ${i}`,
  );
}
const manyPolicy = parsePolicyText(many.join('\n') + '\n', 'generated');

const requests: PolicyRequest[] = [
  { cluster: 'prod', user: 'alice', groups: ['dev'], verb: 'list', apiGroup: '', resource: 'pods', subresource: '', namespace: 'default', name: '' },
  { cluster: 'prod', user: 'alice', groups: ['dev'], verb: 'get', apiGroup: '', resource: 'secrets', subresource: '', namespace: 'default', name: 'db' },
  { cluster: 'prod', user: 'bob', groups: ['sre'], verb: 'delete', apiGroup: 'apps', resource: 'deployments', subresource: '', namespace: 'web', name: 'api' },
  {
    cluster: 'prod',
    user: 'bob',
    groups: ['sre'],
    verb: 'create',
    apiGroup: '',
    resource: 'pods',
    subresource: 'exec',
    namespace: 'prod',
    name: 'web-0',
    exec: { command: ['sh'], tty: true, stdin: true },
  },
];

function perCallMicros(fn: () => void, iterations: number): number {
  for (let i = 0; i < Math.min(10_000, iterations); i++) fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  return ((performance.now() - t0) * 1000) / iterations;
}

let sink = 0;
const evalWith = (policy: typeof examplePolicy) => () => {
  for (const r of requests) sink += evaluatePolicy(policy, r).action.length;
};
const example = perCallMicros(evalWith(examplePolicy), 200_000) / requests.length;
const thousand = perCallMicros(evalWith(manyPolicy), 2_000) / requests.length;

// A 20 MB SecretList: 2,000 Secrets with 10 KB of data each.
const items: Array<{ apiVersion: string; kind: string; metadata: Record<string, string>; type: string; data: { payload: string; user: string } }> = [];
for (let i = 0; i < 2000; i++) {
  items.push({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `s-${i}`, namespace: 'bulk', resourceVersion: String(i + 1), uid: `uid-${i}` },
    type: 'Opaque',
    data: { payload: Buffer.alloc(7500, i % 251).toString('base64'), user: Buffer.from('admin').toString('base64') },
  });
}
const body = JSON.stringify({ apiVersion: 'v1', kind: 'SecretList', metadata: { resourceVersion: '9999' }, items });
const timeMs = (fn: () => void, runs = 5) => {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(runs / 2)];
};
const baseline = timeMs(() => void (sink += JSON.stringify(JSON.parse(body)).length));

// Streaming, as the relay does it: 64 KiB chunks in, masked pieces out (written to the client, not kept).
const bodyBytes = Buffer.from(body);
const CHUNK = 64 * 1024;
const rssKiB = () => process.resourceUsage().maxRSS;
const rssBeforeStreaming = rssKiB();
let maxHeld = 0;
let leaked = false;
const streaming = timeMs(() => {
  const m = new StreamingSecretMasker();
  for (let off = 0; off < bodyBytes.length; off += CHUNK) {
    const out = m.write(bodyBytes.subarray(off, off + CHUNK));
    sink += out.length;
    // Output pieces hold whole items, so a value in clear would show up whole in one of them.
    if (out.includes(items[0].data.payload)) leaked = true;
  }
  sink += m.end().length;
  maxHeld = m.maxHeldBytes;
});
if (leaked) throw new Error('streaming masking left a Secret value in clear');
const rssAfterStreaming = rssKiB();

let masked = '';
const masking = timeMs(() => {
  const r = maskJsonBody(body);
  masked = r.text;
});
if (masked.includes(items[0].data.payload)) throw new Error('masking left a Secret value in clear');
const rssAfterWhole = rssKiB();

const mb = (Buffer.byteLength(body) / 1e6).toFixed(1);
console.log(`policy evaluation, per request (mean of ${requests.length} request shapes)`);
console.log(`  example policy (${examplePolicy.rules.length} rules)   ${example.toFixed(2)} µs`);
console.log(`  1,000 non-matching rules first  ${thousand.toFixed(2)} µs`);
console.log(`Secret masking on a ${mb} MB SecretList (2,000 Secrets), median of 5`);
console.log(`  parse + serialise, no masking   ${baseline.toFixed(0)} ms`);
const rate = (ms: number) => `${(ms / baseline).toFixed(2)}x the baseline, ${(Buffer.byteLength(body) / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
console.log(`  streaming (StreamingSecretMasker, 64 KiB chunks)  ${streaming.toFixed(0)} ms  (${rate(streaming)})`);
console.log(
  `    held at most ${(maxHeld / 1024).toFixed(1)} KiB at once (one item); peak RSS grew ${((rssAfterStreaming - rssBeforeStreaming) / 1024).toFixed(0)} MB`,
);
console.log(`  whole body (maskJsonBody)       ${masking.toFixed(0)} ms  (${rate(masking)})`);
console.log(`    holds the body, its parse and its output; peak RSS grew a further ${((rssAfterWhole - rssAfterStreaming) / 1024).toFixed(0)} MB`);
if (sink < 0) console.log(sink);
