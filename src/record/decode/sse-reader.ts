// Server-Sent Events, incrementally (the WHATWG event-stream format): lines
// of `field: value`, an event ends at a blank line. Bounded: an event's data
// beyond `limit` characters is dropped (the event is marked cut), and a line
// without an end is held up to the same bound.
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
  /** Its data was longer than the bound and was cut. */
  cut: boolean;
}

export class SseReader {
  private line = '';
  private event = '';
  private data: string[] = [];
  private dataLength = 0;
  private id: string | undefined;
  private cut = false;
  private started = false;
  count = 0;

  constructor(
    private readonly limit: number,
    private readonly onEvent: (e: SseEvent) => void,
  ) {}

  push(text: string): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) {
        this.line += text.slice(from);
        if (this.line.length > this.limit) {
          // A line without an end past the bound: drop it, remember the event was cut.
          this.line = '';
          this.cut = true;
        }
        return;
      }
      let line = this.line + text.slice(from, nl);
      this.line = '';
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.take(line);
      from = nl + 1;
    }
  }

  end(): void {
    if (this.line) this.take(this.line);
    this.line = '';
    this.take('');
  }

  private take(line: string): void {
    if (line === '') {
      if (this.started) this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    this.started = true;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      if (this.dataLength + value.length > this.limit) this.cut = true;
      else {
        this.data.push(value);
        this.dataLength += value.length + 1;
      }
    } else if (field === 'event') this.event = value.slice(0, 256);
    else if (field === 'id') this.id = value.slice(0, 256);
  }

  private dispatch(): void {
    const e: SseEvent = { event: this.event || 'message', data: this.data.join('\n'), cut: this.cut };
    if (this.id !== undefined) e.id = this.id;
    this.count++;
    this.event = '';
    this.data = [];
    this.dataLength = 0;
    this.cut = false;
    this.started = false;
    this.onEvent(e);
  }
}
