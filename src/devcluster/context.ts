// Per-server state and per-request context shared by the handlers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, type Status } from './errors.js';
import type { LogSource } from './logs.js';
import { sendBody, sendObject, type Target } from './negotiate.js';
import type { ObjectStore } from './objects.js';
import type { OpenApi } from './openapi.js';
import type { Authorizer, Identity } from './rbac.js';
import type { ReceivedRequest, UpgradeHandler } from './types.js';

export interface ServerState {
  store: ObjectStore;
  logs: LogSource;
  authz: Authorizer;
  openapi: OpenApi;
  minor: string;
  /** /version's gitVersion, when not the default v1.<minor>.0. */
  gitVersion?: string;
  aggregatedDiscovery: boolean;
  compression: boolean;
  podTerminationMs: number;
  /** host:port for /api's serverAddressByClientCIDRs. */
  serverAddress: string;
  /** Pending deferred work (pod termination, namespace cleanup); cleared on close. */
  timers: Set<NodeJS.Timeout>;
  /** Responses still streaming (watch, log follow); ended on close. */
  streams: Set<ServerResponse>;
  upgradeHandler?: UpgradeHandler;
  closed: boolean;
}

export interface RequestCtx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  query: URLSearchParams;
  id: Identity;
  body: Buffer;
  state: ServerState;
  record: ReceivedRequest;
}

export function sendJson(ctx: RequestCtx, code: number, value: unknown, target: Target = { kind: 'json' }): void {
  sendObject(ctx.req, ctx.res, code, value, target, { compression: ctx.state.compression });
}

export function sendStatus(req: IncomingMessage, res: ServerResponse, s: Status, compression: boolean): void {
  sendBody(req, res, s.code, JSON.stringify(s), 'application/json', { compression });
}

/** `dryRun=All` (the only value the server accepts). */
export function isDryRun(q: URLSearchParams): boolean {
  const values = q.getAll('dryRun');
  for (const v of values) if (v !== 'All') throw badRequest(`Invalid dry run value: ${v}; only "All" is supported`);
  return values.length > 0;
}

/** fieldManager, or what the server derives from the User-Agent ("kubectl" from "kubectl/v1.32.4 ..."). */
export function fieldManager(ctx: RequestCtx): string {
  const explicit = ctx.query.get('fieldManager');
  if (explicit) {
    if (explicit.length > 128) throw badRequest(`fieldManager: Too long: may not be more than 128 bytes`);
    return explicit;
  }
  const ua = String(ctx.req.headers['user-agent'] ?? '');
  const prefix = ua.split('/')[0].trim();
  return prefix.slice(0, 128) || 'unknown';
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function fieldValidation(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation: Unsupported value: "${v}": supported values: "Ignore", "Strict", "Warn"`);
}

/** Adds a `Warning: 299 - "..."` header the way the server reports non-fatal problems. */
export function addWarning(res: ServerResponse, text: string): void {
  const prev = res.getHeader('Warning');
  const value = `299 - ${JSON.stringify(text)}`;
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  res.setHeader('Warning', [...list, value]);
}
