// The console on kubetape's API listener, assembled: what runs before
// authentication (UI files, login, the cookie: console-front.ts), the
// sessions API (sessions-routes.ts) after it, and a 404 for anything else
// under /kubetape/ so that kubetape's own paths are never forwarded.
import { readFileSync } from 'node:fs';
import type { RequestHandler } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServeConfig } from '../config/config.js';
import type { Authenticator } from '../authenticate/identity.js';
import type { Recorder } from '../record/recorder.js';
import type { RecordingStore } from '../store/store.js';
import type { PolicyHolder } from '../authorize/policy/holder.js';
import { BrowserSessions, type LoginStore } from './browser-sessions.js';
import { createConsoleFront, ownApiNotFound } from './console-front.js';
import { ConsoleOidcLogin } from './oidc-login.js';
import { createSessionsRoutes } from './sessions-routes.js';
import { createUiStatic } from './ui-static.js';

/** How often a live view reads a local session again. */
const LOCAL_LIVE_MS = 250;

export interface ConsoleOptions {
  config: ServeConfig;
  dataDir: string;
  store: RecordingStore;
  recorder: Recorder;
  /** Where browser logins are kept (login-stores.ts). */
  logins: LoginStore;
  authenticator: Authenticator;
  policy?: PolicyHolder;
  /** The web UI's files (default: the built console UI, console/ui-static.ts). */
  ui?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  log: (line: string) => void;
}

export interface Console {
  /** Before authentication: UI files, login, logout, the cookie and its CSRF check. */
  front: RequestHandler;
  /** After authentication: the sessions API. */
  routes: RequestHandler;
  /** Last of kubetape's own handlers: a 404 Status for any other /kubetape/ path. */
  notFound: RequestHandler;
}

export function createConsole(o: ConsoleOptions): Console {
  const c = o.config;
  const consoleConfig = () => c.console;
  const oidcConfig = c.console?.oidc;
  let oidc: ConsoleOidcLogin | undefined;
  if (oidcConfig) {
    const issuer = c.authentication?.oidc.find((i) => i.issuer === oidcConfig.issuer);
    if (!issuer) o.log(`kubetape: console.oidc.issuer ${oidcConfig.issuer} is not one of authentication.oidc's issuers: its logins will not be accepted`);
    oidc = new ConsoleOidcLogin(oidcConfig, issuer?.ca ? readFileSync(issuer.ca, 'utf8') : undefined);
  }
  const sessions = new BrowserSessions(() => (c.console?.sessionTtlSeconds ?? 8 * 3600) * 1000, o.logins);
  const liveIntervalMs = (c.recording.store ?? 'local') === 'aws' ? Math.round((c.recording.flushSeconds ?? 2) * 1000) : LOCAL_LIVE_MS;
  return {
    front: createConsoleFront({
      dataDir: o.dataDir,
      sessions,
      console: consoleConfig,
      // The web UI (ui-static.ts, built from ui/ by `npm ci`): static files, served before authentication.
      ui: o.ui ?? createUiStatic(),
      ...(oidc ? { oidc } : {}),
      authenticate: (authorization) => o.authenticator.authenticate(authorization),
      log: o.log,
    }),
    routes: createSessionsRoutes({
      store: o.store,
      recorder: o.recorder,
      console: consoleConfig,
      policy: () => o.policy?.current,
      liveIntervalMs,
    }),
    notFound: ownApiNotFound(),
  };
}
