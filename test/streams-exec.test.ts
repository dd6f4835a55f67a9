// kubectl exec through kubetape, across the protocol matrix: kubectl 1.32
// (WebSocket v5), 1.29 (SPDY) and 1.32 forced to SPDY, against a cluster
// that speaks WebSocket and one that refuses it (SPDY only). Exit codes,
// stderr, stdin EOF and 1 MB of binary stdin/stdout must survive the
// translation, and the recording must hold exactly what was forwarded.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import { cliFromSource, kubectlBinary, settledStreamExchanges, recorded, startStreamHarness, type StreamHarness } from './helpers/streams.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const CLIENTS = [
  { name: 'kubectl 1.32 (WebSocket)', minor: '32', env: {}, transport: 'websocket' },
  { name: 'kubectl 1.29 (SPDY)', minor: '29', env: {}, transport: 'spdy' },
  { name: 'kubectl 1.32 KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false', minor: '32', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, transport: 'spdy' },
] as const;
const UPSTREAMS = [
  { name: 'WebSocket cluster', webSocket: true, transport: 'websocket' },
  { name: 'SPDY-only cluster', webSocket: false, transport: 'spdy' },
] as const;

const harnesses = new Map<string, StreamHarness>();
async function harness(minor: string, webSocket: boolean): Promise<StreamHarness> {
  const key = `${minor}/${webSocket}`;
  let s = harnesses.get(key);
  if (!s) {
    s = await startStreamHarness({ minor, upstream: { webSocket } });
    harnesses.set(key, s);
  }
  return s;
}
t.teardown(async () => {
  for (const s of harnesses.values()) await s.close();
});

t.test('exit code, stderr and stdin across every client and cluster protocol', async (t) => {
  for (const client of CLIENTS) {
    for (const upstream of UPSTREAMS) {
      const label = `${client.name} -> ${upstream.name}`;
      const s = await harness(client.minor, upstream.webSocket);
      const before = s.up.seen.length;
      const input = `hello from ${label}\n`;
      const r = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'sh', '-c', 'cat; echo to-stderr >&2; exit 3'], { input, env: client.env });
      t.equal(r.code, 3, `${label}: kubectl exits with the command's code`);
      t.equal(r.stdout.toString(), input, `${label}: stdin came back on stdout, so stdin EOF was delivered`);
      t.match(r.stderr, /to-stderr/, `${label}: stderr kept apart`);
      const seen = s.up.seen.slice(before);
      t.equal(seen.length, 1, `${label}: one upgrade reached the cluster`);
      t.equal(seen[0]?.transport, upstream.transport, `${label}: kubetape dialed the cluster over ${upstream.transport}`);
      t.equal(seen[0]?.authorization, 'Bearer admin-token', `${label}: with kubetape's credential`);

      const [x] = await settledStreamExchanges(
        s.h.kt.store,
        (x) => x.request.exec?.command.join(' ') === 'sh -c cat; echo to-stderr >&2; exit 3' && recorded(x, 'stdin').toString() === input,
      );
      t.ok(x, `${label}: the exec is recorded`);
      if (!x) continue;
      t.same(
        x.request.exec,
        { command: ['sh', '-c', 'cat; echo to-stderr >&2; exit 3'], container: 'main', tty: false, stdin: true, stdout: true, stderr: true },
        `${label}: the request carries what was asked`,
      );
      t.equal(x.response?.status, 101);
      t.equal(x.response?.exitCode, 3, `${label}: exit code recorded`);
      t.equal(recorded(x, 'stdout').toString(), input, `${label}: stdout recorded exactly`);
      t.equal(recorded(x, 'stderr').toString(), 'to-stderr\n', `${label}: stderr recorded exactly`);
      t.match(recorded(x, 'status').toString(), /NonZeroExitCode/, `${label}: the Status is recorded`);
      t.ok(
        x.streams.some((e) => e.channel === 'close' && e.data === 'stdin'),
        `${label}: stdin EOF is recorded`,
      );
      t.match(x.response?.streamProtocol?.client, new RegExp(`^${client.transport} `), `${label}: client protocol recorded`);
      t.match(x.response?.streamProtocol?.upstream, new RegExp(`^${upstream.transport} `), `${label}: upstream protocol recorded`);
    }
  }
});

