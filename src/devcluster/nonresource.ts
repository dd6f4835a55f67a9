// Non-resource endpoints: /version, health checks, discovery and OpenAPI.
import { createHash } from 'node:crypto';
import { sendJson, type RequestCtx } from './context.js';
import { aggregatedContentType, aggregatedDiscovery, apiGroup, apiGroupList, apiVersions, resourceList, versionInfo, wantsAggregated } from './discovery.js';
import { sendBody } from './negotiate.js';

function notFoundPage(ctx: RequestCtx): void {
  sendBody(ctx.req, ctx.res, 404, '404 page not found\n', 'text/plain; charset=utf-8', { compression: false });
}

function sendDiscovery(ctx: RequestCtx, which: 'api' | 'apis'): void {
  const v = ctx.state.aggregatedDiscovery ? wantsAggregated(ctx.req.headers.accept) : undefined;
  if (!v) {
    sendJson(ctx, 200, which === 'api' ? apiVersions(ctx.state.serverAddress) : apiGroupList());
    return;
  }
  const body = JSON.stringify(aggregatedDiscovery(which, v));
  const etag = createHash('sha512').update(body).digest('hex').slice(0, 64).toUpperCase();
  ctx.res.setHeader('Vary', 'Accept');
  ctx.res.setHeader('ETag', `"${etag}"`);
  sendBody(ctx.req, ctx.res, 200, body, aggregatedContentType(v), { compression: ctx.state.compression });
}

export function serveNonResource(ctx: RequestCtx): void {
  const path = ctx.url.pathname.replace(/\/+$/, '') || '/';
  const seg = path.split('/').filter(Boolean);
  if (path === '/version') return sendJson(ctx, 200, versionInfo(ctx.state.minor, ctx.state.gitVersion));
  if (['healthz', 'livez', 'readyz'].includes(seg[0])) {
    return sendBody(ctx.req, ctx.res, 200, 'ok', 'text/plain; charset=utf-8', { compression: false });
  }
  if (path === '/api') return sendDiscovery(ctx, 'api');
  if (path === '/apis') return sendDiscovery(ctx, 'apis');
  if (seg[0] === 'api' && seg.length === 2) {
    const list = resourceList('', seg[1]);
    return list ? sendJson(ctx, 200, list) : notFoundPage(ctx);
  }
  if (seg[0] === 'apis' && seg.length === 2) {
    const g = apiGroup(seg[1]);
    return g ? sendJson(ctx, 200, g) : notFoundPage(ctx);
  }
  if (seg[0] === 'apis' && seg.length === 3) {
    const list = resourceList(seg[1], seg[2]);
    return list ? sendJson(ctx, 200, list) : notFoundPage(ctx);
  }
  if (path === '/openapi/v3') return sendJson(ctx, 200, ctx.state.openapi.index());
  if (seg[0] === 'openapi' && seg[1] === 'v3') {
    const doc = ctx.state.openapi.document(seg.slice(2).join('/'));
    if (!doc) return notFoundPage(ctx);
    const hash = ctx.query.get('hash');
    if (hash === doc.hash) {
      ctx.res.setHeader('Cache-Control', 'public, immutable');
      ctx.res.setHeader('Expires', new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString());
    }
    ctx.res.setHeader('ETag', `"${doc.hash}"`);
    return sendBody(ctx.req, ctx.res, 200, doc.json, 'application/json', { compression: ctx.state.compression });
  }
  if (path === '/openapi/v2') return serveOpenApiV2(ctx);
  notFoundPage(ctx);
}

/**
 * kubectl up to 1.28 cannot apply without /openapi/v2 and reads it as a gnostic
 * protobuf Document. An empty message is a valid (empty) Document: the schema
 * lookups then miss and kubectl falls back to its compiled-in types, as it does
 * for v3. JSON clients get an equally empty swagger 2.0 document.
 */
function serveOpenApiV2(ctx: RequestCtx): void {
  const accept = String(ctx.req.headers.accept ?? '');
  if (accept.includes('protobuf')) {
    ctx.res.setHeader('ETag', '"EMPTY-OPENAPI-V2"');
    return sendBody(ctx.req, ctx.res, 200, '', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', { compression: false });
  }
  const version = `v1.${ctx.state.minor.replace(/\D.*$/, '')}.0`;
  sendJson(ctx, 200, { swagger: '2.0', info: { title: 'Kubernetes', version }, paths: {}, definitions: {} });
}
