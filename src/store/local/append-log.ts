// An append-only file of newline-delimited JSON with group commit: writes are
// issued strictly in order, and any number of callers waiting for durability
// share one fdatasync. A crash can leave at most a torn last line, which
// readers skip (see ndjson-reader.ts).
import { open, type FileHandle } from 'node:fs/promises';

export class AppendLog {
  private fh: Promise<FileHandle>;
  private tail: Promise<void> = Promise.resolve();
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;
  private closed = false;
  private lazySync: NodeJS.Timeout | undefined;

  constructor(readonly path: string) {
    // 'a' opens O_APPEND: every write lands at the end even if another process appends too.
    this.fh = open(path, 'a', 0o600);
    this.fh.catch(() => undefined); // surfaced by the first append
  }

  /** Append one line. With `durable`, resolve only after it is on disk. */
  append(line: string, durable: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`recording file ${this.path} is closed`));
    const buf = Buffer.from(line + '\n');
    const written = (this.tail = this.tail.then(async () => {
      const fh = await this.fh;
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
    }));
    // Keep the chain alive after a failure so later appends report their own error.
    this.tail = written.catch(() => undefined);
    if (durable) return written.then(() => this.sync());
    // Lines not awaited for durability (response data) still reach the disk within a second.
    if (!this.lazySync) {
      this.lazySync = setTimeout(() => {
        this.lazySync = undefined;
        if (!this.closed) this.sync().catch(() => undefined);
      }, 1000);
      this.lazySync.unref();
    }
    return written;
  }

  /** fdatasync, coalesced: every caller arriving while one runs shares the next one. */
  sync(): Promise<void> {
    if (!this.syncing) return this.startSync();
    if (!this.nextSync) {
      this.nextSync = this.syncing
        .catch(() => undefined)
        .then(() => {
          this.nextSync = undefined;
          return this.startSync();
        });
    }
    return this.nextSync;
  }

  private startSync(): Promise<void> {
    const p = (async () => {
      const fh = await this.fh;
      await fh.datasync();
    })();
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
    await this.tail;
    const fh = await this.fh.catch(() => undefined);
    if (!fh) return;
    await fh.datasync().catch(() => undefined);
    await fh.close();
  }
}
