// The approvals API on kubetape's own listener (/kubetape/v1/approvals,
// also under /clusters/NAME/ so a multi-cluster kubeconfig's server works).
// Callers are authenticated like every request; the caller is the actor.
// These requests are recorded like any other and never go upstream.
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { sendStatus } from '../../model/status.js';
import type { RequestTarget } from '../../model/request-target.js';
import { requestAttributes } from '../../model/request-attributes.js';
import { recordedHeaders } from '../../forward/headers.js';
import { readBody, hasBody } from '../../forward/read-body.js';
import type { Recorder, Exchange } from '../../record/recorder.js';
import type { Identity } from '../../model/identity.js';
import { ApprovalError, type ApprovalStore } from './store.js';
import { AUDIT_STATUSES, auditStatus, type ApprovalState, type AuditStatus, type GrantState } from './model.js';
import { parseDuration } from './duration.js';

const PATH = /^(?:\/clusters\/[^/]+)?\/kubetape\/v1\/approvals(?:\/([^/?]+)\/(request|approve|deny))?\/?(?:\?.*)?$/;

/** An approval as the API shows it. */
export interface ApprovalView {
  id: string;
  /** pending, approved, denied, or what became of the grant: used (one-time, taken) or expired. */
  status: AuditStatus;
  user: string;
  cluster: string;
  what: string;
  rule: string;
  approvers: string[];
  requestedAt: string;
  reason?: string;
  grant?: GrantState;
  decidedBy?: string;
  decidedAt?: string;
  denyReason?: string;
}

export function approvalView(s: ApprovalState, now = Date.now()): ApprovalView {
  const r = s.request;
  return {
    id: r.id,
    status: auditStatus(s, now),
    user: r.user,
    cluster: r.cluster,
    what: r.what,
    rule: r.rule,
    approvers: r.approvers,
    requestedAt: r.at,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    ...(s.grant ? { grant: s.grant } : {}),
    ...(s.decidedBy ? { decidedBy: s.decidedBy } : {}),
    ...(s.decidedAt ? { decidedAt: s.decidedAt } : {}),
    ...(s.denyReason !== undefined ? { denyReason: s.denyReason } : {}),
  };
}

export function createApprovalRoutes(store: ApprovalStore, recorder: Recorder): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const m = PATH.exec(req.originalUrl);
    if (!m) return next();
    const identity = res.locals['identity'] as Identity;
    let body: Buffer | undefined;
    try {
      if (hasBody(req)) body = await readBody(req, 64 * 1024);
    } catch (err) {
      return sendStatus(res, 400, `kubetape could not read the request body: ${(err as Error).message}`, 'BadRequest');
    }
    let exchange: Exchange;
    try {
      exchange = await recorder.begin({
        identity,
        method: req.method,
        uri: req.originalUrl,
        attrs: requestAttributes(req.method, res.locals['target'] as RequestTarget),
        headers: recordedHeaders(req.headers),
        ...(body ? { body } : {}),
        streaming: false,
        source: req.socket.remoteAddress ?? '',
        socket: req.socket,
      });
    } catch (err) {
      return sendStatus(res, 503, `kubetape refused the request because it could not be recorded: ${(err as Error).message}`, 'ServiceUnavailable');
    }
    const reply = (code: number, value: unknown) => {
      const out = Buffer.from(JSON.stringify(value));
      exchange.responseHead(code, 'application/json', undefined);
      exchange.responseData(out);
      exchange.finish(code >= 400 ? (value as { message?: string }).message : undefined, code);
      res.status(code).type('application/json').send(out);
    };
    try {
      reply(200, await handle(store, identity, req.method, m[1], m[2], body, new URL(req.originalUrl, 'http://kubetape').searchParams));
    } catch (err) {
      const e =
        err instanceof ApprovalError ? err : new ApprovalError(500, `kubetape could not handle the approval: ${(err as Error).message}`, 'InternalError');
      reply(e.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, code: e.code });
    }
  };
}

