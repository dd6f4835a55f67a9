// `kubetape replay ID`: the terminal as the user saw it, the output of the
// session's exec/attach requests written with its recorded timing. TTY
// output goes out as the terminal showed it; non-TTY stdout and stderr are
// labelled per line (replay-output.ts); --stdin adds what was typed and
// --channel prints one channel's bytes alone. A port-forward replays as each
// connection's transcript (portforward-transcript.ts), --connection picks one.
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { portForwardTranscript, streamKind } from './portforward-transcript.js';
import { openStoreForReading } from './sessions-command.js';
import { REPLAY_CHANNELS, ReplayPrinter, type ReplayChannel } from './replay-output.js';
import { resolveSession, terminalEvents, warnUnlessVerified } from './stream-reading.js';

interface ReplayOptions {
  speed: number;
  wait: boolean;
  seq?: number;
  stdin?: boolean;
  channel?: ReplayChannel;
  connection?: number;
  dataDir?: string;
  config?: string;
  server?: string;
  kubeconfig?: string;
  context?: string;
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay <id>')
    .description("play back the output of a session's exec/attach in real time (an id or a unique prefix)")
    .option('--speed <n>', 'play this many times faster (0.5 = slower)', (v) => positiveNumber(v, '--speed'), 1)
    .option('--no-wait', 'print everything at once, without the recorded pauses')
    .option('--seq <n>', 'only the request with this sequence number (see `sessions show`)', (v) => wholeNumber(v, '--seq'))
    .option('--stdin', 'also show what was typed (dimmed on a terminal, marked [stdin] otherwise)')
    .option('--channel <name>', 'print only this channel, unlabelled: stdout, stderr or stdin', replayChannel)
    .option('--connection <n>', "port-forward: only this connection's transcript (see `sessions show`)", (v) => wholeNumber(v, '--connection'))
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (for its dataDir)')
    .option('--server <url>', "read through this kubetape's sessions API as the kubeconfig context's user (no store access needed)")
    .option('--kubeconfig <file>', 'with --server: kubeconfig whose current context holds the CA and token')
    .option('--context <name>', 'with --server: kubeconfig context (default the current one)')
    .action(async (idArg: string, o: ReplayOptions) => {
      const store = openStoreForReading(o);
      const id = await resolveSession(store, idArg);
      await warnUnlessVerified(store, id);
      if (o.connection !== undefined || (await streamKind(store, id, o.seq)) === 'portforward') {
        const text = await portForwardTranscript(store, id, {
          ...(o.seq !== undefined ? { seq: o.seq } : {}),
          ...(o.connection !== undefined ? { connection: o.connection } : {}),
        });
        if (!text) throw new CliError(`session ${id} has no port-forward${o.seq !== undefined ? ` with seq ${o.seq}` : ''}`);
        await write(Buffer.from(text));
        return;
      }
      const printer = new ReplayPrinter({
        stdin: o.stdin === true,
        colour: process.stdout.isTTY === true && !process.env.NO_COLOR,
        ...(o.channel ? { channel: o.channel } : {}),
      });
      const started = Date.now();
      for await (const ev of terminalEvents(store, id, o.seq)) {
        const out = printer.render(ev);
        if (!out) continue;
        if (o.wait) {
          const due = started + ev.atMs / o.speed;
          const now = Date.now();
          if (due > now) await new Promise((r) => setTimeout(r, due - now));
        }
        await write(out);
      }
      const tail = printer.end();
      if (tail.length > 0) await write(tail);
    });
}

/** Writes and waits for the terminal to take it, so a long replay never piles up in memory. */
function write(b: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(b)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

function replayChannel(v: string): ReplayChannel {
  const c = REPLAY_CHANNELS.find((x) => x === v);
  if (!c) throw new CliError(`--channel wants one of ${REPLAY_CHANNELS.join(', ')}, got "${v}"`);
  return c;
}

function positiveNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} wants a positive number, got "${v}"`);
  return n;
}

export function wholeNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${flag} wants a positive whole number, got "${v}"`);
  return n;
}
