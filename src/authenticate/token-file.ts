// Static bearer tokens in kube-apiserver's --token-auth-file format:
//   token,user,uid,"group1,group2"
// (uid and groups optional; '#' starts a comment). The file is re-read when it
// changes, so tokens can be added or revoked without a restart. Tokens are
// kept only as SHA-256 digests, so a lookup's timing says nothing about how
// much of a guessed token was right.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { bearerToken, type AuthResult, type Authenticator } from './identity.js';
import type { Identity } from '../model/identity.js';

export interface TokenEntry {
  token: string;
  user: string;
  uid?: string;
  groups: string[];
}

/** Parse one CSV record with double-quoted fields ("" escapes a quote). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new Error('unterminated quote');
  out.push(cur);
  return out.map((f) => f.trim());
}

export function parseTokenFile(text: string, path = 'token file'): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    let f: string[];
    try {
      f = parseCsvLine(line);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: ${(e as Error).message}`, { cause: e });
    }
    if (f.length < 2 || !f[0] || !f[1]) throw new Error(`${path}:${i + 1}: expected token,user[,uid[,"groups"]]`);
    const e: TokenEntry = {
      token: f[0],
      user: f[1],
      groups: f[3]
        ? f[3]
            .split(',')
            .map((g) => g.trim())
            .filter(Boolean)
        : [],
    };
    if (f[2]) e.uid = f[2];
    entries.push(e);
  });
  return entries;
}

export function formatTokenLine(e: TokenEntry): string {
  return `${e.token},${e.user},${e.uid ?? ''},"${e.groups.join(',')}"`;
}

const digest = (t: string) => createHash('sha256').update(t).digest('base64');

export class TokenFileAuthenticator implements Authenticator {
  private byDigest = new Map<string, Identity>();
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(
    private readonly path: string,
    private readonly recheckMs = 1000,
  ) {
    this.reload(true);
  }

  /** Load the file when it changed; a broken edit keeps the last good tokens (and says so). */
  private reload(initial: boolean): void {
    const now = Date.now();
    if (!initial && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    let st;
    try {
      st = statSync(this.path);
    } catch (e) {
      if (initial) throw new Error(`cannot read token file ${this.path}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
      return;
    }
    if (st.mtimeMs === this.mtimeMs) return;
    try {
      const entries = parseTokenFile(readFileSync(this.path, 'utf8'), this.path);
      const map = new Map<string, Identity>();
      for (const e of entries) {
        const id: Identity = { user: e.user, groups: e.groups, method: 'token-file' };
        if (e.uid) id.uid = e.uid;
        map.set(digest(e.token), id);
      }
      this.byDigest = map;
      this.mtimeMs = st.mtimeMs;
    } catch (e) {
      if (initial) throw e;
      process.stderr.write(`kubetape: keeping previous tokens: ${(e as Error).message}\n`);
      this.mtimeMs = st.mtimeMs;
    }
  }

  async authenticate(authorization: string | undefined): Promise<AuthResult> {
    const token = bearerToken(authorization);
    if (!token) return { ok: false, reason: authorization ? 'the Authorization header is not a bearer token' : 'no bearer token was presented' };
    this.reload(false);
    const id = this.byDigest.get(digest(token));
    if (!id) return { ok: false, reason: 'the bearer token is not known to kubetape' };
    // Everyone authenticated belongs to system:authenticated, as in the API server.
    return { ok: true, identity: { ...id, groups: id.groups.includes('system:authenticated') ? id.groups : [...id.groups, 'system:authenticated'] } };
  }
}

/** Create a token file holding one fresh token for `user`, unless the file exists. Returns the file's first token. */
export function ensureLocalTokenFile(path: string, user: string, groups: string[]): TokenEntry {
  try {
    const entries = parseTokenFile(readFileSync(path, 'utf8'), path);
    if (entries[0]) return entries[0];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const entry: TokenEntry = { token: randomBytes(32).toString('base64url'), user, groups };
  writeFileSync(path, `# kubetape local tokens: token,user,uid,"groups" (kube-apiserver token file format)\n${formatTokenLine(entry)}\n`, { mode: 0o600 });
  return entry;
}
