// One data dir belongs to one running kubetape: DATA/kubetape.lock, held
// while the process runs.
//
// The lock is a small JSON file naming its holder (pid, the process's start
// time and the boot id, see store/process-identity.ts, plus where it
// listens). It is taken atomically: the content is written to a private
// temporary file first and then hard-linked to the lock's name, which fails
// when the name exists, so nobody ever reads a half-written lock. A lock
// whose holder no longer runs (kill -9, a crash, a reboot; a reused pid has
// another start time) is stale: it is renamed away, checked to be the very
// file judged stale (another process may have taken over in between), and
// removed; then the lock is taken again. The holder removes its lock when it
// stops, and on process exit.
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { currentProcess, isCurrentProcess, isRunning, type ProcessIdentity } from '../store/process-identity.js';

export const LOCK_FILE = 'kubetape.lock';

export interface LockHolder extends ProcessIdentity {
  /** Random per lock taken: tells this lock from an earlier or later one of the same process. */
  nonce: string;
  hostname: string;
  /** What the holder was asked to listen on, and once bound, its URLs. */
  listen?: string;
  adminListen?: string;
  url?: string;
  adminUrl?: string;
  since: string;
  /** What is running: `serve`, `dev`. */
  command?: string;
}

export type LockInfo = Pick<LockHolder, 'listen' | 'adminListen' | 'url' | 'adminUrl' | 'command'>;

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    const where = holder.url ? `listening on ${holder.url}` : holder.listen ? `starting on ${holder.listen}` : 'starting';
    const what = holder.command ? `kubetape ${holder.command}` : 'kubetape';
    super(
      `the data dir ${dataDir} is in use by ${what} (pid ${holder.pid}${holder.hostname !== hostname() ? ` on ${holder.hostname}` : ''}, ${where}, since ${holder.since}); ` +
        `stop it first, or give this one its own --data-dir`,
    );
  }
}

export interface DataDirLock {
  readonly path: string;
  /** Rewrites the holder's details (the bound URLs), keeping the lock. */
  update(info: LockInfo): void;
  /** Removes the lock if it is still this one. Idempotent. */
  release(): void;
}

/** Locks held by this process, by path, with their release: a second kubetape in one process is refused like one in another. */
const heldHere = new Map<string, () => void>();
let exitHook = false;

/** Takes DATA/kubetape.lock or throws DataDirLockedError naming the running holder. */
export function acquireDataDirLock(dataDir: string, info: LockInfo = {}, log?: (line: string) => void): DataDirLock {
  const path = join(resolve(dataDir), LOCK_FILE);
  const me = currentProcess();
  let holder: LockHolder = { ...me, nonce: randomBytes(12).toString('hex'), hostname: hostname(), since: new Date().toISOString(), ...clean(info) };
  for (let attempt = 0; attempt < 20; attempt++) {
    if (tryCreate(path, holder))
      return held(
        path,
        () => holder,
        (h) => (holder = h),
      );
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      throw e;
    }
    const other = parseHolder(text);
    if (other && (isCurrentProcess(other) ? heldHere.has(path) : isRunning(other))) throw new DataDirLockedError(resolve(dataDir), other);
    // Stale (its process is gone, or the file is not a lock we can read): move it aside, then make sure it was that one.
    const aside = `${path}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    let moved = '';
    try {
      moved = readFileSync(aside, 'utf8');
    } catch {
      // gone: nothing to put back
    }
    if (moved !== text) {
      // Someone took the lock between our read and the rename: give it back.
      try {
        linkSync(aside, path);
      } catch {
        // a third process holds it now; ours to retry either way
      }
    } else if (other) {
      log?.(`kubetape: took over ${path} from pid ${other.pid}, which is no longer running`);
    }
    try {
      unlinkSync(aside);
    } catch {
      // already gone
    }
  }
  throw new Error(`could not take the lock ${path}: it keeps changing hands`);
}

function clean(info: LockInfo): LockInfo {
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined));
}

function tryCreate(path: string, holder: LockHolder): boolean {
  const tmp = `${path}.new.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(holder) + '\n', { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path); // atomic, and fails when the lock exists
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as LockHolder;
    return h && typeof h === 'object' && Number.isInteger(h.pid) ? h : undefined;
  } catch {
    return undefined;
  }
}

function isOurs(path: string, nonce: string): boolean {
  try {
    return parseHolder(readFileSync(path, 'utf8'))?.nonce === nonce;
  } catch {
    return false;
  }
}

function held(path: string, get: () => LockHolder, set: (h: LockHolder) => void): DataDirLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    heldHere.delete(path);
    if (!isOurs(path, get().nonce)) return;
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  heldHere.set(path, release);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const r of [...heldHere.values()]) r();
    });
  }
  return {
    path,
    update(info: LockInfo): void {
      if (released || !isOurs(path, get().nonce)) return;
      const next = { ...get(), ...clean(info) };
      const tmp = `${path}.new.${process.pid}.${randomBytes(6).toString('hex')}`;
      writeFileSync(tmp, JSON.stringify(next) + '\n', { mode: 0o600, flag: 'wx' });
      renameSync(tmp, path);
      set(next);
    },
    release,
  };
}
