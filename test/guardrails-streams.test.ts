// Guardrails on exec, attach and port-forward, with the real kubectl through
// kubetape into a fake cluster whose pods run real processes: the decision
// recorded on the request event, `hold:` keeping the upgrade waiting for an
// approval, and `masking.inline` masking credentials in the output kubectl
// prints (split across writes, both client transports, tty or not).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cliFromSource,
  kubectlBinary,
  kubectlOnPty,
  recorded,
  settledStreamExchanges,
  startStreamHarness,
  streamExchanges,
  type StreamExchange,
  type StreamHarness,
} from './helpers/streams.js';
import { writeKubeconfig } from './helpers/kubectl.js';
import { runningPod } from './helpers/stream-upstream.js';
import { parsePolicyObject, parsePolicyText } from '../src/authorize/policy/load.js';
import { InlineMasker, INLINE_IDLE_MS } from '../src/forward/streams/inline-mask.js';

const dir = mkdtempSync(join(tmpdir(), 'guard-streams-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const TICKET = 'tk_abcdefghijklmnopqrstuvwx';

const POLICY = `rules:
  - name: no-rm
    match: { subresource: exec, command: { prefix: "rm " } }
    action: deny
    message: no rm here
  - name: no-attach
    match: { subresource: attach, name: web-1 }
    action: deny
    message: no attach here
  - name: no-forward-web-1
    match: { subresource: portforward, name: web-1 }
    action: deny
    message: no port-forward to web-1
  - name: held-exec
    match: { subresource: exec, name: [held-0, held-1, held-2, held-3] }
    action: require-approval
    approvers: [sre]
    hold: 30s
  - name: short-hold
    match: { subresource: exec, name: held-9 }
    action: require-approval
    approvers: [sre]
    hold: 2s
  - name: gated-exec
    match: { subresource: exec, name: gated-0 }
    action: require-approval
    approvers: [sre]
  - name: echo-ok
    match: { subresource: exec, command: { prefix: echo } }
    action: allow
  - name: forward-ok
    match: { subresource: portforward, name: web-0 }
    action: allow
  - name: held-forward
    match: { subresource: portforward, name: held-0 }
    action: require-approval
    approvers: [sre]
    hold: 30s
masking:
  patterns: [aws-access-key-id, private-key, bearer-token, jwt, { name: ticket, regex: 'tk_[a-z0-9]{24}' }]
  # Longer than the 100 ms default so a split write survives a loaded CI machine's scheduling.
  inline: { exceptGroups: [sre], maxHold: 500ms }
`;

let s: StreamHarness;
let dev: string; // dana, group dev
let sre: string; // sam, group sre
t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  s = await startStreamHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml') } });
  for (const p of ['web-1', 'held-0', 'held-1', 'held-2', 'held-3', 'held-9', 'gated-0']) s.h.api.objects.put(runningPod(p) as never);
  dev = writeKubeconfig(s.h.dir, { server: s.h.kt.url, ca: s.h.kt.ca, token: 'dev-token', name: 'dev' });
  sre = writeKubeconfig(s.h.dir, { server: s.h.kt.url, ca: s.h.kt.ca, token: 'sre-token', name: 'sre' });
});
t.teardown(() => s.close());

