// How `kubetape replay` turns recorded stream events into what it writes.
// A TTY exec is a terminal: its output goes out raw, and typed input (only
// with --stdin) is shown in place, dimmed on a terminal or as a quoted
// marker when the replay goes to a file or pipe (raw keystrokes such as \r
// would otherwise rewrite the line they landed on). A non-TTY exec has
// separate channels, so each line says which channel it came from.
// `--channel` prints that one channel's bytes exactly as recorded.
import type { TimedStreamEvent } from './stream-reading.js';
import { eventBytes } from './stream-reading.js';

export const REPLAY_CHANNELS = ['stdout', 'stderr', 'stdin'] as const;
export type ReplayChannel = (typeof REPLAY_CHANNELS)[number];

export interface ReplayStyle {
  /** Only this channel's bytes, unlabelled. */
  channel?: ReplayChannel;
  /** Show what was typed (stdin) too. */
  stdin: boolean;
  /** The output is a terminal: mark with SGR attributes instead of text. */
  colour: boolean;
}

const DIM = '\x1b[2m';
const UNDIM = '\x1b[22m';
const NEWLINE = 0x0a;

export class ReplayPrinter {
  /** The channel whose line is still open (no newline yet), per request. */
  private openLine: { seq: number; channel: string } | undefined;

  constructor(private readonly style: ReplayStyle) {}

  /** What to write for one recorded event; undefined when it is not shown. */
  render(ev: TimedStreamEvent): Buffer | undefined {
    const channel = ev.event.channel;
    if (channel !== 'stdout' && channel !== 'stderr' && channel !== 'stdin') return undefined;
    const bytes = eventBytes(ev.event);
    if (this.style.channel) return channel === this.style.channel ? bytes : undefined;
    if (channel === 'stdin' && !this.style.stdin) return undefined;
    if (ev.request.exec?.tty) return Buffer.concat([this.closeLine(), this.terminal(channel, bytes)]);
    return this.labelled(ev.request.seq, channel, bytes);
  }

  /** Ends a labelled line left open by the last event. */
  end(): Buffer {
    return this.closeLine();
  }

  private terminal(channel: ReplayChannel, bytes: Buffer): Buffer {
    if (channel !== 'stdin') return bytes;
    if (this.style.colour) return Buffer.concat([Buffer.from(DIM), bytes, Buffer.from(UNDIM)]);
    return Buffer.from(`[stdin: ${JSON.stringify(bytes.toString('utf8'))}]`);
  }

  private labelled(seq: number, channel: ReplayChannel, bytes: Buffer): Buffer {
    const parts: Buffer[] = [];
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl === -1 ? bytes.length : nl + 1;
      const open = this.openLine;
      if (!open || open.seq !== seq || open.channel !== channel) {
        // Another channel (or request) broke into this line: end it first, then label the new one.
        parts.push(this.closeLine(), this.label(channel));
      }
      const segment = bytes.subarray(start, end);
      parts.push(channel === 'stdin' && this.style.colour ? Buffer.concat([Buffer.from(DIM), segment, Buffer.from(UNDIM)]) : segment);
      this.openLine = nl === -1 ? { seq, channel } : undefined;
      start = end;
    }
    return Buffer.concat(parts);
  }

  private label(channel: ReplayChannel): Buffer {
    const text = `[${channel}] `;
    return Buffer.from(this.style.colour ? `${DIM}${text}${UNDIM}` : text);
  }

  private closeLine(): Buffer {
    if (!this.openLine) return Buffer.alloc(0);
    this.openLine = undefined;
    return Buffer.from('\n');
  }
}
