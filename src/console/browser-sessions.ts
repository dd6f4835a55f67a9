// Logins of the web console: a random session token in an HttpOnly, Secure,
// SameSite=Strict cookie scoped to /kubetape/, and a CSRF token the page
// reads from whoami and sends back in X-Kubetape-CSRF on every call that
// changes something. Kept in this process's memory, by the token's SHA-256
// (a memory dump does not hand out logins): a restart logs everyone out,
// and several replicas need the load balancer to keep a browser on one.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Identity } from '../model/identity.js';

export const COOKIE_NAME = 'kubetape_session';
export const CSRF_HEADER = 'x-kubetape-csrf';
/** Logins kept at most; the oldest goes first. */
const MAX_SESSIONS = 10_000;

export interface BrowserSession {
  identity: Identity;
  csrfToken: string;
  expiresAt: number;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

export class BrowserSessions {
  private readonly byHash = new Map<string, BrowserSession>();

  constructor(private readonly ttlMs: () => number) {}

  /** A new login; returns the cookie's value. */
  create(identity: Identity, now = Date.now()): { token: string; session: BrowserSession } {
    const token = randomBytes(32).toString('base64url');
    const session: BrowserSession = { identity, csrfToken: randomBytes(32).toString('base64url'), expiresAt: now + this.ttlMs() };
    if (this.byHash.size >= MAX_SESSIONS) this.byHash.delete(this.byHash.keys().next().value!);
    this.byHash.set(hash(token), session);
    return { token, session };
  }

  get(token: string, now = Date.now()): BrowserSession | undefined {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const h = hash(token);
    const s = this.byHash.get(h);
    if (s && s.expiresAt <= now) {
      this.byHash.delete(h);
      return undefined;
    }
    return s;
  }

  delete(token: string): void {
    this.byHash.delete(hash(token));
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