const onPod = (pod: string) => (x: StreamExchange) => x.request.attrs.name === pod;
const idIn = (text: string) => /approval id (ap-[0-9a-f]+)/.exec(text)?.[1];
const approvalLog = () => {
  try {
    return readFileSync(join(s.h.dataDir, 'approvals.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; id: string; what?: string; grant?: unknown });
  } catch {
    return [];
  }
};

async function pendingIdFor(pod: string, ms = 15_000, kind = 'exec'): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const e = approvalLog().find((l) => l.type === 'request' && l.what === `${kind} into default/${pod}`);
    if (e) return e.id;
    if (Date.now() > end) throw new Error(`no approval request for ${pod}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('refused exec, attach and port-forward carry the deciding rule on the request event; so does an allowed exec', async (t) => {
  const before = s.up.seen.length;
  const rm = await kubectlBinary(dev, ['exec', 'web-0', '--', 'rm', '-rf', '/tmp/nothing']);
  t.not(rm.code, 0);
  t.match(rm.stderr, /no rm here \(kubetape policy rule "no-rm"\)/);
  const attach = await kubectlBinary(dev, ['attach', 'web-1']);
  t.not(attach.code, 0);
  t.match(attach.stderr, /no attach here/);
  const pf = await kubectlBinary(dev, ['port-forward', 'pod/web-1', ':80']);
  t.not(pf.code, 0);
  t.match(pf.stderr, /no port-forward to web-1/);
  const gated = await kubectlBinary(dev, ['exec', 'gated-0', '--', 'true']);
  t.not(gated.code, 0);
  const id = idIn(gated.stderr);
  t.ok(id, `the refusal names the approval id: ${gated.stderr}`);
  t.equal(s.up.seen.length, before, 'nothing refused was dialed');

  const xs = await streamExchanges(s.h.kt.store);
  const check = (what: string, pred: (x: StreamExchange) => boolean, policy: object) => {
    const found = xs.filter(pred);
    t.ok(found.length >= 1, `${what} is recorded`);
    for (const x of found) {
      t.same(x.request.policy, policy, `${what}: policy on the request event`);
      t.equal(x.response?.status, 403, `${what}: recorded as refused`);
    }
  };
  check('exec rm', (x) => x.request.exec?.command[0] === 'rm', { action: 'deny', rule: 'no-rm', index: 1 });
  check('attach', (x) => x.request.attrs.subresource === 'attach', { action: 'deny', rule: 'no-attach', index: 2 });
  check('port-forward', (x) => x.request.portForward !== undefined && x.request.attrs.name === 'web-1', { action: 'deny', rule: 'no-forward-web-1', index: 3 });
  check('exec needing approval', onPod('gated-0'), { action: 'require-approval', rule: 'gated-exec', index: 6, approval: { id } });

  const ok = await kubectlBinary(dev, ['exec', 'web-0', '--', 'echo', 'allowed']);
  t.equal(ok.stdout.toString(), 'allowed\n');
  const [allowed] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command[0] === 'echo');
  t.same(allowed.request.policy, { action: 'allow', rule: 'echo-ok', index: 7 });
  t.equal(allowed.response?.status, 101);

  const [show] = await cliFromSource([['sessions', 'show', allowed.session, '--data-dir', s.h.dataDir]]);
  t.match(show.stdout.toString(), /policy allow "echo-ok"/, 'sessions show names the rule');
});

for (const run of [
  { name: 'kubectl 1.32 WebSocket', pod: 'held-0', env: {}, transport: 'websocket' },
  { name: 'kubectl 1.32 SPDY', pod: 'held-3', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, transport: 'spdy' },
] as const)
  t.test(`a held exec waits past 3 s with nothing dialed, then runs once approved: ${run.name}`, async (t) => {
    const before = s.up.seen.length;
    const started = Date.now();
    const held = kubectlBinary(dev, ['exec', run.pod, '--', 'sh', '-c', 'echo ran-$((6*7))'], { env: run.env });
    const id = await pendingIdFor(run.pod);
    await new Promise((r) => setTimeout(r, 3500));
    t.equal(s.up.seen.length, before, 'nothing dialed while held');
    t.same((await streamExchanges(s.h.kt.store)).filter(onPod(run.pod)), [], 'no refusal or fallback attempt was recorded while held');
    const ok = await cliFromSource([['approvals', 'approve', id, '--once', '--kubeconfig', sre]]);
    t.equal(ok[0].code, 0, ok[0].stderr);
    const r = await held;
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.toString(), 'ran-42\n', 'the command ran after the approval');
    t.ok(Date.now() - started < 25_000, 'released by the approval, not the hold running out');
    t.equal(s.up.seen.at(-1)?.transport, 'websocket', 'kubetape dialed the cluster after the approval');
    const xs = await settledStreamExchanges(s.h.kt.store, onPod(run.pod));
    t.equal(xs.length, 1, 'one upgrade request: the held one (no fallback retry)');
    t.equal(xs[0].response?.status, 101);
    const grant = approvalLog().find((l) => l.type === 'decision' && l.id === id)?.grant as { grant: string } | undefined;
    t.same(xs[0].request.policy, { action: 'require-approval', rule: 'held-exec', index: 4, approval: { id, grant: grant?.grant } });
    t.ok(
      approvalLog().some((l) => l.type === 'use' && l.id === id),
      'the grant is recorded as used',
    );
    t.match(xs[0].request.headers['upgrade'] ?? '', run.transport === 'websocket' ? /websocket/i : /SPDY/);
  });

t.test('a held exec denied while waiting gets 403', async (t) => {
  const held = kubectlBinary(dev, ['exec', 'held-1', '--', 'true']);
  const id = await pendingIdFor('held-1');
  const no = await cliFromSource([['approvals', 'deny', id, '--reason', 'not now', '--kubeconfig', sre]]);
  t.equal(no[0].code, 0, no[0].stderr);
  const r = await held;
  t.not(r.code, 0);
  t.match(r.stderr, /denied by sam \(not now\)/);
  const xs = await settledStreamExchanges(s.h.kt.store, onPod('held-1'));
  for (const x of xs) t.same(x.request.policy, { action: 'require-approval', rule: 'held-exec', index: 4, approval: { id } });
});

t.test('a hold that runs out answers 403 with the approval id, once (the SPDY fallback is not held again)', async (t) => {
  const started = Date.now();
  const r = await kubectlBinary(dev, ['exec', 'held-9', '--', 'true']);
  const took = Date.now() - started;
  t.not(r.code, 0);
  t.match(r.stderr, /approval id ap-[0-9a-f]+.*held 2s without a decision/);
  t.ok(took >= 2000 && took < 3900, `held once, about 2 s (took ${took} ms)`);
  const xs = await settledStreamExchanges(s.h.kt.store, onPod('held-9'));
  t.ok(xs.every((x) => x.response?.status === 403 && x.request.policy?.approval?.id === idIn(r.stderr)));
});

t.test('a client that goes away while held stops the wait; nothing is dialed and no grant is used', async (t) => {
  const before = s.up.seen.length;
  const gone = kubectlBinary(dev, ['exec', 'held-2', '--', 'true'], { timeoutMs: 2500 }).then(
    () => 'finished',
    () => 'killed',
  );
  const id = await pendingIdFor('held-2');
  t.equal(await gone, 'killed');
  const killedAt = Date.now();
  const [x] = await settledStreamExchanges(s.h.kt.store, onPod('held-2'), 1, 5000);
  t.ok(Date.now() - killedAt < 3000, 'the wait ended soon after the client left');
  t.equal(x.response?.status, 499);
  t.match(x.response?.error, /went away while the request was held/);
  t.same(x.request.policy, { action: 'require-approval', rule: 'held-exec', index: 4, approval: { id } });
  const ok = await cliFromSource([['approvals', 'approve', id, '--once', '--kubeconfig', sre]]);
  t.equal(ok[0].code, 0, ok[0].stderr);
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(
    approvalLog().some((l) => l.type === 'use' && l.id === id),
    'the approval store shows no use',
  );
  t.equal(s.up.seen.length, before, 'nothing was dialed');
});

async function portForward(t: { teardown(f: () => unknown): void }, pod: string, env: NodeJS.ProcessEnv): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), 'kt-pf-'));
  const child = spawn('kubectl', ['--kubeconfig', dev, '--cache-dir', join(home, 'cache'), 'port-forward', '--address', '127.0.0.1', pod, ':80'], {
    env: { ...process.env, HOME: home, ...env },
  });
  const exited = new Promise((r) => child.on('close', r));
  t.teardown(async () => {
    child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${stderr}`)), 40_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then(() => reject(new Error(`port-forward exited: ${stderr}`)));
  });
}

