// Create-only review resources: SelfSubjectAccessReview (`kubectl auth can-i`)
// and SelfSubjectReview (`kubectl auth whoami`), answered for the effective user.
import { parseDocument } from './body.js';
import { sendJson, type RequestCtx } from './context.js';
import { badRequest } from './errors.js';
import { isObject } from './merge.js';
import type { ResourceDef } from './resources.js';

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
  if (!ra && !nra) throw badRequest('SelfSubjectAccessReview: exactly one of nonResourceAttributes or resourceAttributes must be specified');
  const allowed = ra
    ? ctx.state.authz.allowed(ctx.id, {
        resourceRequest: true,
        verb: String(ra.verb ?? ''),
        apiGroup: String(ra.group ?? ''),
        resource: String(ra.resource ?? ''),
        subresource: ra.subresource ? String(ra.subresource) : undefined,
        namespace: ra.namespace ? String(ra.namespace) : undefined,
        name: ra.name ? String(ra.name) : undefined,
      })
    : ctx.state.authz.allowed(ctx.id, { resourceRequest: false, verb: String(nra?.verb ?? ''), path: String(nra?.path ?? '') });
  sendJson(ctx, 201, { kind: d.kind, apiVersion, metadata: { creationTimestamp: null }, spec, status: { allowed } });
}
