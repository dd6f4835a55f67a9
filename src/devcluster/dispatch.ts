// Routes an authorized resource request to its verb handler.
import type { RequestCtx } from './context.js';
import { badRequest, genericNotFound, methodNotAllowed, notFound } from './errors.js';
import { serveLog } from './logs.js';
import { getObject, gr, listOrWatch } from './read.js';
import { resourceForPath, type ResourceDef } from './resources.js';
import { serveReview } from './reviews.js';
import type { ResourceRequest } from './routes.js';
import { UPGRADE_SUBRESOURCES } from './upgrade.js';
import { createObject, deleteCollection, deleteObject, finalizeNamespace, patchObject, serveScale, updateObject } from './write.js';

/** The definition for a resource request, or the 404 the real server gives for a path it does not serve. */
export function resolveDef(r: ResourceRequest): ResourceDef {
  const d = resourceForPath(r.group, r.version, r.resource);
  if (!d || r.extra.length) throw genericNotFound();
  if (d.namespaced && r.name && !r.namespace) throw genericNotFound();
  if (!d.namespaced && r.namespace && d.resource !== 'namespaces') throw genericNotFound();
  return d;
}

export function serveResource(ctx: RequestCtx, r: ResourceRequest): void {
  const d = resolveDef(r);
  // Cluster-scoped objects live outside namespaces (namespaces/foo is "in" foo only for authorization).
  const ns = d.namespaced ? r.namespace : undefined;
  const method = ctx.req.method ?? 'GET';
  if (r.subresource) {
    serveSubresource(ctx, d, r, ns, method);
    return;
  }
  if (!d.verbs.includes(r.verb)) throw methodNotAllowed();
  if (!d.stored) {
    serveReview(ctx, d);
    return;
  }
  const name = r.name;
  switch (r.verb) {
    case 'get':
      return getObject(ctx, d, ns, name as string);
    case 'list':
      return listOrWatch(ctx, d, ns, false);
    case 'watch':
      return listOrWatch(ctx, d, ns, true, name);
    case 'create':
      if (name) throw methodNotAllowed();
      if (d.namespaced && !ns) throw genericNotFound();
      return createObject(ctx, d, ns);
    case 'update':
      if (!name) throw methodNotAllowed();
      return updateObject(ctx, d, ns, name, 'main');
    case 'patch':
      if (!name) throw methodNotAllowed();
      return patchObject(ctx, d, ns, name, 'main');
    case 'delete':
      return deleteObject(ctx, d, ns, name as string);
    case 'deletecollection':
      return deleteCollection(ctx, d, ns);
    default:
      throw methodNotAllowed();
  }
}

function serveSubresource(ctx: RequestCtx, d: ResourceDef, r: ResourceRequest, ns: string | undefined, method: string): void {
  const sub = d.subresources.find((s) => s.name === r.subresource);
  const name = r.name as string;
  if (!sub) throw genericNotFound();
  if (!sub.verbs.includes(r.verb)) throw methodNotAllowed();
  if (UPGRADE_SUBRESOURCES.has(sub.name)) {
    if (!ctx.state.store.lookup(d, ns, name)) throw notFound(gr(d), name);
    throw badRequest('Upgrade request required');
  }
  switch (sub.name) {
    case 'log': {
      const pod = ctx.state.store.lookup(d, ns, name);
      if (!pod) throw notFound(gr(d), name);
      ctx.state.streams.add(ctx.res);
      ctx.res.on('close', () => ctx.state.streams.delete(ctx.res));
      serveLog(ctx.res, pod, ctx.query, ctx.state.logs);
      return;
    }
    case 'status':
      if (method === 'GET') return getObject(ctx, d, ns, name);
      if (method === 'PUT') return updateObject(ctx, d, ns, name, 'status');
      return patchObject(ctx, d, ns, name, 'status');
    case 'scale':
      return serveScale(ctx, d, ns, name);
    case 'finalize':
      return finalizeNamespace(ctx, d, name);
    default:
      throw genericNotFound();
  }
}