function echoThrough(port: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString()));
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
    sock.end(text);
  });
}

for (const run of [
  { name: 'WebSocket tunnel', env: {} },
  { name: 'SPDY', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } },
] as const)
  t.test(`an allowed port-forward under the policy carries its rule and forwards bytes: ${run.name}`, async (t) => {
    const port = await portForward(t, 'web-0', run.env);
    t.equal(await echoThrough(port, 'through the policy'), 'through the policy');
    // The request event is durable before anything is dialed; the exchange finishes when kubectl stops.
    const open = (await streamExchanges(s.h.kt.store)).filter((x) => x.request.portForward !== undefined && x.request.attrs.name === 'web-0');
    t.ok(open.length > 0);
    t.match(open.at(-1)!.request.headers['upgrade'] ?? '', run.name === 'SPDY' ? /SPDY/ : /websocket/i);
    t.same(open.at(-1)!.request.policy, { action: 'allow', rule: 'forward-ok', index: 8 });
  });

t.test('a held port-forward starts once approved', async (t) => {
  const before = s.up.seen.length;
  const started = portForward(t, 'held-0', {});
  const id = await pendingIdFor('held-0', 15_000, 'portforward');
  t.equal(s.up.seen.length, before, 'nothing dialed while held');
  const ok = await cliFromSource([['approvals', 'approve', id, '--for', '10m', '--kubeconfig', sre]]);
  t.equal(ok[0].code, 0, ok[0].stderr);
  const port = await started;
  t.equal(await echoThrough(port, 'approved bytes'), 'approved bytes');
  const [x] = (await streamExchanges(s.h.kt.store)).filter((x) => x.request.portForward !== undefined && x.request.attrs.name === 'held-0');
  t.match(x.request.policy, { action: 'require-approval', rule: 'held-forward', index: 9, approval: { id, grant: /^g-/ } });
});

