// The spool: a local, fsync'd queue of recording events in the data dir, in
// front of a remote store. Every event is appended here before kubetape
// forwards the bytes it describes; an uploader drains it. It is a series of
// NDJSON segment files (DATA/spool/00000001.ndjson, ...), one event per
// line, all sessions interleaved in the order they were recorded, written
// with AppendLog (synchronous write, group-committed fdatasync). A segment
// is deleted once everything in it is uploaded; a restart after a crash
// starts a new segment and finds the old ones still there.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { AppendLog } from '../local/append-log.js';
import { currentProcess, isRunning, type ProcessIdentity } from '../process-identity.js';

/** Where a line starts: segment number and byte offset. Lines of one session are in position order. */
export interface SpoolPosition {
  segment: number;
  offset: number;
}

export const comparePositions = (a: SpoolPosition, b: SpoolPosition): number => a.segment - b.segment || a.offset - b.offset;

const SEGMENT = /^(\d{8})\.ndjson$/;
const segmentName = (n: number): string => `${String(n).padStart(8, '0')}.ndjson`;
/** How often (at most) the time of an append is noted, for "oldest event not yet uploaded". */
const MARK_EVERY_MS = 200;

export class SpoolLockedError extends Error {}

export class Spool {
  private readonly sizes = new Map<number, number>();
  private log: AppendLog;
  private currentSegment: number;
  private currentBroken = false;
  private readonly marks: Array<{ segment: number; offset: number; time: number }> = [];
  /** The first segment this process writes; lower ones are left from an earlier run. */
  readonly firstSegmentOfRun: number;
  private bytesPresent = 0;
  /** Bytes the last append wrote (its line and newline). */
  lastAppendBytes = 0;

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
  ) {
    for (const name of readdirSync(dir)) {
      const m = SEGMENT.exec(name);
      if (!m) continue;
      const st = statSync(join(dir, name));
      const n = Number(m[1]);
      this.sizes.set(n, st.size);
      this.bytesPresent += st.size;
      this.marks.push({ segment: n, offset: 0, time: st.mtimeMs });
    }
    this.marks.sort((a, b) => a.segment - b.segment);
    this.currentSegment = Math.max(0, ...this.sizes.keys()) + 1;
    this.firstSegmentOfRun = this.currentSegment;
    this.log = this.openSegment(this.currentSegment);
  }

  /** Open (or create) the spool in `dir`; refuses when another live process owns it. */
  static open(dir: string, opts: { segmentBytes: number }): Spool {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const lock = join(dir, 'owner.json');
    try {
      const owner = JSON.parse(readFileSync(lock, 'utf8')) as ProcessIdentity;
      // Start time and boot id, when recorded: a pid reused after kill -9 is not the owner.
      if (owner.pid !== process.pid && isRunning(owner)) {
        throw new SpoolLockedError(
          `the recording spool ${dir} is in use by another kubetape (pid ${owner.pid}); give each kubetape its own data dir (if pid ${owner.pid} is not kubetape, delete ${lock})`,
        );
      }
    } catch (e) {
      if (e instanceof SpoolLockedError) throw e;
      // no owner, or an unreadable one: take it
    }
    writeFileSync(lock, JSON.stringify({ ...currentProcess(), since: new Date().toISOString() }) + '\n', { mode: 0o600 });
    return new Spool(dir, opts.segmentBytes);
  }

  private openSegment(n: number): AppendLog {
    this.sizes.set(n, this.sizes.get(n) ?? 0);
    const log = new AppendLog(join(this.dir, segmentName(n)));
    // The new file's directory entry must be on disk too, or a power cut could lose the whole segment.
    const d = openSync(this.dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
    return log;
  }

  /** Bytes in segment files not yet released. */
  get bytes(): number {
    return this.bytesPresent;
  }

  /**
   * Append one line (an event's JSON). The write happens now; with `durable`
   * the promise resolves once it is fsync'd. A write that fails (disk full)
   * throws at once, and nothing of the line is kept (see AppendLog).
   */
  append(line: string, durable: boolean): Promise<void> {
    const size = this.sizes.get(this.currentSegment) ?? 0;
    if ((size >= this.segmentBytes && size > 0) || this.currentBroken) this.rotate();
    const seg = this.currentSegment;
    const n = Buffer.byteLength(line) + 1;
    const now = Date.now();
    const last = this.marks[this.marks.length - 1];
    if (!last || now - last.time >= MARK_EVERY_MS) this.marks.push({ segment: seg, offset: this.sizes.get(seg) ?? 0, time: now });
    let p: Promise<void>;
    try {
      p = this.log.append(line, durable);
    } catch (err) {
      // Later lines go to a fresh segment, in case a fragment could not be cut off this one.
      this.currentBroken = true;
      this.resize(seg);
      throw err;
    }
    this.sizes.set(seg, (this.sizes.get(seg) ?? 0) + n);
    this.bytesPresent += n;
    this.lastAppendBytes = n;
    return p.catch((err: Error) => {
      // A failed write (disk full) may have left part of a line: later lines go to a fresh segment.
      if (seg === this.currentSegment) this.currentBroken = true;
      this.resize(seg);
      throw err;
    });
  }

  private resize(seg: number): void {
    try {
      const actual = statSync(join(this.dir, segmentName(seg))).size;
      this.bytesPresent += actual - (this.sizes.get(seg) ?? 0);
      this.sizes.set(seg, actual);
    } catch {
      // gone: released meanwhile
    }
  }

  private rotate(): void {
    const old = this.log;
    // Opened first: on a full disk this throws, and the spool stays on the segment it had.
    const next = this.currentSegment + 1;
    let log: AppendLog;
    try {
      log = this.openSegment(next);
    } catch (err) {
      if (this.sizes.get(next) === 0) this.sizes.delete(next);
      throw err;
    }
    this.currentSegment = next;
    this.currentBroken = false;
    this.log = log;
    void old.close();
  }

  /** The end of what has been written (a line boundary): the uploader reads up to here. */
  end(): SpoolPosition {
    return { segment: this.currentSegment, offset: this.sizes.get(this.currentSegment) ?? 0 };
  }

  /** Segment numbers present, ascending. */
  segments(): number[] {
    return [...this.sizes.keys()].sort((a, b) => a - b);
  }

  sizeOf(segment: number): number {
    return this.sizes.get(segment) ?? 0;
  }

  isCurrent(segment: number): boolean {
    return segment === this.currentSegment;
  }

  async read(segment: number, from: number, to: number): Promise<Buffer> {
    const fh = await open(join(this.dir, segmentName(segment)), 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, to - from));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, from + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  /** Delete every segment below `segment` (never the one being written): all of it is uploaded. */
  release(segment: number): void {
    for (const n of this.segments()) {
      if (n >= segment || n === this.currentSegment) continue;
      rmSync(join(this.dir, segmentName(n)), { force: true });
      this.bytesPresent -= this.sizes.get(n) ?? 0;
      this.sizes.delete(n);
    }
    while (this.marks.length > 1 && this.marks[1].segment < segment) this.marks.shift();
  }

  /** When the line at `pos` was written, at the latest (to within MARK_EVERY_MS); undefined if unknown. */
  writtenBy(pos: SpoolPosition): number | undefined {
    let best: number | undefined;
    for (const m of this.marks) {
      if (comparePositions(m, pos) > 0) break;
      best = m.time;
    }
    return best ?? this.marks[0]?.time;
  }

  async close(): Promise<void> {
    await this.log.close();
    try {
      const owner = JSON.parse(readFileSync(join(this.dir, 'owner.json'), 'utf8')) as { pid: number };
      if (owner.pid === process.pid) rmSync(join(this.dir, 'owner.json'), { force: true });
    } catch {
      // already gone
    }
  }
}