t.test('1 MB of binary stdin and stdout, byte for byte, forwarded and recorded', async (t) => {
  const payload = randomBytes(1024 * 1024);
  for (const [client, upstream] of [
    [CLIENTS[0], UPSTREAMS[1]],
    [CLIENTS[1], UPSTREAMS[0]],
  ] as const) {
    const label = `${client.name} -> ${upstream.name}`;
    const s = await harness(client.minor, upstream.webSocket);
    const r = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'cat'], { input: payload, env: client.env });
    t.equal(r.code, 0, `${label}: ${r.stderr}`);
    t.equal(r.stdout.length, payload.length, `${label}: every byte came back`);
    t.equal(sha(r.stdout), sha(payload), `${label}: the same bytes`);
    const [x] = await settledStreamExchanges(
      s.h.kt.store,
      (x) => x.request.exec?.command[0] === 'cat' && x.response?.streamProtocol?.client.startsWith(client.transport) === true,
    );
    t.equal(sha(recorded(x, 'stdin')), sha(payload), `${label}: recorded stdin is the payload`);
    t.equal(sha(recorded(x, 'stdout')), sha(payload), `${label}: recorded stdout is the payload`);
    t.equal(x.response?.exitCode, 0);
    t.equal(x.response?.streamBytes?.stdin, payload.length);
  }
});

t.test('exec without stdin; a failing command over WebSocket v5 to a SPDY cluster', async (t) => {
  const s = await harness('32', false);
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'sh', '-c', 'printf "no stdin here"']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.toString(), 'no stdin here');
  const missing = await kubectlBinary(s.h.kubeconfig, ['exec', 'web-0', '--', 'definitely-not-a-command-xyz']);
  t.equal(missing.code, 127, 'the exit code of a missing command');
});

t.test('impersonation and the stream policy are refused before anything is dialed, and recorded', async (t) => {
  const s = await harness('32', true);
  const as = await kubectlBinary(s.h.kubeconfig, ['exec', '--as', 'someone-else', 'web-0', '--', 'true']);
  t.not(as.code, 0);
  t.match(as.stderr, /does not forward impersonation/);

  const guarded = await startStreamHarness({
    config: {
      policy: parsePolicyObject({
        rules: [{ name: 'no-rm', match: { subresource: 'exec', command: { prefix: 'rm ' } }, action: 'deny', message: 'no rm here' }],
      }),
    },
  });
  t.teardown(() => guarded.close());
  const guardedBefore = guarded.up.seen.length;
  const denied = await kubectlBinary(guarded.h.kubeconfig, ['exec', 'web-0', '--', 'rm', '-rf', '/tmp/nothing-here']);
  t.not(denied.code, 0);
  t.match(denied.stderr, /no rm here \(kubetape policy rule "no-rm"\)/);
  t.equal(guarded.up.seen.length, guardedBefore, 'the cluster saw no upgrade');
  const allowed = await kubectlBinary(guarded.h.kubeconfig, ['exec', 'web-0', '--', 'echo', 'fine']);
  t.equal(allowed.stdout.toString(), 'fine\n', 'other commands still run');

  const refused = await settledStreamExchanges(guarded.h.kt.store, (x) => x.request.exec?.command[0] === 'rm', 1);
  t.ok(refused.length >= 1);
  for (const x of refused) {
    t.equal(x.response?.status, 403, 'recorded as refused');
    t.match(x.response?.error, /no rm here/);
    t.same(x.request.exec?.command, ['rm', '-rf', '/tmp/nothing-here'], 'the refused command is in the recording');
  }
});