t.test('attach output is masked inline too', async (t) => {
  const r = await kubectlBinary(dev, ['attach', '-i', 'web-0'], { input: `id ${AWS_KEY} and ${JWT}\n` });
  t.equal(r.stdout.toString(), 'id [masked] and [masked]\n');
});

const SPLIT_KEY = `printf AKIA; sleep 0.05; printf IOSFODNN7EXAMPLE"\\n"`;
const MIXED = [
  `printf 'jwt ${JWT} end\\n'`,
  `printf -- '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n'`,
  'sleep 0.03',
  `printf -- 'abcdefgh\\n-----END PRIVATE KEY-----\\nafter\\n'`,
  `echo "Authorization: Bearer abcdefghijklmnop ${TICKET}" >&2`,
].join('; ');

for (const client of [
  { name: 'WebSocket', env: {} },
  { name: 'SPDY', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } },
] as const)
  t.test(`inline masking of what kubectl prints: ${client.name}`, async (t) => {
    const split = await kubectlBinary(dev, ['exec', 'web-0', '--', 'sh', '-c', SPLIT_KEY], { env: client.env });
    t.equal(split.code, 0, split.stderr);
    t.equal(split.stdout.toString(), '[masked]\n', 'a key id split across writes is masked in stdout');

    const mixed = await kubectlBinary(dev, ['exec', 'web-0', '--', 'sh', '-c', MIXED], { env: client.env });
    t.equal(mixed.code, 0, mixed.stderr);
    t.equal(mixed.stdout.toString(), 'jwt [masked] end\n[masked]\nafter\n', 'a JWT and a private key block are masked');
    t.match(mixed.stderr, 'Authorization: Bearer [masked] [masked]', 'stderr too, custom patterns included');
    t.notMatch(mixed.stderr, /abcdefghijklmnop|tk_/);

    const exempt = await kubectlBinary(sre, ['exec', 'web-0', '--', 'sh', '-c', SPLIT_KEY], { env: client.env });
    t.equal(exempt.stdout.toString(), `${AWS_KEY}\n`, 'an exempt group sees the output as sent');

    const xs = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.command.join(' ') === `sh -c ${SPLIT_KEY}`, 2);
    for (const x of xs) {
      t.notMatch(recorded(x, 'stdout').toString(), AWS_KEY, 'the recording stays masked');
      t.match(recorded(x, 'stdout').toString(), '[masked]');
    }
  });

t.test('inline masking keeps binary and non-UTF-8 output byte-exact', async (t) => {
  const random = randomBytes(1024 * 1024);
  const r = await kubectlBinary(dev, ['exec', '-i', 'web-0', '--', 'cat'], { input: random });
  t.equal(r.code, 0, r.stderr);
  t.ok(r.stdout.equals(random), 'random bytes come back unchanged');
  const latin1 = Buffer.from('caf\xe9 cr\xe8me br\xfbl\xe9e, AKIA \xff\xfe\n'.repeat(2000), 'latin1');
  const l = await kubectlBinary(dev, ['exec', '-i', 'web-0', '--', 'cat'], { input: latin1 });
  t.ok(l.stdout.equals(latin1), 'text that is not UTF-8 comes back unchanged');
});

t.test('a tty prompt and echoed keystrokes arrive without waiting for more output', async (t) => {
  const term = kubectlOnPty(dev, ['exec', '-it', 'web-0', '--', 'sh', '-c', `printf 'pick-A'; read x; echo "got $x ${AWS_KEY}"; read y`], {
    width: 80,
    height: 24,
  });
  await term.waitFor(/pick-A/, 10_000);
  const sent = Date.now();
  term.send('A');
  await term.waitFor(/pick-AA/, 3000);
  t.ok(Date.now() - sent < 1500, `an echoed keystroke that could start a key id shows within the hold bound, 500 ms here (${Date.now() - sent} ms)`);
  term.send('\r');
  await term.waitFor(/got A \[masked\]/, 5000);
  t.notMatch(term.output(), AWS_KEY, 'the key is masked on the terminal');
  term.send('\r');
  const done = await term.done;
  t.equal(done.code, 0);
});

