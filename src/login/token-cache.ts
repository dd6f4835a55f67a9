// The plugin's token cache: ~/.kube/cache/kubetape (directory 0700), one
// file per (issuer, client id, user) named by a SHA-256 of those (files
// 0600). kubectl may run several plugins at once (parallel kubectl calls,
// k9s): writes are atomic renames, so a reader sees an old or a new file,
// never half of one; and a lock file makes one process do a refresh or a
// login while the others wait for its result instead of each opening a
// browser.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface LoginKey {
  issuer: string;
  clientId: string;
  /** A name for one of several accounts at the same issuer ('' by default). */
  user: string;
}

export interface CachedTokens extends LoginKey {
  idToken?: string;
  refreshToken?: string;
  /** Client credentials: the access token and when it expires (ISO time). */
  accessToken?: string;
  expiresAt?: string;
  /** The issuer's CA bundle (PEM) the login used, so `logout` can revoke over the same trust. */
  ca?: string;
  updatedAt: string;
}

export function defaultCacheDir(home = homedir()): string {
  return join(home, '.kube', 'cache', 'kubetape');
}

export class TokenCache {
  constructor(readonly dir: string) {}

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // mkdir leaves an existing directory's mode alone; the cache must not be readable by others.
    if ((statSync(this.dir).mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
  }

  fileFor(k: LoginKey): string {
    const h = createHash('sha256')
      .update(JSON.stringify([k.issuer, k.clientId, k.user]))
      .digest('hex');
    return join(this.dir, `${h}.json`);
  }

  read(k: LoginKey): CachedTokens | undefined {
    let text: string;
    try {
      text = readFileSync(this.fileFor(k), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read the token cache ${this.fileFor(k)} (${(err as NodeJS.ErrnoException).code})`, { cause: err });
    }
    try {
      const c = JSON.parse(text) as CachedTokens;
      return c.issuer === k.issuer && c.clientId === k.clientId && c.user === k.user ? c : undefined;
    } catch {
      return undefined; // a damaged file means: log in again
    }
  }

  write(t: CachedTokens): void {
    this.ensureDir();
    const file = this.fileFor(t);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify(t, null, 2) + '\n');
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }

  remove(k: LoginKey): boolean {
    try {
      unlinkSync(this.fileFor(k));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Every cached login (for `logout --all` and messages). */
  list(): CachedTokens[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: CachedTokens[] = [];
    for (const n of names) {
      if (!/^[0-9a-f]{64}\.json$/.test(n)) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as CachedTokens);
      } catch {
        // skip damaged files
      }
    }
    return out;
  }

  /** Remove every cache file; returns how many logins were forgotten. */
  removeAll(): number {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    let n = 0;
    for (const name of names) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      try {
        unlinkSync(join(this.dir, name));
        n++;
      } catch {
        // already gone
      }
    }
    return n;
  }

  /**
   * Run `fn` holding the lock for this login. A lock whose holder is dead,
   * or older than `staleMs`, is broken; waiting gives up after `waitMs`.
   */
  async withLock<T>(k: LoginKey, o: { waitMs: number; staleMs: number }, fn: () => Promise<T>): Promise<T> {
    this.ensureDir();
    const lock = `${this.fileFor(k)}.lock`;
    const deadline = Date.now() + o.waitMs;
    for (;;) {
      try {
        const fd = openSync(lock, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new Error(`cannot lock the token cache ${lock} (${(err as NodeJS.ErrnoException).code})`, { cause: err });
      }
      if (isStale(lock, o.staleMs)) {
        try {
          unlinkSync(lock);
        } catch {
          // someone else broke it first
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another kubetape credential has held ${lock} for too long; remove it if no login is running`);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
    try {
      return await fn();
    } finally {
      try {
        unlinkSync(lock);
      } catch {
        // nothing to release
      }
    }
  }
}

function isStale(lock: string, staleMs: number): boolean {
  try {
    const st = statSync(lock);
    if (Date.now() - st.mtimeMs > staleMs) return true;
    const pid = Number(readFileSync(lock, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    return false; // gone already: the next open will tell
  }
}
