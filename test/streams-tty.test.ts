// kubectl exec -it and attach through kubetape, with kubectl on a real
// terminal: typed input, a window resize, Ctrl-D; the recording replays as
// the user saw it and exports as asciicast v2.
import t from 'tap';
import { cliFromSource, kubectlBinary, kubectlOnPty, recorded, settledStreamExchanges, startStreamHarness } from './helpers/streams.js';

const RUNS = [
  { name: 'kubectl 1.32 (WebSocket) to a WebSocket cluster', minor: '32', webSocket: true, client: 'websocket' },
  { name: 'kubectl 1.29 (SPDY) to a SPDY-only cluster', minor: '29', webSocket: false, client: 'spdy' },
  { name: 'kubectl 1.32 (WebSocket) to a SPDY-only cluster', minor: '32', webSocket: false, client: 'websocket' },
] as const;

for (const run of RUNS) {
  t.test(`exec -it: typing, resize, Ctrl-D: ${run.name}`, async (t) => {
    const s = await startStreamHarness({ minor: run.minor, upstream: { webSocket: run.webSocket } });
    t.teardown(() => s.close());
    const term = kubectlOnPty(s.h.kubeconfig, ['exec', '-it', 'web-0', '--', 'sh'], { width: 100, height: 30 });
    await term.waitFor(/[#$] $/);
    term.send('echo tty-$((6*7))\r');
    await term.waitFor(/\r\ntty-42\r\n/);
    term.resize(120, 40);
    // The resize has to travel kubectl -> kubetape -> cluster before stty can see it.
    for (let i = 0; i < 100 && !s.up.resizes.some((r) => r.Width === 120 && r.Height === 40); i++) await new Promise((r) => setTimeout(r, 50));
    t.ok(
      s.up.resizes.some((r) => r.Width === 120 && r.Height === 40),
      'the resize reached the cluster',
    );
    term.send('stty size\r');
    await term.waitFor(/\r\n40 120\r\n/);
    term.send('\x04');
    const done = await term.done;
    t.equal(done.code, 0, `kubectl exits 0 after Ctrl-D: ${done.output}`);
    t.same(s.up.resizes[0], { Width: 100, Height: 30 }, 'the first size is the terminal kubectl started on');

    const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.exec?.tty === true);
    t.same(x.request.exec, { command: ['sh'], container: 'main', tty: true, stdin: true, stdout: true, stderr: false });
    t.equal(x.response?.exitCode, 0);
    t.match(x.response?.streamProtocol?.client, new RegExp(`^${run.client}`));
    const stdin = recorded(x, 'stdin').toString();
    t.match(stdin, /echo tty-\$\(\(6\*7\)\)\r/, 'typed input is recorded');
    t.match(stdin, /stty size\r\x04$/, 'Ctrl-D is recorded as typed');
    t.match(recorded(x, 'stdout').toString(), /tty-42[\s\S]*40 120/, 'output is recorded');
    t.equal(recorded(x, 'stderr').length, 0, 'a terminal has no stderr');
    const sizes = x.streams.filter((e) => e.channel === 'resize').map((e) => JSON.parse(e.data) as unknown);
    t.same(
      sizes,
      [
        { Width: 100, Height: 30 },
        { Width: 120, Height: 40 },
      ],
      'both sizes are recorded in order',
    );

    const [replay, cast, replayTyped, replayStdin, castOutputOnly] = await cliFromSource([
      ['replay', x.session, '--no-wait', '--data-dir', s.h.dataDir],
      ['export', x.session, '--format', 'asciicast', '--stdin', '--data-dir', s.h.dataDir],
      ['replay', x.session, '--no-wait', '--stdin', '--data-dir', s.h.dataDir],
      ['replay', x.session, '--no-wait', '--channel', 'stdin', '--data-dir', s.h.dataDir],
      ['export', x.session, '--format', 'asciicast', '--data-dir', s.h.dataDir],
    ]);
    t.equal(replay.code, 0, replay.stderr);
    t.equal(replay.stdout.toString(), recorded(x, 'stdout').toString(), 'replay writes the terminal output');
    const typed = replayTyped.stdout.toString();
    t.match(typed, /\[stdin: "stty size\\r"\]|\[stdin: "[^"]*stty size/, 'replay --stdin marks what was typed (stdout is a pipe here)');
    t.equal(typed.replace(/\[stdin: (?:"(?:[^"\\]|\\.)*")\]/g, ''), recorded(x, 'stdout').toString(), 'the terminal output is untouched around the markers');
    t.equal(replayStdin.stdout.toString(), stdin, '--channel stdin prints the keystrokes exactly');
    t.notOk(
      castOutputOnly.stdout
        .toString()
        .trim()
        .split('\n')
        .slice(1)
        .some((l) => (JSON.parse(l) as unknown[])[1] === 'i'),
      'export writes no input events unless asked',
    );
    t.equal(cast.code, 0, cast.stderr);
    const lines = cast.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    t.match(lines[0], { version: 2, width: 100, height: 30 }, 'the header has the first terminal size');
    const events = lines.slice(1) as Array<[number, string, string]>;
    t.ok(
      events.some((e) => e[1] === 'r' && e[2] === '120x40'),
      'the resize is an r event',
    );
    t.match(
      events
        .filter((e) => e[1] === 'i')
        .map((e) => e[2])
        .join(''),
      /stty size\r\x04/,
      'input as i events',
    );
    t.match(
      events
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
      /tty-42/,
    );
    const times = events.map((e) => e[0]);
    t.same(
      times,
      [...times].sort((a, b) => a - b),
      'event times never go back',
    );
  });
}

t.test('attach -i: stdin to the main process, recorded as an attach', async (t) => {
  const s = await startStreamHarness({ minor: '32', upstream: { webSocket: true } });
  t.teardown(() => s.close());
  const r = await kubectlBinary(s.h.kubeconfig, ['attach', '-i', 'web-0'], { input: 'attached input\n' });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.toString(), 'attached input\n');
  const [x] = await settledStreamExchanges(s.h.kt.store, (x) => x.request.attrs.subresource === 'attach');
  t.same(x.request.exec, { command: [], container: 'main', tty: false, stdin: true, stdout: true, stderr: true });
  t.equal(recorded(x, 'stdin').toString(), 'attached input\n');
  t.equal(recorded(x, 'stdout').toString(), 'attached input\n');
  const [show] = await cliFromSource([['sessions', 'show', x.session, '--data-dir', s.h.dataDir]]);
  t.match(show.stdout.toString(), /attach container=main stdin\s+exit 0/);
});
