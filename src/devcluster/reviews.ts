// Create-only review resources: SelfSubjectAccessReview (`kubectl auth can-i`)
// and SelfSubjectReview (`kubectl auth whoami`), answered for the effective
// user; SubjectAccessReview, answered for the user and groups in its spec.
import { parseDocument } from './body.js';
import { sendJson, type RequestCtx } from './context.js';
import { badRequest } from './errors.js';
import { isObject } from './merge.js';
import type { ResourceDef } from './resources.js';
import type { Identity } from './rbac.js';
import { textOf } from '../model/text.js';

type Obj = Record<string, unknown>;

export function serveReview(ctx: RequestCtx, d: ResourceDef): void {
  const raw = parseDocument(ctx, d);
  if (!isObject(raw)) throw badRequest(`couldn't get version/kind; json parse error: expected an object`);
  const apiVersion = `${d.group}/${d.version}`;
  if (d.kind === 'SelfSubjectReview') {
    const userInfo: Obj = { username: ctx.id.user };
    if (ctx.id.uid) userInfo.uid = ctx.id.uid;
    userInfo.groups = ctx.id.groups;
    if (ctx.id.extra) userInfo.extra = ctx.id.extra;
    sendJson(ctx, 201, { kind: d.kind, apiVersion, metadata: { creationTimestamp: null }, status: { userInfo } });
    return;
  }
  const spec = isObject(raw.spec) ? (raw.spec as Obj) : {};
  const ra = isObject(spec.resourceAttributes) ? (spec.resourceAttributes as Obj) : undefined;
  const nra = isObject(spec.nonResourceAttributes) ? (spec.nonResourceAttributes as Obj) : undefined;
  if (!ra && !nra) throw badRequest(`${d.kind}: exactly one of nonResourceAttributes or resourceAttributes must be specified`);
  const subject = d.kind === 'SubjectAccessReview' ? reviewSubject(spec) : ctx.id;
  const allowed = ra
    ? ctx.state.authz.allowed(subject, {
        resourceRequest: true,
        verb: textOf(ra.verb ?? ''),
        apiGroup: textOf(ra.group ?? ''),
        resource: textOf(ra.resource ?? ''),
        subresource: ra.subresource ? textOf(ra.subresource) : undefined,
        namespace: ra.namespace ? textOf(ra.namespace) : undefined,
        name: ra.name ? textOf(ra.name) : undefined,
      })
    : ctx.state.authz.allowed(subject, { resourceRequest: false, verb: textOf(nra?.verb ?? ''), path: textOf(nra?.path ?? '') });
  sendJson(ctx, 201, { kind: d.kind, apiVersion, metadata: { creationTimestamp: null }, spec, status: { allowed } });
}

/** SubjectAccessReview's spec names the subject; at least a user or a group is required, as the real validation says. */
function reviewSubject(spec: Obj): Identity {
  const user = typeof spec.user === 'string' ? spec.user : '';
  const groups = Array.isArray(spec.groups) ? spec.groups.filter((g): g is string => typeof g === 'string') : [];
  if (!user && groups.length === 0) throw badRequest('SubjectAccessReview: at least one of user or group must be specified');
  return { user, groups };
}
