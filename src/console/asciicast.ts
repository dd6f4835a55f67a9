// A session's exec/attach as asciicast v2 (asciinema's format): a header
// line, then one JSON array per event, [seconds, "o", output],
// [seconds, "r", "WxH"], with input [seconds, "i", typed], and with markers
// [seconds, "m", line] for each line typed into a TTY, rebuilt from stdin
// the way the typed-line guardrail rebuilds it. Written by `kubetape export`
// and by the sessions API's cast endpoint, line by line to a sink that may
// make it wait (backpressure), or as values to the console's player.
import { StringDecoder } from 'node:string_decoder';
import { LineEditor } from '../forward/streams/typed-line.js';
import { eventBytes, type TimedStreamEvent } from './terminal-events.js';

export type LineSink = (line: string) => Promise<void>;
/** The header, then [seconds, code, data] per event, as values (for a reader that wants them unserialized). */
export type CastRecord = Record<string, unknown> | [number, string, string];
export type RecordSink = (record: CastRecord) => Promise<void>;

/** A record sink writing asciicast v2 lines. */
export const castLines =
  (sink: LineSink): RecordSink =>
  (r) =>
    sink(JSON.stringify(r) + '\n');

/** Events looked through for the first resize before the header must be written. */
const HEADER_LOOKAHEAD_EVENTS = 256;
const DEFAULT_SIZE = { width: 80, height: 24 };
/** Longest marker label kept (a pasted script is not a command). */
const MAX_MARKER_CHARS = 200;

export interface AsciicastOptions {
  /** Add what was typed as "i" events. */
  stdin: boolean;
  /** Add an "m" marker for each line typed into a TTY exec/attach. */
  markers: boolean;
}

export class AsciicastWriter {
  private header: Record<string, unknown> | undefined;
  private readonly pending: TimedStreamEvent[] = [];
  private readonly decoders = new Map<string, StringDecoder>();
  private readonly editors = new Map<number, LineEditor>();
  private lastT = 0;

  constructor(
    private readonly sessionId: string,
    private readonly o: AsciicastOptions,
    private readonly sink: RecordSink,
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
      if (rest) await this.line([this.lastT, key === 'stdin' ? 'i' : 'o', rest]);
    }
  }

  private line(v: CastRecord): Promise<void> {
    return this.sink(v);
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
    await this.line(this.header);
    for (const ev of this.pending.splice(0)) await this.event(ev);
  }

  private async event(ev: TimedStreamEvent): Promise<void> {
    const t = Math.max(this.lastT, Math.round(ev.atMs) / 1000);
    this.lastT = t;
    const channel = ev.event.channel;
    if (channel === 'resize') {
      const size = parseSize(eventBytes(ev.event).toString('utf8'));
      if (size) await this.line([t, 'r', `${size.width}x${size.height}`]);
      return;
    }
    if (channel !== 'stdout' && channel !== 'stderr' && channel !== 'stdin') return;
    if (channel === 'stdin' && this.o.markers && ev.request.exec?.tty) await this.markers(t, ev);
    if (channel === 'stdin' && !this.o.stdin) return;
    // Output may be cut in the middle of a character; decode per channel so nothing is lost.
    let d = this.decoders.get(channel);
    if (!d) this.decoders.set(channel, (d = new StringDecoder('utf8')));
    let text = d.write(eventBytes(ev.event));
    // Without a TTY the program wrote bare newlines, which the viewer's own terminal turned into
    // CR LF as kubectl printed them; a cast is played on a terminal that does not, so it gets both.
    if (channel !== 'stdin' && !ev.request.exec?.tty) text = text.replace(/\r?\n/g, '\r\n');
    if (text) await this.line([t, channel === 'stdin' ? 'i' : 'o', text]);
  }

  /** One marker per line submitted (Enter) in this event's keystrokes. */
  private async markers(t: number, ev: TimedStreamEvent): Promise<void> {
    let editor = this.editors.get(ev.request.seq);
    if (!editor) this.editors.set(ev.request.seq, (editor = new LineEditor()));
    for (const b of eventBytes(ev.event)) {
      const submitted = editor.push(b)?.trim();
      if (submitted) await this.line([t, 'm', submitted.slice(0, MAX_MARKER_CHARS)]);
    }
  }
}

function titleOf(ev: TimedStreamEvent): string {
  const rq = ev.request;
  const what = rq.attrs.subresource === 'attach' ? 'attach' : `exec ${rq.exec?.command.join(' ') ?? ''}`;
  return `${what} (${rq.attrs.namespace}/${rq.attrs.name})`;
}

/**
 * The largest terminal a cast asks for. A resize is whatever the client sent (Kubernetes allows up
 * to 65535x65535); a player, or the snapshotting terminal of cast-segments.ts, allocates every cell.
 */
export const MAX_COLS = 1000;
export const MAX_ROWS = 500;

function parseSize(text: string): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(text) as { Width?: number; Height?: number };
    if (Number.isInteger(v.Width) && Number.isInteger(v.Height) && v.Width! > 0 && v.Height! > 0)
      return { width: Math.min(v.Width!, MAX_COLS), height: Math.min(v.Height!, MAX_ROWS) };
  } catch {
    // not a size: ignore
  }
  return undefined;
}
