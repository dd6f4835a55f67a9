// Watch: newline-delimited {"type","object"} events, chunked and written one
// per event as changes happen. resourceVersion semantics follow the real
// server: unset/"0" starts with synthetic ADDED events for what exists, a
// specific version replays retained history after it (410 Expired event if it
// is too old); selector transitions turn MODIFIED into ADDED/DELETED.
import type { RequestCtx } from './context.js';
import { badRequest, invalid, status, type FieldError } from './errors.js';
import type { Target } from './negotiate.js';
import type { StoreEvent } from './objects.js';
import { groupVersion, type ResourceDef } from './resources.js';
import { partialObjectMetadata, renderTable, type IncludeObject } from './tables.js';
import type { KubeObject } from './types.js';

export interface WatchScope {
  def: ResourceDef;
  namespace?: string;
  matches: (o: KubeObject) => boolean;
  target: Target;
  includeObject: IncludeObject;
}

type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export function serveWatch(ctx: RequestCtx, scope: WatchScope): void {
  const { state, query, res } = ctx;
  const { def, namespace } = scope;
  const rvParam = query.get('resourceVersion') ?? '';
  if (rvParam !== '' && !/^\d+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`);
  const timeoutParam = query.get('timeoutSeconds');
  const timeoutSeconds = timeoutParam === null ? undefined : Number(timeoutParam);
  if (timeoutSeconds !== undefined && !(Number.isFinite(timeoutSeconds) && timeoutSeconds >= 0))
    throw badRequest(`timeoutSeconds: Invalid value: "${timeoutParam}"`);
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  const sendInitialEvents = query.get('sendInitialEvents') === 'true';
  if (sendInitialEvents) {
    const errs: FieldError[] = [];
    if (query.get('resourceVersionMatch') !== 'NotOlderThan') {
      errs.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        detail: 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
      });
    }
    if (!bookmarks)
      errs.push({ type: 'FieldValueForbidden', field: 'allowWatchBookmarks', detail: 'sendInitialEvents requires setting allowWatchBookmarks to true' });
    if (errs.length) throw invalid('ListOptions', 'meta.k8s.io', '', errs);
  }

  const inScope = (o: KubeObject): boolean => (!def.namespaced || !namespace || o.metadata.namespace === namespace) && scope.matches(o);
  let headersSent = false;
  const encode = (type: WatchType, object: unknown): string => {
    let out: unknown = object;
    if (type !== 'ERROR' && type !== 'BOOKMARK') {
      const o = object as KubeObject;
      if (scope.target.kind === 'table') {
        out = renderTable(def, [o], { includeObject: scope.includeObject, apiVersion: scope.target.apiVersion, noHeaders: headersSent });
        headersSent = true;
      } else if (scope.target.kind === 'partial') {
        out = partialObjectMetadata(o, scope.target.apiVersion);
      }
    }
    return `${JSON.stringify({ type, object: out })}\n`;
  };

  res.statusCode = 200;
  // Even a Table watch is served as application/json: the event framing is the stream's type.
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Transfer-Encoding', 'chunked');
  res.flushHeaders();
  state.streams.add(res);

  const write = (type: WatchType, object: unknown): void => {
    if (!res.writableEnded && !res.destroyed) res.write(encode(type, object));
  };
  const bookmark = (initialEventsEnd: boolean): void => {
    const metadata: Record<string, unknown> = { resourceVersion: state.store.resourceVersion };
    if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
    write('BOOKMARK', { kind: def.kind, apiVersion: groupVersion(def), metadata });
  };

  const onEvent = (e: StoreEvent): void => {
    if (e.def !== def) return;
    const now = inScope(e.object);
    if (e.type === 'MODIFIED') {
      const before = e.previous ? inScope(e.previous) : false;
      if (now && before) write('MODIFIED', e.object);
      else if (now) write('ADDED', e.object);
      else if (before) write('DELETED', e.object);
    } else if (now) {
      write(e.type, e.object);
    }
  };

  // sendInitialEvents streams the current state whatever the version (NotOlderThan it).
  const since = sendInitialEvents || rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
  const initial = since === undefined ? state.store.listIn(def, def.namespaced ? namespace : undefined).filter(inScope) : [];
  const sub = state.store.subscribe(onEvent, since);
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    sub.unsubscribe();
    if (timer) clearTimeout(timer);
    state.streams.delete(res);
    if (!res.writableEnded) res.end();
  };
  res.on('close', finish);

  if (sub.replay === 'expired') {
    write('ERROR', status(410, 'Expired', `too old resource version: ${since} (${state.store.oldestResourceVersion})`));
    finish();
    return;
  }
  for (const o of initial) write('ADDED', o);
  if (sendInitialEvents) bookmark(true);
  for (const e of sub.replay) onEvent(e);
  if (timeoutSeconds !== undefined) timer = setTimeout(finish, timeoutSeconds * 1000);
}
