// Writing kubeconfigs safely: they hold credentials (mode 0600) and a
// half-written kubeconfig locks a person out of their clusters, so writes go
// to a temporary file in the same directory and are renamed into place.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, copyFileSync, chmodSync, fsyncSync, openSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Replace `path` with `data` atomically; the file ends up with `mode`. A symlink is followed, not replaced. */
export function writeFileAtomic(path: string, data: string, mode = 0o600): void {
  let target = path;
  try {
    target = realpathSync(path);
  } catch {
    // a new file: write it where it was asked for
  }
  const tmp = join(dirname(target), `.${basename(target)}.kubetape-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}

/** 20240102T030405Z: sortable, and safe in file names on every OS. */
export function backupTimestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** Copy `path` to `path.kubetape-backup-<timestamp>` (mode 0600, never overwriting) and return the backup's path. */
export function backupFile(path: string, now = new Date()): string {
  const base = `${path}.kubetape-backup-${backupTimestamp(now)}`;
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    try {
      copyFileSync(path, candidate, constants.COPYFILE_EXCL);
      chmodSync(candidate, 0o600);
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 100) throw err;
    }
  }
}
