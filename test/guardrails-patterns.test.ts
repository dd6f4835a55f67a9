// Credential patterns masked in what kubetape stores, even when a
// credential arrives split across chunks: a followed log and exec output.
// The client still gets its bytes unchanged (masking here is for the recording).
import t from 'tap';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, spawnKubectl } from './helpers/kubectl.js';
import { sessionEvents } from './helpers/recordings.js';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import { PATTERN_MASK } from '../src/mask/patterns.js';

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const KEY_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';

let h: Harness;
t.before(async () => {
  const policy = parsePolicyObject({
    masking: { patterns: ['aws-access-key-id', 'private-key', 'bearer-token', 'jwt', { name: 'internal', regex: 'itk_[a-z0-9]{12}' }] },
  });
  h = await startHarness({ config: { policy } });
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'logger', namespace: 'default' },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  });
});
t.teardown(() => h.close());

async function storedText(): Promise<string> {
  let all = '';
  for (const s of await h.kt.store.listSessions()) {
    for (const e of await sessionEvents(h.kt.store, s.id)) {
      if ((e.type === 'response.chunk' || e.type === 'stream') && e.encoding === 'base64') all += Buffer.from(e.data, 'base64').toString('utf8');
      else all += JSON.stringify(e);
    }
  }
  return all;
}

async function execStdout(): Promise<string> {
  let out = '';
  for (const s of await h.kt.store.listSessions()) {
    for (const e of await sessionEvents(h.kt.store, s.id)) {
      if (e.type === 'stream' && e.channel === 'stdout') out += e.encoding === 'base64' ? Buffer.from(e.data, 'base64').toString('utf8') : e.data;
    }
  }
  return out;
}

const waitFor = async (pred: () => Promise<boolean>, what: string) => {
  const deadline = Date.now() + 5000;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

t.test('a followed log: a private key block spread over several chunks is masked in the recording', async (t) => {
  h.api.logs.set('default', 'logger', 'app', ['starting']);
  const f = spawnKubectl(['logs', '-f', 'logger'], { kubeconfig: h.kubeconfig });
  const lines: string[] = [];
  const it = f.lines[Symbol.asyncIterator]();
  const next = async () => lines.push((await it.next()).value as string);
  await next();
  // Each append reaches kubetape as its own chunk.
  for (const l of [
    '-----BEGIN PRIVATE KEY-----',
    KEY_BODY,
    '-----END PRIVATE KEY-----',
    `token ${JWT} and itk_abcdef123456`,
    `Authorization: Bearer s3cr3t-t0ken-value`,
  ]) {
    h.api.logs.append('default', 'logger', 'app', l);
    await next();
    await new Promise((r) => setTimeout(r, 30));
  }
  h.api.logs.end('default', 'logger', 'app');
  const done = await f.done;
  t.equal(done.code, 0);
  t.ok(lines.includes(KEY_BODY), 'the client gets the log as it is');
  let stored = '';
  await waitFor(async () => (stored = await storedText()).includes('Authorization: Bearer'), 'the log recording');
  t.notMatch(stored, KEY_BODY, 'the key block is not stored');
  t.notMatch(stored, JWT, 'the JWT is not stored');
  t.notMatch(stored, 'itk_abcdef123456', 'the custom pattern is not stored');
  t.notMatch(stored, 's3cr3t-t0ken-value', 'the bearer token is not stored');
  t.match(stored, `Authorization: Bearer ${PATTERN_MASK}`);
  t.match(stored, 'starting', 'ordinary lines are kept');
});

t.test('exec output: an AWS key split across two writes is masked in the recording', async (t) => {
  const half = AWS_KEY.slice(0, 9);
  const rest = AWS_KEY.slice(9);
  const r = await kubectl(['exec', 'logger', '--', 'sh', '-c', `printf 'key=${half}'; sleep 0.3; printf '${rest} done\\n'`], { kubeconfig: h.kubeconfig });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `key=${AWS_KEY} done\n`, 'the client gets the output as it is');
  let stored = '';
  await waitFor(async () => (stored = await storedText()).includes(' done'), 'the exec recording');
  t.notMatch(stored, AWS_KEY, 'the key is not stored');
  // The command line (which holds the two halves) is recorded as asked; the output is what must not hold the key.
  const stdout = await execStdout();
  t.equal(stdout, `key=${PATTERN_MASK} done\n`, 'the stored stdout has the joined key masked');
});

t.test('a plain (non-streaming) response body is masked when stored', async (t) => {
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'leaky', namespace: 'default' }, data: { creds: `aws ${AWS_KEY}` } });
  const r = await kubectl(['get', 'configmap', 'leaky', '-o', 'json'], { kubeconfig: h.kubeconfig });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, AWS_KEY);
  let stored = '';
  await waitFor(async () => (stored = await storedText()).includes('leaky'), 'the get recording');
  t.notMatch(stored, AWS_KEY);
});
