// Reads the spool's lines in order, from wherever the uploader is, up to
// what has been written. Only whole lines are returned: the segment being
// written always ends at a line boundary (the writer is this process and
// writes each line whole), and a segment left by a crash may end in a torn
// line, which is skipped.
import type { Spool, SpoolPosition } from './spool.js';

export interface SpoolLine {
  pos: SpoolPosition;
  line: string;
}

export class SpoolCursor {
  pos: SpoolPosition;
  /** Torn or partial lines skipped (left by a crash or a failed write). */
  skipped = 0;

  constructor(private readonly spool: Spool) {
    const first = spool.segments()[0] ?? spool.end().segment;
    this.pos = { segment: first, offset: 0 };
  }

  /** Bytes written but not yet read. */
  behind(): number {
    let n = 0;
    for (const s of this.spool.segments()) {
      if (s < this.pos.segment) continue;
      n += this.spool.sizeOf(s) - (s === this.pos.segment ? this.pos.offset : 0);
    }
    return n;
  }

  /** Up to about `maxBytes` of whole lines (at least one line when there is one). */
  async next(maxBytes: number): Promise<SpoolLine[]> {
    const out: SpoolLine[] = [];
    let budget = maxBytes;
    while (budget > 0) {
      const seg = this.pos.segment;
      const present = this.spool.segments();
      if (!present.includes(seg)) {
        const later = present.find((s) => s > seg);
        if (later === undefined) break;
        this.pos = { segment: later, offset: 0 };
        continue;
      }
      const current = this.spool.isCurrent(seg);
      const end = current ? this.spool.end().offset : this.spool.sizeOf(seg);
      if (this.pos.offset >= end) {
        if (current) break;
        this.pos = { segment: seg + 1, offset: 0 };
        continue;
      }
      let buf = await this.spool.read(seg, this.pos.offset, Math.min(end, this.pos.offset + budget));
      let lastNl = buf.lastIndexOf(0x0a);
      if (lastNl < 0 && this.pos.offset + buf.length < end) {
        // One line longer than the budget: read it whole.
        buf = await this.spool.read(seg, this.pos.offset, end);
        lastNl = buf.indexOf(0x0a);
        if (lastNl >= 0) buf = buf.subarray(0, lastNl + 1);
      }
      if (lastNl < 0) {
        // No newline up to the end of a finished segment: a torn last line.
        this.skipped++;
        this.pos = { segment: seg + 1, offset: 0 };
        continue;
      }
      let start = 0;
      const whole = buf.subarray(0, buf.lastIndexOf(0x0a) + 1);
      while (start < whole.length) {
        const nl = whole.indexOf(0x0a, start);
        if (nl > start) out.push({ pos: { segment: seg, offset: this.pos.offset + start }, line: whole.toString('utf8', start, nl) });
        start = nl + 1;
      }
      this.pos = { segment: seg, offset: this.pos.offset + whole.length };
      budget -= whole.length;
    }
    return out;
  }
}
