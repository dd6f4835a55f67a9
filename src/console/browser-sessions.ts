// Logins of the web console: a random session token in an HttpOnly, Secure,
// SameSite=Strict cookie scoped to /kubetape/, and a CSRF token the page
// reads from whoami and sends back in X-Kubetape-CSRF on every call that
// changes something. Kept by the token's SHA-256 (whoever reads where they
// are kept cannot log in with them) in a LoginStore that follows the
// recording store (login-stores.ts): a file in the data dir, so a restart
// keeps everyone logged in, or the DynamoDB table, so every replica behind
// the load balancer knows every login.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Identity } from '../model/identity.js';

export const COOKIE_NAME = 'kubetape_session';
export const CSRF_HEADER = 'x-kubetape-csrf';

export interface BrowserSession {
  identity: Identity;
  csrfToken: string;
  expiresAt: number;
}

/** Where logins are kept, by the SHA-256 (hex) of their token. */
export interface LoginStore {
  put(tokenHash: string, s: BrowserSession): Promise<void>;
  get(tokenHash: string): Promise<BrowserSession | undefined>;
  /** Ends a login (logout): it is never valid again. */
  revoke(tokenHash: string): Promise<void>;
  close(): void;
}

/** Whether a value read back from where logins are kept is one (a file or an item anyone with access may have edited). */
export function isSession(s: unknown): s is BrowserSession {
  const v = s as BrowserSession | null;
  return (
    !!v &&
    typeof v.csrfToken === 'string' &&
    typeof v.expiresAt === 'number' &&
    !!v.identity &&
    typeof v.identity.user === 'string' &&
    Array.isArray(v.identity.groups) &&
    v.identity.groups.every((g) => typeof g === 'string')
  );
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

export class BrowserSessions {
  constructor(
    private readonly ttlMs: () => number,
    private readonly store: LoginStore,
  ) {}

  /** A new login; returns the cookie's value. */
  async create(identity: Identity, now = Date.now()): Promise<{ token: string; session: BrowserSession }> {
    const token = randomBytes(32).toString('base64url');
    const session: BrowserSession = { identity, csrfToken: randomBytes(32).toString('base64url'), expiresAt: now + this.ttlMs() };
    await this.store.put(hash(token), session);
    return { token, session };
  }

  async get(token: string, now = Date.now()): Promise<BrowserSession | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const s = await this.store.get(hash(token));
    return s && s.expiresAt > now ? s : undefined;
  }

  delete(token: string): Promise<void> {
    return this.store.revoke(hash(token));
  }

  close(): void {
    this.store.close();
  }
}

/** The kubetape_session cookie's value, if the request carries one. */
export function sessionCookie(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE_NAME) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function setCookieHeader(token: string, maxAgeSeconds: number): string {
  return `${COOKIE_NAME}=${token}; Path=/kubetape/; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.floor(maxAgeSeconds)}`;
}

export function clearCookieHeader(): string {
  return `${COOKIE_NAME}=; Path=/kubetape/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
}

/** Whether the request's X-Kubetape-CSRF header is this session's token (compared in constant time). */
export function csrfMatches(req: IncomingMessage, s: BrowserSession): boolean {
  const v = req.headers[CSRF_HEADER];
  if (typeof v !== 'string') return false;
  const a = Buffer.from(v);
  const b = Buffer.from(s.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
