// Line-level rules for interactive shells: the real kubectl on a real
// terminal, through kubetape, into a real shell behind the fake cluster.
// A denied line closes the session before its Enter reaches the cluster.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlOnPty, recorded, settledStreamExchanges, startStreamHarness } from './helpers/streams.js';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import { LineEditor, TypedLineGuard } from '../src/forward/streams/typed-line.js';

const dir = mkdtempSync(join(tmpdir(), 'typed-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const policy = parsePolicyObject({
  rules: [
    {
      name: 'shell-guard',
      match: { subresource: ['exec', 'attach'], tty: true },
      action: 'allow',
      typed: [
        { regex: '^\\s*rm\\s+-[a-z]*r[a-z]*f', action: 'deny', message: 'recursive force delete is not allowed in a shell here' },
        { prefix: 'shutdown', action: 'deny', message: 'no shutdown' },
      ],
    },
  ],
});

t.test('the line editor rebuilds what was typed', async (t) => {
  const lines: string[] = [];
  const e = new LineEditor();
  const feed = (s: string) => {
    for (const b of Buffer.from(s)) {
      const l = e.push(b);
      if (l !== undefined) lines.push(l);
    }
  };
  feed('lx\x7fs -l\r');
  feed('garbage\x15echo ok\n');
  feed('abc\x03pwd\r\n');
  feed('ls\x1b[D\x1b[Cx\r');
  feed('rm -rf foo\x17bar\r');
  feed('héé\x7f\r');
  t.same(lines, ['ls -l', 'echo ok', 'pwd', 'lsx', 'rm -rf bar', 'hé']);
  const g = new TypedLineGuard({ rule: 'r', lines: policy.rules[0].typed! });
  t.same(g.inspect(Buffer.from('echo rm -rf /\r')).denial, undefined, 'only the start of the line is matched by this regex');
  const hit = g.inspect(Buffer.from('r\x7frm -rf /\rmore'));
  t.equal(hit.forward.toString(), 'r\x7frm -rf /', 'bytes up to the Enter may go on, the Enter may not');
  t.match(hit.denial, { line: 'rm -rf /', rule: 'r', message: 'recursive force delete is not allowed in a shell here' });
});

t.test('typed rules are validated at load', async (t) => {
  t.throws(
    () => parsePolicyObject({ rules: [{ match: { verb: 'get' }, action: 'allow', typed: [{ exact: 'x', action: 'deny', message: 'm' }] }] }),
    /"typed" needs "tty: true"/,
  );
  t.throws(
    () => parsePolicyObject({ rules: [{ match: { tty: true }, action: 'allow', typed: [{ exact: 'x', action: 'allow', message: 'm' }] }] }),
    /action must be "deny"/,
  );
  t.throws(
    () => parsePolicyObject({ rules: [{ match: { tty: true }, action: 'allow', typed: [{ regex: '(', action: 'deny', message: 'm' }] }] }),
    /invalid regex/,
  );
});

for (const run of [
  { name: 'kubectl 1.32 (WebSocket)', minor: '32', webSocket: true },
  { name: 'kubectl 1.29 (SPDY)', minor: '29', webSocket: false },
] as const)
  t.test(`exec -it: a denied line closes the session with the message; allowed lines run: ${run.name}`, async (t) => {
    const s = await startStreamHarness({ minor: run.minor, upstream: { webSocket: run.webSocket }, config: { policy } });
    t.teardown(() => s.close());
    const victim = join(dir, `victim-${run.minor}`);
    mkdirSync(victim);
    const term = kubectlOnPty(s.h.kubeconfig, ['exec', '-it', 'web-0', '--', 'sh'], { width: 100, height: 30 });
    await term.waitFor(/[#$] $/);
    term.send('echo ok-$((6*7))\r');
    await term.waitFor(/\r\nok-42\r\n/);
    term.send(`rm -rf ${victim}\r`);
    await term.waitFor(/\r\nkubetape: recursive force delete is not allowed in a shell here\r\n/);
    const done = await term.done;
    t.not(done.code, 0, 'kubectl exits with an error');
    t.match(done.output, /typed line refused by policy rule "shell-guard"/, 'kubectl prints the Failure Status');
    t.ok(existsSync(victim), 'the command never ran on the cluster');

    const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.tty === true);
    t.same(x.response?.typed, { line: `rm -rf ${victim}`, rule: 'shell-guard', message: 'recursive force delete is not allowed in a shell here' });
    t.match(recorded(x, 'stdin').toString(), `rm -rf ${victim}\r`, 'the attempt is recorded');
    t.match(recorded(x, 'stdout').toString(), 'kubetape: recursive force delete is not allowed in a shell here', 'the message is recorded');
    t.match(recorded(x, 'status').toString(), /"reason":"Forbidden"/, 'the Failure Status sent to the client is recorded');
  });
