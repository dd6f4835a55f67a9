// One-time login links for the console, for a kubetape without OIDC (the
// local token file): `kubetape console` mints one for the person at this
// machine and the running kubetape consumes it. A link is a random token;
// only its SHA-256 is written, one file per link under DATA/console-links/
// (mode 0600), with who it logs in and until when. Consuming renames the
// file away first, so two browsers racing with one link get one login.
// Whoever can write the data dir can mint a link for anyone, as they can
// read every local recording anyway: the data dir is the trust root here.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LINKS_DIR = 'console-links';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface LinkIdentity {
  user: string;
  groups: string[];
}

interface LinkFile extends LinkIdentity {
  expiresAt: number;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Writes a new link valid for `ttlSeconds`; returns its token (shown once, never stored). */
export function mintLoginLink(dataDir: string, who: LinkIdentity, ttlSeconds: number, now = Date.now()): string {
  const dir = join(dataDir, LINKS_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  sweep(dir, now);
  const token = randomBytes(32).toString('base64url');
  const f: LinkFile = { user: who.user, groups: who.groups, expiresAt: now + ttlSeconds * 1000 };
  writeFileSync(join(dir, `${hash(token)}.json`), JSON.stringify(f) + '\n', { mode: 0o600, flag: 'wx' });
  return token;
}

/** Who the link logs in, once: a second use, an expired or unknown link gives undefined. */
export function consumeLoginLink(dataDir: string, token: string, now = Date.now()): LinkIdentity | undefined {
  if (!TOKEN.test(token)) return undefined;
  const dir = join(dataDir, LINKS_DIR);
  const file = join(dir, `${hash(token)}.json`);
  const taken = `${file}.${randomBytes(8).toString('hex')}.used`;
  try {
    renameSync(file, taken);
  } catch {
    return undefined; // unknown, or already used
  }
  try {
    const f = JSON.parse(readFileSync(taken, 'utf8')) as Partial<LinkFile>;
    if (typeof f.user !== 'string' || !Array.isArray(f.groups) || typeof f.expiresAt !== 'number' || f.expiresAt <= now) return undefined;
    return { user: f.user, groups: f.groups.filter((g): g is string => typeof g === 'string') };
  } catch {
    return undefined;
  } finally {
    rmSync(taken, { force: true });
  }
}

/** Removes links past their time (and leftovers of consumed ones). */
function sweep(dir: string, now: number): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      if (name.endsWith('.used')) rmSync(path, { force: true });
      else if ((JSON.parse(readFileSync(path, 'utf8')) as LinkFile).expiresAt <= now) rmSync(path, { force: true });
    } catch {
      // unreadable: leave it
    }
  }
}
