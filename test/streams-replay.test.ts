// How `kubetape replay` renders recorded channels (src/cli/replay-output.ts):
// the cases the CLI tests cannot reach, because their stdout is never a
// terminal, and lines that two channels interleave mid-way.
import t from 'tap';
import { ReplayPrinter, type ReplayStyle } from '../src/cli/replay-output.js';
import type { TimedStreamEvent } from '../src/cli/stream-reading.js';
import type { RequestEvent, StreamEvent } from '../src/model/recording.js';

function request(seq: number, tty: boolean): RequestEvent {
  return {
    type: 'request',
    session: 's',
    seq,
    time: '2026-01-01T00:00:00.000Z',
    method: 'GET',
    uri: '/api/v1/namespaces/default/pods/web-0/exec',
    attrs: {
      isResourceRequest: true,
      verb: 'create',
      apiGroup: '',
      apiVersion: 'v1',
      resource: 'pods',
      subresource: 'exec',
      namespace: 'default',
      name: 'web-0',
    },
    headers: {},
    streaming: false,
    exec: { command: ['sh'], tty, stdin: true, stdout: true, stderr: !tty },
  };
}

function ev(rq: RequestEvent, channel: StreamEvent['channel'], data: string): TimedStreamEvent {
  return { atMs: 0, request: rq, event: { type: 'stream', session: 's', seq: rq.seq, offsetMs: 0, channel, encoding: 'utf8', data } };
}

function play(style: ReplayStyle, events: TimedStreamEvent[]): string {
  const p = new ReplayPrinter(style);
  const out = events.map((e) => p.render(e) ?? Buffer.alloc(0));
  return Buffer.concat([...out, p.end()]).toString('utf8');
}

t.test('non-TTY: each line labelled; a line broken by another channel is ended first', async (t) => {
  const rq = request(1, false);
  const events = [
    ev(rq, 'stdout', 'par'),
    ev(rq, 'stderr', 'warn\n'),
    ev(rq, 'stdout', 'tial\nnext\nopen'),
    ev(rq, 'stdin', 'typed\n'),
    ev(rq, 'status', '{}'),
  ];
  t.equal(play({ stdin: false, colour: false }, events), '[stdout] par\n[stderr] warn\n[stdout] tial\n[stdout] next\n[stdout] open\n');
  t.equal(play({ stdin: true, colour: false }, events), '[stdout] par\n[stderr] warn\n[stdout] tial\n[stdout] next\n[stdout] open\n[stdin] typed\n');
  t.equal(play({ stdin: false, colour: true }, [ev(rq, 'stderr', 'x\n')]), '\x1b[2m[stderr] \x1b[22mx\n', 'labels are dimmed on a terminal');
  t.equal(play({ stdin: false, colour: false, channel: 'stdout' }, events), 'partial\nnext\nopen', '--channel: bytes exactly, no labels, no added newline');
  t.equal(play({ stdin: false, colour: false, channel: 'stdin' }, events), 'typed\n');
});

t.test('TTY: output raw; typed input dimmed on a terminal, quoted marker otherwise', async (t) => {
  const rq = request(2, true);
  const events = [ev(rq, 'stdout', '$ '), ev(rq, 'stdin', 'ls\r'), ev(rq, 'stdout', 'ls\r\nfile\r\n$ ')];
  t.equal(play({ stdin: false, colour: true }, events), '$ ls\r\nfile\r\n$ ', 'without --stdin: exactly the output');
  t.equal(play({ stdin: true, colour: true }, events), '$ \x1b[2mls\r\x1b[22mls\r\nfile\r\n$ ');
  t.equal(play({ stdin: true, colour: false }, events), '$ [stdin: "ls\\r"]ls\r\nfile\r\n$ ');
});

t.test('a TTY request after a non-TTY one closes the open labelled line', async (t) => {
  const a = request(1, false);
  const b = request(2, true);
  t.equal(play({ stdin: false, colour: false }, [ev(a, 'stdout', 'no newline'), ev(b, 'stdout', 'tty')]), '[stdout] no newline\ntty');
  t.equal(
    play({ stdin: false, colour: false }, [ev(a, 'stdout', 'one'), ev(request(3, false), 'stdout', 'two\n')]),
    '[stdout] one\n[stdout] two\n',
    'a new request starts a new line',
  );
});
