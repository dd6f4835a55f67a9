// Writing objects and lists in whatever form the client negotiated (JSON,
// YAML, Table, PartialObjectMetadata), lists assembled from each stored
// object's cached JSON so big lists stay cheap.
import { sendJson, type RequestCtx } from './context.js';
import { badRequest } from './errors.js';
import { negotiate, sendBody, contentTypeFor, type Target } from './negotiate.js';
import { groupVersion, type ResourceDef } from './resources.js';
import { partialObjectMetadata, renderTable, type IncludeObject } from './tables.js';
import type { KubeObject } from './types.js';

export function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  if (v === null || v === '' || v === 'Metadata') return 'Metadata';
  if (v === 'None' || v === 'Object') return v;
  throw badRequest(`Unable to convert to Table as requested: includeObject: Unsupported value: "${v}": supported values: "Metadata", "None", "Object"`);
}

export function targetFor(ctx: RequestCtx): Target {
  const target = negotiate(ctx.req.headers.accept, true);
  if (target.kind === 'table') includeObject(ctx.query);
  return target;
}

/** One object (stored or not) as the client asked for it. */
export function respondObject(ctx: RequestCtx, d: ResourceDef, code: number, o: KubeObject, target: Target): void {
  switch (target.kind) {
    case 'table':
      sendJson(ctx, code, renderTable(d, [o], { includeObject: includeObject(ctx.query), apiVersion: target.apiVersion }), target);
      return;
    case 'partial':
      sendJson(ctx, code, partialObjectMetadata(o, target.apiVersion), target);
      return;
    case 'yaml':
      sendJson(ctx, code, o, target);
      return;
    case 'json':
      sendBody(ctx.req, ctx.res, code, ctx.state.store.jsonOf(d, o, false), 'application/json', { compression: ctx.state.compression });
  }
}

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export function respondList(ctx: RequestCtx, d: ResourceDef, items: KubeObject[], meta: ListMeta, target: Target): void {
  switch (target.kind) {
    case 'table':
      sendJson(ctx, 200, renderTable(d, items, { includeObject: includeObject(ctx.query), apiVersion: target.apiVersion, listMeta: meta }), target);
      return;
    case 'partial':
      sendJson(
        ctx,
        200,
        {
          kind: 'PartialObjectMetadataList',
          apiVersion: target.apiVersion,
          metadata: meta,
          items: items.map((o) => partialObjectMetadata(o, target.apiVersion)),
        },
        target,
      );
      return;
    case 'yaml':
      sendJson(
        ctx,
        200,
        { apiVersion: groupVersion(d), items: items.map((o) => ({ ...o, kind: undefined, apiVersion: undefined })), kind: `${d.kind}List`, metadata: meta },
        target,
      );
      return;
    case 'json': {
      const head = `{"kind":${JSON.stringify(`${d.kind}List`)},"apiVersion":${JSON.stringify(groupVersion(d))},"metadata":${JSON.stringify(meta)},"items":[`;
      const body = head + items.map((o) => ctx.state.store.jsonOf(d, o, true)).join(',') + ']}';
      sendBody(ctx.req, ctx.res, 200, body, contentTypeFor(target), { compression: ctx.state.compression });
    }
  }
}
