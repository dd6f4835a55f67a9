// The index's sessions, read once and then followed as the file grows. The
// sessions API asks for one session's summary on every call (and the list
// for all of them); with 10,000 sessions the index is megabytes, and
// reading it whole each time cost ~50 ms a call, on every segment the
// player fetched. The index is only ever appended to, so what was read
// stays read: a call reads just the bytes added since (whole lines only, a
// line being written is left for the next call). A file that is replaced,
// shorter, or changed at the same size (its ctime moves) is read again
// from its start. This is for display and visibility; `verify` reads the
// index itself and judges every byte.
import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IndexEnd, IndexLine, IndexSeal, IndexStart } from './index-chain.js';

export interface IndexEntry {
  start?: IndexStart;
  end?: IndexEnd;
  seal?: IndexSeal;
}

/** Above this the index is not kept in memory: each call reads it, as before. */
const MAX_FOLLOWED_BYTES = 64 * 1024 * 1024;

export class IndexFollower {
  private byId = new Map<string, IndexEntry>();
  private ino = -1;
  private offset = 0;
  private ctimeMs = -1;
  private catchingUp: Promise<void> | undefined;

  constructor(private readonly path: string) {}

  /** Every session's index lines, as of now; undefined when the index is too large to keep. */
  async sessions(): Promise<Map<string, IndexEntry> | undefined> {
    // One catch-up at a time: a second caller waits for it and then checks again.
    while (this.catchingUp) await this.catchingUp;
    let st;
    try {
      st = statSync(this.path);
    } catch {
      return new Map();
    }
    if (st.size > MAX_FOLLOWED_BYTES) {
      this.reset();
      return undefined;
    }
    if (st.ino === this.ino && st.size === this.offset && st.ctimeMs === this.ctimeMs) return this.byId;
    const grown = st.ino === this.ino && st.size > this.offset && this.offset > 0;
    if (!grown) this.reset();
    this.catchingUp = this.read(st.ino, st.size, st.ctimeMs).finally(() => (this.catchingUp = undefined));
    await this.catchingUp;
    return this.byId;
  }

  private reset(): void {
    this.byId = new Map();
    this.ino = -1;
    this.offset = 0;
    this.ctimeMs = -1;
  }

  private async read(ino: number, size: number, ctimeMs: number): Promise<void> {
    const f = await open(this.path, 'r');
    let buf: Buffer;
    try {
      buf = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await f.read(buf, got, buf.length - got, this.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      buf = buf.subarray(0, got);
    } finally {
      await f.close();
    }
    const lastNl = buf.lastIndexOf(0x0a);
    if (lastNl < 0) return;
    for (const line of buf.toString('utf8', 0, lastNl).split('\n')) {
      if (!line) continue;
      let l: IndexLine;
      try {
        l = JSON.parse(line) as IndexLine;
      } catch {
        continue; // a torn or foreign line: skip it, keep the rest readable
      }
      if (l.kind === 'checkpoint') continue;
      const e = this.byId.get(l.id) ?? {};
      if (l.kind === 'start') e.start = l;
      else if (l.kind === 'end') e.end = l;
      else if (l.kind === 'seal') e.seal = l;
      this.byId.set(l.id, e);
    }
    this.ino = ino;
    this.offset += lastNl + 1;
    // A line still being written is read next time; until then the file does not count as caught up.
    this.ctimeMs = this.offset === size ? ctimeMs : -1;
  }
}
