// Budgets that keep recording from filling the disk, and whether recording
// works right now (readiness).
//
//   disk reserve   the data dir's filesystem keeps `diskReserveBytes` free
//                  (default 5% of it, at most 512 MiB). Below it, new
//                  requests and sessions are refused (507); below half of
//                  it, running streams (exec, attach, port-forward, watches,
//                  logs -f) are stopped as when a write fails. The half
//                  that is left is for the ends: responses and session ends
//                  are always written, so a full disk still closes every
//                  recording properly. Free space is read with statfs every
//                  second and lowered by what kubetape wrote meanwhile.
//   per user       each person may record `userDailyBytes` a day (UTC):
//                  past it, their new requests are refused (507) and their
//                  running streams stopped. The day's counts are kept in
//                  DATA/recording-usage.json (written each second while they
//                  change, and at shutdown), so a restart does not hand
//                  everyone a fresh budget; a kill -9 forgets at most the
//                  last second. Each kubetape counts what it records itself
//                  (several behind one load balancer: each has its budget).
//   health         a write that fails marks recording as failing: /readyz
//                  answers 503 until a durable append succeeds again (the
//                  readiness check itself tries one, a small probe file, so
//                  a kubetape taken out of rotation can come back).
//
// In failMode open the budgets are not enforced and nothing is stopped:
// recording goes on until a write fails, which is counted
// (kubetape_recording_failures_total) and logged.
import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_RESERVE_FRACTION = 0.05;
export const DEFAULT_RESERVE_CAP = 512 * 1024 * 1024;
export const DEFAULT_USER_DAILY_BYTES = 2 * 1024 * 1024 * 1024;
const STATFS_EVERY_MS = 1000;
/** The day's per-user counts, in the data dir (one kubetape per data dir: the lock). */
export const USAGE_FILE = 'recording-usage.json';

interface UsageFile {
  day: string;
  users: Record<string, number>;
}

const today = (): string => new Date().toISOString().slice(0, 10);

