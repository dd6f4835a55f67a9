// What the console answers before authentication: the web UI's static
// files (they hold no recording), the login endpoints, and the console's
// cookie. A request under /kubetape/ that carries the kubetape_session
// cookie and no Authorization header is authenticated by it here (only
// there: a cookie never authenticates a request that could be forwarded to
// a cluster); with it, every call that changes something must carry the
// session's CSRF token in X-Kubetape-CSRF, or it is refused (403). A bearer
// token (kubectl-style) needs none: a browser never adds one by itself.
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendStatus } from '../model/status.js';
import type { RequestTarget } from '../model/request-target.js';
import type { Identity } from '../model/identity.js';
import type { AuthResult } from '../authenticate/identity.js';
import type { ConsoleConfig } from '../config/console.js';
import { BrowserSessions, clearCookieHeader, type BrowserSession, csrfMatches, sessionCookie, setCookieHeader } from './browser-sessions.js';
import { consumeLoginLink } from './login-links.js';
import { LOGIN_COOKIE, describeOidcError, type ConsoleOidcLogin } from './oidc-login.js';

export const UI_HOME = '/kubetape/ui/';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ConsoleFrontOptions {
  dataDir: string;
  sessions: BrowserSessions;
  console: () => ConsoleConfig | undefined;
  /** The web UI's static files (console/ui-static.ts), when built. */
  ui?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  oidc?: ConsoleOidcLogin;
  /** kubetape's authenticator: checks the ID token an OIDC login brings back. */
  authenticate: (authorization: string) => Promise<AuthResult>;
  log: (line: string) => void;
}

/**
 * A return target kubetape will redirect to: a path under /kubetape/ui/ on
 * this origin, nothing else (no scheme, no host, no `//`, no backslash, no
 * dot segments, no control characters); anything else is the UI's home.
 */