t.test('inline is off by default: kubectl sees the output, the recording is masked', async (t) => {
  const plain = await startStreamHarness({ config: { policy: parsePolicyObject({ masking: { patterns: ['aws-access-key-id'] } }) } });
  t.teardown(() => plain.close());
  const r = await kubectlBinary(plain.h.kubeconfig, ['exec', 'web-0', '--', 'sh', '-c', SPLIT_KEY]);
  t.equal(r.stdout.toString(), `${AWS_KEY}\n`);
  const [x] = await settledStreamExchanges(plain.h.kt.store, () => true);
  t.equal(recorded(x, 'stdout').toString(), '[masked]\n');
});

t.test('masking.inline is validated at load with its line', async (t) => {
  t.throws(() => parsePolicyText('masking:\n  patterns: [jwt]\n  inline: yes-please\n', 'p.yaml'), /p\.yaml:3: inline must be true, false or \{exceptGroups/);
  t.throws(
    () => parsePolicyText('masking:\n  inline: true\n', 'p.yaml'),
    /p\.yaml:2: "inline" masks exec\/attach output with masking.patterns, and there are none/,
  );
  t.throws(
    () => parsePolicyText('masking:\n  patterns: [jwt]\n  inline:\n    exceptGroup: [sre]\n', 'p.yaml'),
    /p\.yaml:4: unknown key "masking.inline.exceptGroup"/,
  );
  t.same(parsePolicyText('masking:\n  patterns: [jwt]\n  inline: {exceptGroups: sre}\n', 'p.yaml').inline, {
    exceptGroups: ['sre'],
    maxHoldMs: INLINE_IDLE_MS,
  });
  t.same(parsePolicyText('masking:\n  patterns: [jwt]\n  inline: {maxHold: 250ms}\n', 'p.yaml').inline, { exceptGroups: [], maxHoldMs: 250 });
  t.throws(
    () => parsePolicyText('masking:\n  patterns: [jwt]\n  inline:\n    maxHold: 5s\n', 'p.yaml'),
    /p\.yaml:4: maxHold must be a duration from 10ms to 2s, got "5s"/,
  );
  t.equal(parsePolicyText('masking:\n  patterns: [jwt]\n', 'p.yaml').inline, undefined);
});

t.test('the inline masker: held tails, idle flush, key blocks, exact bytes', async (t) => {
  const patterns = parsePolicyObject({ masking: { patterns: ['aws-access-key-id', 'private-key', 'bearer-token', 'jwt'] } }).patterns;
  const out: Buffer[] = [];
  const text = () => Buffer.concat(out.splice(0)).toString('latin1');
  const m = new InlineMasker(patterns, (b) => out.push(b));
  m.push(Buffer.from('$ ls\r\n'));
  t.equal(text(), '$ ls\r\n', 'output that cannot become a credential is not held');
  m.push(Buffer.from('Authorization: Bearer '));
  m.push(Buffer.from('abcdefghijkl\n'));
  t.equal(text(), 'Authorization: Bearer [masked]\n');
  m.push(Buffer.from('-----BEGIN RSA PRIV'));
  m.push(Buffer.from('ATE KEY-----\nMIIabc\n'));
  t.equal(text(), '[masked]', 'the mask goes out as soon as the BEGIN line is complete');
  m.push(Buffer.from('xyz\n-----END RSA PRIV'));
  m.push(Buffer.from('ATE KEY-----\nafter\n'));
  t.equal(text(), '\nafter\n', 'swallowed up to the END line, split or not');
  m.push(Buffer.from('prompt-A'));
  t.equal(text(), 'prompt-');
  await new Promise((r) => setTimeout(r, INLINE_IDLE_MS + 50));
  t.equal(text(), 'A', 'a held tail goes out after the idle bound');
  m.push(Buffer.from('$ A'));
  await new Promise((r) => setTimeout(r, INLINE_IDLE_MS / 2));
  m.push(Buffer.from('K'));
  await new Promise((r) => setTimeout(r, INLINE_IDLE_MS / 2 + 30));
  t.equal(text(), '$ AK', 'more output does not restart the bound: nothing waits longer than it');
  const odd = Buffer.from([0xff, 0xfe, 0x41, 0x4b, 0x49, 0x41, 0xc3]);
  m.push(odd);
  m.flush();
  t.ok(Buffer.concat(out.splice(0)).equals(odd), 'bytes that are not UTF-8 pass unchanged');
  m.close();
});
