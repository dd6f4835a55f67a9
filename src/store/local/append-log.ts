// An append-only file of newline-delimited JSON with group commit.
//
// Lines are written synchronously: a write of a few hundred bytes into the
// page cache takes microseconds, far less than a round trip through libuv's
// thread pool, and it makes ordering trivial. It already survives the
// process being killed. Durability against a machine crash needs fdatasync,
// which is slow (~0.2 ms here) and runs off the event loop; every caller that
// asks for durability while one runs shares the next one. A crash can leave
// at most a torn last line, which readers skip (see ndjson-reader.ts).
//
// A write that fails (disk full, EIO) throws at once, before append returns,
// so a caller can refuse to forward what it could not record. Whatever part
// of the line did reach the file is cut off again (ftruncate back to where
// the line started): no torn line is left in the middle of a file. If that
// cut fails too, the next line starts with a newline of its own, so the
// fragment stands alone on its line and readers skip it.
import { closeSync, fdatasync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';

const NEWLINE = Buffer.from('\n');

export class AppendLog {
  private readonly fd: number;
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;
  private closed = false;
  private lazySync: NodeJS.Timeout | undefined;
  /** A failed write left a fragment that could not be cut off: the next line starts on a fresh line. */
  private torn = false;
  /** A lazy (not awaited) fdatasync failed: reported by the next append, so its caller learns of it. */
  private lostSync: Error | undefined;

  constructor(readonly path: string) {
    // 'a' opens O_APPEND: every write lands at the end even if another process appends too.
    this.fd = openSync(path, 'a', 0o600);
  }

  /**
   * Append one line. With `durable`, resolve only after it is on disk.
   * Throws (synchronously) when the line cannot be written; nothing of it is then left in the file.
   */
  append(line: string, durable: boolean): Promise<void> {
    return this.appendEncoded(Buffer.from(line + '\n'), durable);
  }

  /**
   * Append one line already encoded as UTF-8, its newline included (callers that also hash the bytes encode once).
   * Throws (synchronously) when it cannot be written, as append does; the promise is about durability only.
   */
  appendEncoded(buf: Buffer, durable: boolean): Promise<void> {
    if (this.closed) throw new Error(`recording file ${this.path} is closed`);
    this.write(this.torn ? Buffer.concat([NEWLINE, buf]) : buf);
    this.torn = false;
    const lost = this.lostSync;
    if (lost) {
      // The line is written, but lines before it may not have reached the disk: say so now.
      this.lostSync = undefined;
      return durable ? this.sync().then(() => Promise.reject(lost)) : Promise.reject(lost);
    }
    if (durable) return this.sync();
    // Lines not awaited for durability (response data) still reach the disk within a second.
    if (!this.lazySync) {
      this.lazySync = setTimeout(() => {
        this.lazySync = undefined;
        if (!this.closed) {
          this.sync().catch((err: Error) => {
            this.lostSync ??= err;
          });
        }
      }, 1000);
      this.lazySync.unref();
    }
    return Promise.resolve();
  }

  /** All of `buf` or nothing: a short write followed by an error is cut back off the file. */
  private write(buf: Buffer): void {
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (err) {
      if (off > 0) {
        try {
          // O_APPEND put our bytes at the end, and nothing else writes this file meanwhile (writes here
          // are synchronous and the data dir belongs to one kubetape): the line started `off` bytes back.
          ftruncateSync(this.fd, fstatSync(this.fd).size - off);
        } catch {
          this.torn = true;
        }
      }
      throw err;
    }
  }

  /**
   * fdatasync, coalesced: every caller arriving while one runs shares the
   * next one. With none running, the next one still waits for the end of
   * this event-loop turn (setImmediate), so that requests of one session
   * parsed in the same turn (kubectl's parallel discovery GETs) share it:
   * starting at once made the second of them wait for a second fdatasync.
   * Each costs ~0.1 ms of CPU (measured on the project machine: ~70 us in
   * the syscall, ~140 us through the thread pool), the largest single item
   * of kubetape's CPU per request. Sessions are files of their own, so
   * requests of different sessions cannot share one.
   */
  sync(): Promise<void> {
    this.nextSync ??= (this.syncing ? this.syncing.catch(() => undefined) : endOfTurn()).then(() => {
      this.nextSync = undefined;
      return this.startSync();
    });
    return this.nextSync;
  }

  private startSync(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
    const guarded: Promise<void> = p.finally(() => {
      if (this.syncing === guarded) this.syncing = undefined;
    });
    guarded.catch(() => undefined); // the caller handles p's failure; this copy must not go unhandled
    this.syncing = guarded;
    return p;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.lazySync) clearTimeout(this.lazySync);
    await this.syncing?.catch(() => undefined);
    await this.nextSync?.catch(() => undefined);
    await new Promise<void>((resolve) => fdatasync(this.fd, () => resolve()));
    closeSync(this.fd);
  }
}

/** Resolves after the I/O callbacks of the current event-loop turn have run. */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