t.test('sessions show, replay and export read the exec back', async (t) => {
  const s = await harness('32', true);
  const r = await kubectlBinary(s.h.kubeconfig, ['exec', '-i', 'web-0', '--', 'sh', '-c', 'cat; printf "err-line\\n" >&2; exit 3'], { input: 'replay me\n' });
  t.equal(r.code, 3);
  const [x] = await settledStreamExchanges(s.h.kt.store, (x) => recorded(x, 'stdin').toString() === 'replay me\n');
  const id = x.session;
  const d = s.h.dataDir;
  const [show, replay, replaySeq, exported, noExec, badSeq, badId, badFormat, withStdin, onlyStdout, onlyStderr, onlyStdin, badChannel, outputOnly] =
    await cliFromSource([
      ['sessions', 'show', id, '--data-dir', d],
      ['replay', id, '--no-wait', '--data-dir', d],
      ['replay', id.slice(0, 20), '--no-wait', '--speed', '4', '--seq', String(x.request.seq), '--data-dir', d],
      ['export', id, '--format', 'asciicast', '--stdin', '--data-dir', d],
      ['replay', (await s.h.kt.store.listSessions()).find((ss) => ss.command !== 'kubectl exec')!.id, '--data-dir', d],
      ['replay', id, '--seq', '1', '--data-dir', d],
      ['replay', 'NOPE', '--data-dir', d],
      ['export', id, '--format', 'gif', '--data-dir', d],
      ['replay', id, '--no-wait', '--stdin', '--data-dir', d],
      ['replay', id, '--no-wait', '--channel', 'stdout', '--data-dir', d],
      ['replay', id, '--no-wait', '--channel', 'stderr', '--data-dir', d],
      ['replay', id, '--no-wait', '--channel', 'stdin', '--data-dir', d],
      ['replay', id, '--channel', 'status', '--data-dir', d],
      ['export', id, '--format', 'asciicast', '--data-dir', d],
    ]);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout.toString(), /exec \["sh","-c","cat; printf \\"err-line\\\\n\\" >&2; exit 3"\]/, 'show names the command');
  t.match(
    show.stdout.toString(),
    /container=main stdin\s+exit 3\s+stdin 10 B, stdout 10 B, stderr 9 B/,
    'show gives container, exit code and bytes per channel',
  );
  t.equal(replay.code, 0, replay.stderr);
  t.equal(replay.stdout.toString(), '[stdout] replay me\n[stderr] err-line\n', 'a non-TTY replay labels stdout and stderr lines');
  t.equal(replaySeq.stdout.toString(), '[stdout] replay me\n[stderr] err-line\n', 'by prefix and --seq too');
  t.equal(withStdin.stdout.toString(), '[stdin] replay me\n[stdout] replay me\n[stderr] err-line\n', '--stdin interleaves what was sent, in recorded order');
  t.equal(onlyStdout.stdout.toString(), 'replay me\n', '--channel stdout: stdout bytes alone, unlabelled');
  t.equal(onlyStderr.stdout.toString(), 'err-line\n', '--channel stderr');
  t.equal(onlyStdin.stdout.toString(), 'replay me\n', '--channel stdin');
  t.equal(badChannel.code, 1);
  t.match(badChannel.stderr, /--channel wants one of stdout, stderr, stdin, got "status"/);
  t.equal(outputOnly.code, 0, outputOnly.stderr);
  const outputEvents = outputOnly.stdout
    .toString()
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l) as [number, string, string]);
  t.same(
    outputEvents.map((e) => e[1]),
    outputEvents.map(() => 'o'),
    'export without --stdin writes no input events',
  );
  t.equal(exported.code, 0, exported.stderr);
  const lines = exported.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
  t.match(lines[0], { version: 2, width: 80, height: 24 }, 'asciicast v2 header');
  const events = lines.slice(1) as Array<[number, string, string]>;
  t.ok(
    events.every((e) => typeof e[0] === 'number' && ['o', 'i', 'r'].includes(e[1]) && typeof e[2] === 'string'),
    'every event is [time, code, data]',
  );
  t.equal(
    events
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join(''),
    'replay me\r\nerr-line\r\n',
    'output as the terminal showed it: a non-TTY exec wrote bare newlines, the viewer saw CR LF',
  );
  t.equal(
    events
      .filter((e) => e[1] === 'i')
      .map((e) => e[2])
      .join(''),
    'replay me\n',
  );
  t.equal(noExec.code, 1);
  t.match(noExec.stderr, /^kubetape: session \S+ has no exec or attach recorded\n$/);
  t.match(badSeq.stderr, /^kubetape: request 1 of session \S+ is not an exec or attach\n$/);
  t.match(badId.stderr, /^kubetape: no session "NOPE"/);
  t.match(badFormat.stderr, /^kubetape: --format "gif" is not supported/);
});