async function handle(
  store: ApprovalStore,
  who: Identity,
  method: string,
  id: string | undefined,
  action: string | undefined,
  body: Buffer | undefined,
  query: URLSearchParams,
): Promise<unknown> {
  if (!id) {
    if (method !== 'GET') throw new ApprovalError(405, `${method} is not supported on /kubetape/v1/approvals (GET lists pending requests)`, 'MethodNotAllowed');
    if (query.get('all') === 'true') return { items: await history(store, who, parseHistoryQuery(query)) };
    return { items: (await store.pending()).filter((s) => mayView(who, s)).map((s) => approvalView(s)) };
  }
  if (method !== 'POST') throw new ApprovalError(405, `use POST for ${action}`, 'MethodNotAllowed');
  const input = parseBody(body);
  const actor = { user: who.user, groups: who.groups };
  if (action === 'request') {
    const s = await store.get(id);
    if (!s) throw new ApprovalError(404, `no approval request ${id}: run the command first; its refusal names the id`, 'NotFound');
    if (s.request.user !== who.user) throw new ApprovalError(403, `${id} was asked for by ${s.request.user}; only they can request it`, 'Forbidden');
    const reason = typeof input['reason'] === 'string' ? input['reason'] : '';
    const { type: _t, at: _a, ...rest } = s.request;
    return approvalView(await store.request({ ...rest, reason }));
  }
  // An approval is a person's decision: an agent (a machine identity, or one acting for someone) can never give or refuse one.
  if ((action === 'approve' || action === 'deny') && who.kind === 'machine')
    throw new ApprovalError(403, `approvals are decided by people; ${who.agent ?? who.user} is an agent (a machine identity)`, 'Forbidden');
  if (action === 'approve') {
    const once = input['once'] === true;
    let durationMs: number | undefined;
    if (input['duration'] !== undefined) {
      durationMs = typeof input['duration'] === 'string' ? parseDuration(input['duration']) : undefined;
      if (durationMs === undefined) throw new ApprovalError(400, `duration must be like 30m or 1h, got ${JSON.stringify(input['duration'])}`, 'BadRequest');
    }
    if (once && durationMs !== undefined) throw new ApprovalError(400, 'give a duration or once, not both', 'BadRequest');
    // Neither given: one use, within the policy's maximum.
    return approvalView(await store.approve(id, actor, { once: durationMs === undefined, ...(durationMs !== undefined ? { durationMs } : {}) }));
  }
  const reason = input['reason'];
  if (typeof reason !== 'string' || !reason.trim()) throw new ApprovalError(400, 'a denial needs a reason', 'BadRequest');
  return approvalView(await store.deny(id, actor, reason));
}

export interface HistoryFilter {
  user?: string;
  status?: AuditStatus;
  /** Rounds requested at or after this time. */
  since?: number;
}

function parseHistoryQuery(q: URLSearchParams): HistoryFilter {
  const f: HistoryFilter = {};
  const user = q.get('user');
  if (user) f.user = user;
  const status = q.get('status');
  if (status) {
    if (!(AUDIT_STATUSES as readonly string[]).includes(status))
      throw new ApprovalError(400, `status must be one of ${AUDIT_STATUSES.join(', ')}, got "${status}"`, 'BadRequest');
    f.status = status as AuditStatus;
  }
  const since = q.get('since');
  if (since) {
    const t = Date.parse(since);
    if (Number.isNaN(t)) throw new ApprovalError(400, `since must be a timestamp, got "${since}"`, 'BadRequest');
    f.since = t;
  }
  return f;
}

/**
 * Who sees which rounds of the history: the requester sees their own, and a
 * member of one of a request's approvers groups (someone who could decide on
 * it) sees it too; nobody else does. Decided per request, from the approvers
 * recorded with it, so a policy reload never widens what an old entry shows.
 * The pending list (GET without all=true) follows the same rule: what someone
 * asked to do, and why, is shown to them and to whoever may decide on it.
 */
export function mayView(who: { user: string; groups: string[] }, s: ApprovalState): boolean {
  return s.request.user === who.user || who.groups.some((g) => s.request.approvers.includes(g));
}

async function history(store: ApprovalStore, who: Identity, f: HistoryFilter): Promise<ApprovalView[]> {
  const now = Date.now();
  return (await store.history())
    .filter((s) => mayView(who, s))
    .filter((s) => f.user === undefined || s.request.user === f.user)
    .filter((s) => f.since === undefined || Date.parse(s.request.at) >= f.since)
    .map((s) => approvalView(s, now))
    .filter((v) => f.status === undefined || v.status === f.status);
}

function parseBody(body: Buffer | undefined): Record<string, unknown> {
  if (!body || body.length === 0) return {};
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ApprovalError(400, 'the request body must be a JSON object', 'BadRequest');
}
