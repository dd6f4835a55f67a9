// get and list (with limit/continue paging, label and field selectors), and
// the hand-off to watch.
import type { RequestCtx } from './context.js';
import { badRequest, notFound } from './errors.js';
import { objectKey } from './objects.js';
import { groupVersion, type ResourceDef } from './resources.js';
import { includeObject, respondList, respondObject, targetFor, type ListMeta } from './respond.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { KubeObject } from './types.js';
import { serveWatch } from './watch.js';

export const gr = (d: ResourceDef): { group: string; resource: string } => ({ group: d.group, resource: d.resource });

export function getObject(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, name: string): void {
  const target = targetFor(ctx);
  const o = ctx.state.store.lookup(d, ns, name);
  if (!o) throw notFound(gr(d), name);
  respondObject(ctx, d, 200, o, target);
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: string, lastKey: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv: Number(rv), start: `${lastKey}\u0000` };
  return Buffer.from(JSON.stringify(t)).toString('base64');
}

function decodeContinue(token: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw badRequest('continue key is not valid: illegal base64 data at input byte 0');
  }
  const t = parsed as Partial<ContinueToken>;
  if (!t || t.v !== 'meta.k8s.io/v1' || typeof t.start !== 'string' || typeof t.rv !== 'number') {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  return t as ContinueToken;
}

/**
 * list or watch of a collection; `pinnedName` comes from a GET on an object path
 * with watch=true (the name is then a field selector in effect).
 */
export function listOrWatch(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, watch: boolean, pinnedName?: string): void {
  const q = ctx.query;
  const target = targetFor(ctx);
  const labels = parseLabelSelector(q.get('labelSelector'));
  const fields = parseFieldSelector(q.get('fieldSelector'), d.kind);
  const name = pinnedName ?? undefined;
  const matches = (o: KubeObject): boolean => labels(o.metadata.labels) && fields.filter(o) && (name === undefined || o.metadata.name === name);
  if (watch) {
    serveWatch(ctx, { def: d, namespace: ns, matches, target, includeObject: target.kind === 'table' ? includeObject(q) : 'Metadata' });
    return;
  }
  const limitParam = q.get('limit');
  const limit = limitParam ? Number(limitParam) : 0;
  if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit: Invalid value: "${limitParam}": must be a non-negative integer`);
  const cont = q.get('continue');
  let rv = ctx.state.store.resourceVersion;
  let start = '';
  if (cont) {
    const t = decodeContinue(cont);
    rv = String(t.rv);
    start = t.start;
  }
  const all = ctx.state.store.listIn(d, d.namespaced ? ns : undefined);
  const items: KubeObject[] = [];
  const meta: ListMeta = { resourceVersion: rv };
  const selective = !!(q.get('labelSelector') || q.get('fieldSelector'));
  for (let i = 0; i < all.length; i++) {
    const o = all[i];
    const key = objectKey(d, o.metadata.namespace, String(o.metadata.name));
    if (start && key < start) continue;
    if (!matches(o)) continue;
    items.push(o);
    if (limit > 0 && items.length === limit) {
      if (i < all.length - 1) {
        meta.continue = encodeContinue(rv, key);
        if (!selective) meta.remainingItemCount = all.length - 1 - i;
      }
      break;
    }
  }
  respondList(ctx, d, items, meta, target);
}

export function listKind(d: ResourceDef): { kind: string; apiVersion: string } {
  return { kind: `${d.kind}List`, apiVersion: groupVersion(d) };
}