/** Why a running stream was stopped (or new work refused): an HTTP status and Status reason go with it. */
export class RecordingStopped extends Error {
  override name = 'RecordingStopped';
  constructor(
    message: string,
    readonly statusCode: number,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** A recording budget is spent: 507 Insufficient Storage. */
export class RecordingBudgetError extends RecordingStopped {
  override name = 'RecordingBudgetError';
  constructor(message: string) {
    super(message, 507, 'InsufficientStorage');
  }
}

/** A write of the recording failed (disk full, I/O error, a store error): 503. */
export function recordingFailed(err: Error): RecordingStopped {
  return new RecordingStopped(`its recording failed: ${err.message}`, 503, 'ServiceUnavailable');
}

export interface RecordingLimitsOptions {
  /** A directory on the filesystem recordings are written to (the data dir). */
  dataDir: string;
  /** Free bytes kept on that filesystem; undefined: 5% of it, at most 512 MiB; 0: no reserve. */
  diskReserveBytes?: number | undefined;
  /** Bytes each user may record per UTC day; 0: no limit. */
  userDailyBytes: number;
  failMode: 'closed' | 'open';
  /** Tests: how often free space is read (default 1 s). */
  statfsEveryMs?: number;
}

export class RecordingLimits {
  private free = Infinity;
  private reserve = 0;
  private writtenSinceStat = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly usage = new Map<string, { day: string; bytes: number }>();
  private failing: Error | undefined;
  /** Charges not yet written to USAGE_FILE. */
  private usageDirty = false;

  constructor(private readonly o: RecordingLimitsOptions) {
    this.stat();
    this.loadUsage();
    if (this.o.diskReserveBytes !== 0 || this.o.userDailyBytes !== 0) {
      this.timer = setInterval(() => {
        this.stat();
        this.saveUsage();
      }, o.statfsEveryMs ?? STATFS_EVERY_MS);
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.saveUsage();
  }

  private get usagePath(): string {
    return join(this.o.dataDir, USAGE_FILE);
  }

  /** Today's counts from an earlier run (another day's, or a file that does not parse, count nothing). */
  private loadUsage(): void {
    if (this.o.userDailyBytes === 0) return;
    let f: UsageFile;
    try {
      f = JSON.parse(readFileSync(this.usagePath, 'utf8')) as UsageFile;
    } catch {
      return;
    }
    if (!f || f.day !== today() || typeof f.users !== 'object' || f.users === null) return;
    for (const [user, bytes] of Object.entries(f.users)) {
      if (typeof bytes === 'number' && Number.isFinite(bytes) && bytes > 0) this.usage.set(user, { day: f.day, bytes });
    }
  }

  /** Writes today's counts (a temporary file renamed over the last one: never half written). Best effort: a full disk keeps the last. */
  private saveUsage(): void {
    if (!this.usageDirty) return;
    this.usageDirty = false;
    const day = today();
    const users: Record<string, number> = {};
    for (const [user, u] of this.usage) if (u.day === day) users[user] = u.bytes;
    const tmp = `${this.usagePath}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ day, users } satisfies UsageFile) + '\n', { mode: 0o600 });
      renameSync(tmp, this.usagePath);
    } catch {
      this.usageDirty = true; // tried again in a second
    }
  }

  /** Free bytes on the data dir's filesystem as last read, less what was written since. */
  get freeBytes(): number {
    return this.free - this.writtenSinceStat;
  }

  get reserveBytes(): number {
    return this.reserve;
  }

  private stat(): void {
    if (this.o.diskReserveBytes === 0) return;
    try {
      const s = statfsSync(this.o.dataDir);
      this.free = s.bavail * s.bsize;
      this.writtenSinceStat = 0;
      this.reserve = this.o.diskReserveBytes ?? Math.min(DEFAULT_RESERVE_CAP, Math.floor(s.blocks * s.bsize * DEFAULT_RESERVE_FRACTION));
    } catch {
      // statfs unavailable: no disk budget (a failing write still stops streams)
    }
  }

  /** Throws RecordingBudgetError when `user` may not start anything new (failMode closed). */
  admitNew(user: string): void {
    if (this.o.failMode === 'open') return;
    const disk = this.diskProblem(this.reserve);
    if (disk) throw new RecordingBudgetError(`kubetape refuses new requests: ${disk}`);
    const u = this.userProblem(user);
    if (u) throw new RecordingBudgetError(`kubetape refuses new requests of ${user}: ${u}`);
  }

  /** Counts `bytes` written for `user` (against their daily budget and the disk's free space). */
  charge(user: string, bytes: number): void {
    this.writtenSinceStat += bytes;
    if (this.o.userDailyBytes === 0) return;
    const day = today();
    let u = this.usage.get(user);
    if (!u || u.day !== day) this.usage.set(user, (u = { day, bytes: 0 }));
    u.bytes += bytes;
    this.usageDirty = true;
  }

  /** Why a running stream of `user` must stop now; undefined when it may go on (failMode open: never stops). */
  streamProblem(user: string): RecordingBudgetError | undefined {
    if (this.o.failMode === 'open') return undefined;
    const disk = this.diskProblem(this.reserve / 2);
    if (disk) return new RecordingBudgetError(disk);
    const u = this.userProblem(user);
    return u ? new RecordingBudgetError(`${user}: ${u}`) : undefined;
  }

  private diskProblem(keep: number): string | undefined {
    if (this.reserve <= 0 || this.freeBytes >= keep) return undefined;
    return `the recording disk (${this.o.dataDir}) has ${mib(Math.max(0, this.freeBytes))} free, below the ${mib(this.reserve)} kubetape keeps in reserve (recording.diskReserveBytes)`;
  }

  private userProblem(user: string): string | undefined {
    const limit = this.o.userDailyBytes;
    if (limit === 0) return undefined;
    const u = this.usage.get(user);
    if (!u || u.bytes < limit || u.day !== today()) return undefined;
    return `${mib(u.bytes)} recorded today (UTC), the daily budget is ${mib(limit)} (recording.userDailyBytes)`;
  }

  /** A write failed: readiness fails until a durable append succeeds. */
  failed(err: Error): void {
    this.failing = err;
  }

  /** A durable append succeeded: recording works again. */
  succeeded(): void {
    this.failing = undefined;
  }

  get failure(): Error | undefined {
    return this.failing;
  }

  /** Readiness: throws while recording fails or the disk is below its reserve. */
  async ready(): Promise<void> {
    // failMode open keeps serving when recording fails (counted and logged): readiness says so only in closed mode.
    const failing = this.o.failMode === 'closed' ? this.failing : undefined;
    if (failing) {
      // Taken out of rotation, kubetape may see no request that could show it works again: try a durable write itself.
      try {
        this.probe();
        this.stat();
        if (this.failing === failing) this.failing = undefined;
      } catch (err) {
        throw new Error(`recording fails: ${failing.message} (a test write now: ${(err as Error).message})`, { cause: err });
      }
    }
    if (this.o.failMode === 'closed') {
      const disk = this.diskProblem(this.reserve);
      if (disk) throw new Error(disk);
    }
  }

  /** Writes and fdatasyncs 4 KiB in the data dir, then removes it. */
  private probe(): void {
    const path = join(this.o.dataDir, '.kubetape-write-probe');
    const fd = openSync(path, 'w', 0o600);
    try {
      writeSync(fd, Buffer.alloc(4096, 0x20));
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
      unlinkSync(path);
    }
  }
}

const mib = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);