export function safeReturn(v: string | null | undefined): string {
  if (!v || v.length > 1024) return UI_HOME;
  if (!v.startsWith(UI_HOME) || !/^[\x21-\x7e]+$/.test(v) || v.includes('\\') || v.includes('//')) return UI_HOME;
  const path = v.split(/[?#]/)[0];
  if (path.split('/').some((s) => s === '.' || s === '..' || /%2e/i.test(s) || /%2f|%5c/i.test(s))) return UI_HOME;
  return v;
}

/** The segments after /kubetape/ (and /clusters/NAME/), or undefined for any other path. */
function ownPath(t: RequestTarget): readonly string[] | undefined {
  let s = t.segments;
  if (s[0] === 'clusters' && s.length >= 2) s = s.slice(2);
  return s[0] === 'kubetape' ? s.slice(1) : undefined;
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function redirect(res: ServerResponse, to: string, cookies: string[] = []): void {
  res.writeHead(302, { Location: to, 'Cache-Control': 'no-store', ...(cookies.length ? { 'Set-Cookie': cookies } : {}) });
  res.end();
}

export function createConsoleFront(o: ConsoleFrontOptions): RequestHandler {
  const ttlSeconds = () => o.console()?.sessionTtlSeconds ?? 8 * 3600;
  const login = async (res: ServerResponse, identity: Identity, to: string, extra: string[] = []) => {
    let token: string;
    try {
      ({ token } = await o.sessions.create(identity));
    } catch (e) {
      return sendStatus(res, 503, `kubetape could not keep this login: ${(e as Error).message}`, 'ServiceUnavailable');
    }
    redirect(res, to, [setCookieHeader(token, ttlSeconds()), ...extra]);
  };
  return async (req: Request, res: Response, next: NextFunction) => {
    const target = res.locals['target'] as RequestTarget;
    const own = ownPath(target);
    if (!own) return next();
    if (own[0] === 'ui' && target.segments[0] === 'kubetape') {
      if (o.ui) return o.ui(req, res, () => sendStatus(res, 404, 'no such file in the console', 'NotFound'));
      return sendStatus(res, 404, 'the console UI is not built here: run `npm ci` (it builds ui/)', 'NotFound');
    }
    if (own[0] !== 'v1') return next();
    const what = own.slice(1).join('/');
    const q = target.params;
    if (what === 'login' || what === 'login/callback' || what === 'login/link') {
      if (req.method !== 'GET') return sendStatus(res, 405, `use GET for /kubetape/v1/${what}`);
      if (what === 'login/link') {
        const who = consumeLoginLink(o.dataDir, q.get('token') ?? '');
        if (!who) return sendStatus(res, 401, 'this login link was used already, has expired, or is not one kubetape made: run `kubetape console` again');
        return login(res, { user: who.user, groups: who.groups, method: 'console-link' }, safeReturn(q.get('return')));
      }
      if (!o.oidc)
        return sendStatus(res, 401, 'no OIDC login is configured for the console (console.oidc): run `kubetape console` on the kubetape host for a login link');
      if (what === 'login') {
        const host = req.headers.host ?? '';
        if (!/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) return sendStatus(res, 400, 'the Host header is not a host name');
        try {
          const { url, state } = await o.oidc.start(safeReturn(q.get('return')), `https://${host}`);
          return redirect(res, url, [`${LOGIN_COOKIE}=${state}; Path=/kubetape/v1/login; HttpOnly; Secure; SameSite=Lax; Max-Age=600`]);
        } catch (e) {
          return sendStatus(res, 503, `the console cannot reach its OIDC issuer: ${describeOidcError(e)}`, 'ServiceUnavailable');
        }
      }
      try {
        const { idToken, returnTo } = await o.oidc.finish(target.query, cookieValue(req, LOGIN_COOKIE));
        const r = await o.authenticate(`Bearer ${idToken}`);
        if (!r.ok) return sendStatus(res, 401, `the ID token of this login was not accepted: ${r.reason}`);
        return login(res, r.identity, returnTo, [`${LOGIN_COOKIE}=; Path=/kubetape/v1/login; HttpOnly; Secure; SameSite=Lax; Max-Age=0`]);
      } catch (e) {
        return sendStatus(res, 401, `login failed: ${describeOidcError(e)}`);
      }
    }
    // Everything else under /kubetape/: the cookie, when there is no bearer token.
    const token = req.headers.authorization ? undefined : sessionCookie(req);
    let session: BrowserSession | undefined;
    try {
      session = token ? await o.sessions.get(token) : undefined;
    } catch (e) {
      return sendStatus(res, 503, `kubetape could not read its console logins: ${(e as Error).message}`, 'ServiceUnavailable');
    }
    if (what === 'logout') {
      if (req.method !== 'POST') return sendStatus(res, 405, 'use POST for /kubetape/v1/logout');
      if (session && !csrfMatches(req, session)) return sendStatus(res, 403, 'the X-Kubetape-CSRF header is missing or wrong', 'Forbidden');
      if (token) {
        try {
          await o.sessions.delete(token);
        } catch (e) {
          return sendStatus(res, 503, `kubetape could not end this login: ${(e as Error).message}`, 'ServiceUnavailable');
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Set-Cookie': clearCookieHeader(), 'Cache-Control': 'no-store' });
      return res.end('{}');
    }
    if (session) {
      if (!SAFE_METHODS.has(req.method) && !csrfMatches(req, session)) {
        return sendStatus(res, 403, 'the X-Kubetape-CSRF header is missing or wrong: send the csrfToken whoami gives', 'Forbidden');
      }
      res.locals['identity'] = session.identity;
      res.locals['browserSession'] = session;
    }
    next();
  };
}

/** kubetape's own API is never forwarded: a path under /kubetape/ nothing answered is a 404 here. */
export function ownApiNotFound(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const own = ownPath(res.locals['target'] as RequestTarget);
    if (!own) return next();
    sendStatus(res, 404, `kubetape has no API at ${(res.locals['target'] as RequestTarget).path.slice(0, 200)}`, 'NotFound');
  };
}
