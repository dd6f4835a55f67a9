// `kubetape export ID --format asciicast`: a session's exec/attach as an
// asciicast v2 file (asciinema's format): a header line, then one JSON array
// per event, [seconds, "o", output], [seconds, "r", "WxH"], and with --stdin
// [seconds, "i", input] for what was typed.
import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { wholeNumber } from './replay-command.js';
import { openStoreForReading } from './sessions-command.js';
import { eventBytes, resolveSession, terminalEvents, warnUnlessVerified, type TimedStreamEvent } from './stream-reading.js';

interface ExportOptions {
  format: string;
  seq?: number;
  stdin?: boolean;
  dataDir?: string;
  config?: string;
}

/** Events looked through for the first resize before the header must be written. */
const HEADER_LOOKAHEAD_EVENTS = 256;
const DEFAULT_SIZE = { width: 80, height: 24 };

export function registerExportCommand(program: Command): void {
  program
    .command('export <id>')
    .description("write a session's exec/attach as a recording other tools play (an id or a unique prefix)")
    .requiredOption('--format <format>', 'output format: asciicast (asciinema v2)')
    .option('--seq <n>', 'only the request with this sequence number (see `sessions show`)', (v) => wholeNumber(v, '--seq'))
    .option('--stdin', 'add what was typed as "i" (input) events')
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (for its dataDir)')
    .action(async (idArg: string, o: ExportOptions) => {
      if (o.format !== 'asciicast') throw new CliError(`--format ${JSON.stringify(o.format)} is not supported; use --format asciicast`);
      const store = openStoreForReading(o);
      const id = await resolveSession(store, idArg);
      await warnUnlessVerified(store, id);
      const writer = new AsciicastWriter(id, o.stdin === true);
      for await (const ev of terminalEvents(store, id, o.seq)) await writer.add(ev);
      await writer.end();
    });
}

class AsciicastWriter {
  private header: Record<string, unknown> | undefined;
  private readonly pending: TimedStreamEvent[] = [];
  private readonly decoders = new Map<string, StringDecoder>();
  private lastT = 0;

  constructor(
    private readonly sessionId: string,
    private readonly withInput: boolean,
  ) {}

  async add(ev: TimedStreamEvent): Promise<void> {
    if (!this.header) {
      this.pending.push(ev);
      if (ev.event.channel !== 'resize' && this.pending.length < HEADER_LOOKAHEAD_EVENTS) return;
      await this.writeHeader();
      return;
    }
    await this.event(ev);
  }

  async end(): Promise<void> {
    if (!this.header) await this.writeHeader();
    for (const [key, d] of this.decoders) {
      const rest = d.end();
      if (rest) await line([this.lastT, key === 'stdin' ? 'i' : 'o', rest]);
    }
  }

  private async writeHeader(): Promise<void> {
    const first = this.pending[0];
    const resize = this.pending.find((e) => e.event.channel === 'resize');
    const size = resize ? parseSize(eventBytes(resize.event).toString('utf8')) : undefined;
    this.header = {
      version: 2,
      width: size?.width ?? DEFAULT_SIZE.width,
      height: size?.height ?? DEFAULT_SIZE.height,
      timestamp: first ? Math.floor(Date.parse(first.request.time) / 1000) : Math.floor(Date.now() / 1000),
      title: first ? `kubetape ${this.sessionId}: ${titleOf(first)}` : `kubetape ${this.sessionId}`,
      env: { TERM: 'xterm-256color' },
    };
    await line(this.header);
    for (const ev of this.pending.splice(0)) await this.event(ev);
  }

  private async event(ev: TimedStreamEvent): Promise<void> {
    const t = Math.max(this.lastT, Math.round(ev.atMs) / 1000);
    this.lastT = t;
    const channel = ev.event.channel;
    if (channel === 'resize') {
      const size = parseSize(eventBytes(ev.event).toString('utf8'));
      if (size) await line([t, 'r', `${size.width}x${size.height}`]);
      return;
    }
    if (channel !== 'stdout' && channel !== 'stderr' && channel !== 'stdin') return;
    if (channel === 'stdin' && !this.withInput) return;
    // Output may be cut in the middle of a character; decode per channel so nothing is lost.
    let d = this.decoders.get(channel);
    if (!d) this.decoders.set(channel, (d = new StringDecoder('utf8')));
    const text = d.write(eventBytes(ev.event));
    if (text) await line([t, channel === 'stdin' ? 'i' : 'o', text]);
  }
}

function titleOf(ev: TimedStreamEvent): string {
  const rq = ev.request;
  const what = rq.attrs.subresource === 'attach' ? 'attach' : `exec ${rq.exec?.command.join(' ') ?? ''}`;
  return `${what} (${rq.attrs.namespace}/${rq.attrs.name})`;
}

function parseSize(text: string): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(text) as { Width?: number; Height?: number };
    if (Number.isInteger(v.Width) && Number.isInteger(v.Height) && v.Width! > 0 && v.Height! > 0) return { width: v.Width!, height: v.Height! };
  } catch {
    // not a size: ignore
  }
  return undefined;
}

function line(v: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(JSON.stringify(v) + '\n')) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}
