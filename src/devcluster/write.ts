// create, update (PUT), patch (merge, strategic, JSON, server-side apply),
// delete and deletecollection, plus the status and scale subresources.
// Order of checks follows the real server: decode, namespace lifecycle,
// validation, then storage (exists / conflicts).
import { randomInt, randomUUID } from 'node:crypto';
import { decodeDeleteOptions, decodeObject, mediaType, parseDocument, type DeleteOptions } from './body.js';
import { fieldManager, isDryRun, sendJson, type RequestCtx } from './context.js';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  forbidden,
  invalid,
  MODIFIED_CONFLICT,
  notFound,
  status,
  unsupportedMediaType,
  type FieldError,
} from './errors.js';
import { serverSideApply, updateManagedFields, type Scope } from './fields.js';
import { prepareForCreate, prepareForUpdate, timestamp, validateKind } from './kinds.js';
import { clone, deepEqual, isObject, jsonMergePatch, jsonPatch, strategicMergePatch, type Json } from './merge.js';
import { canonical } from './objects.js';
import { gr, listKind } from './read.js';
import { findResource, groupVersion, type ResourceDef } from './resources.js';
import { respondObject, targetFor } from './respond.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { KubeObject, ManagedFieldsEntry } from './types.js';
import { validateMetadata } from './validation.js';
import { textOf } from '../model/text.js';

const NAMESPACES = (): ResourceDef => findResource('namespaces') as ResourceDef;
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

function generatedSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[randomInt(GENERATE_ALPHABET.length)];
  return s;
}

/** NamespaceLifecycle admission: the namespace must exist and not be terminating. */
function checkNamespaceWritable(ctx: RequestCtx, d: ResourceDef, ns: string, name: string): void {
  const nsObj = ctx.state.store.lookup(NAMESPACES(), undefined, ns);
  if (!nsObj) throw notFound({ group: '', resource: 'namespaces' }, ns);
  if (nsObj.metadata.deletionTimestamp) {
    throw forbidden(gr(d), name, `unable to create new content in namespace ${ns} because it is being terminated`);
  }
}

function stripSystemMetadata(o: KubeObject): void {
  for (const k of [
    'uid',
    'resourceVersion',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'generation',
    'selfLink',
    'managedFields',
  ]) {
    delete o.metadata[k];
  }
}

function withoutTimes(entries: ManagedFieldsEntry[] | undefined): unknown {
  return (entries ?? []).map((e) => ({ ...e, time: undefined }));
}

/** Stores (or, with dryRun, just returns) a new object. `managed` is set by server-side apply. */
function finishCreate(ctx: RequestCtx, d: ResourceDef, o: KubeObject, ns: string | undefined, managed?: ManagedFieldsEntry[]): KubeObject {
  const store = ctx.state.store;
  if (d.namespaced) o.metadata.namespace = ns;
  else delete o.metadata.namespace;
  if (!o.metadata.name && o.metadata.generateName) o.metadata.name = `${o.metadata.generateName}${generatedSuffix()}`;
  const name = o.metadata.name ?? '';
  if (d.namespaced && ns) checkNamespaceWritable(ctx, d, ns, name);
  const errs: FieldError[] = [...validateMetadata(d, o), ...validateKind(d, o)];
  if (errs.length) throw invalid(d.kind, d.group, name, errs);
  if (store.lookup(d, ns, name)) throw alreadyExists(gr(d), name);
  stripSystemMetadata(o);
  o.kind = d.kind;
  o.apiVersion = groupVersion(d);
  o.metadata.uid = randomUUID();
  o.metadata.creationTimestamp = timestamp();
  prepareForCreate(d, o, { ips: store.ips, viaApi: true });
  o.metadata.managedFields = managed ?? updateManagedFields(undefined, o, fieldManager(ctx), groupVersion(d));
  if (isDryRun(ctx.query)) return canonical(o);
  return store.commitCreate(d, o);
}

export function createObject(ctx: RequestCtx, d: ResourceDef, ns: string | undefined): void {
  const target = targetFor(ctx);
  isDryRun(ctx.query);
  const o = decodeObject(ctx, d);
  if (d.namespaced && o.metadata.namespace && o.metadata.namespace !== ns) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  respondObject(ctx, d, 201, finishCreate(ctx, d, o, ns), target);
}

interface UpdateOptions {
  scope: Scope;
  /** Ownership computed by server-side apply; otherwise derived from the change. */
  managed?: ManagedFieldsEntry[];
}

/**
 * Stores `next` as the new state of `old` (or returns it under dryRun): identity
 * and lifecycle metadata are the server's, validation runs, a no-op keeps the
 * old resourceVersion, and dropping the last finalizer of a deleted object deletes it.
 */
function finishUpdate(ctx: RequestCtx, d: ResourceDef, old: KubeObject, next: KubeObject, opts: UpdateOptions): KubeObject {
  const store = ctx.state.store;
  const requestedRv = next.metadata.resourceVersion;
  if (requestedRv && requestedRv !== old.metadata.resourceVersion) throw conflict(gr(d), String(old.metadata.name), MODIFIED_CONFLICT);
  if (next.metadata.uid && next.metadata.uid !== old.metadata.uid) {
    throw conflict(gr(d), String(old.metadata.name), `Precondition failed: UID in precondition: ${next.metadata.uid}, UID in object meta: ${old.metadata.uid}`);
  }
  next.kind = d.kind;
  next.apiVersion = groupVersion(d);
  const meta = next.metadata;
  meta.name = old.metadata.name;
  if (d.namespaced) meta.namespace = old.metadata.namespace;
  else delete meta.namespace;
  meta.uid = old.metadata.uid;
  meta.creationTimestamp = old.metadata.creationTimestamp;
  meta.resourceVersion = old.metadata.resourceVersion;
  for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
    if (old.metadata[k] !== undefined) (meta as Record<string, unknown>)[k] = old.metadata[k];
    else delete meta[k];
  }
  delete meta.selfLink;
  if (opts.scope === 'main') prepareForUpdate(d, old, next, { ips: store.ips, viaApi: true });
  const errs: FieldError[] = [...validateMetadata(d, next), ...validateKind(d, next, old)];
  if (errs.length) throw invalid(d.kind, d.group, String(old.metadata.name), errs);
  meta.managedFields = opts.managed ?? updateManagedFields(old, next, fieldManager(ctx), groupVersion(d), opts.scope);
  const candidate = canonical(next);
  const same = deepEqual(
    { ...candidate, metadata: { ...candidate.metadata, managedFields: withoutTimes(candidate.metadata.managedFields) } },
    {
      ...old,
      metadata: { ...old.metadata, managedFields: withoutTimes(old.metadata.managedFields) },
    },
  );
  if (same) return old;
  if (isDryRun(ctx.query)) return candidate;
  const finalizers = candidate.metadata.finalizers ?? [];
  if (old.metadata.deletionTimestamp && finalizers.length === 0 && d.kind !== 'Pod' && d.kind !== 'Namespace') {
    const stored = store.commitUpdate(d, old, candidate);
    return store.commitDelete(d, stored);
  }
  return store.commitUpdate(d, old, candidate);
}

function checkNameMatches(o: KubeObject, name: string, ns: string | undefined, d: ResourceDef): void {
  if (o.metadata.name !== undefined && o.metadata.name !== name) {
    throw badRequest(`the name of the object (${String(o.metadata.name)}) does not match the name on the URL (${name})`);
  }
  if (d.namespaced && o.metadata.namespace && o.metadata.namespace !== ns) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
}

function lookupOr404(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, name: string): KubeObject {
  const o = ctx.state.store.lookup(d, ns, name);
  if (!o) throw notFound(gr(d), name);
  return o;
}

export function updateObject(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, name: string, scope: Scope): void {
  const target = targetFor(ctx);
  isDryRun(ctx.query);
  const body = decodeObject(ctx, d);
  checkNameMatches(body, name, ns, d);
  const old = lookupOr404(ctx, d, ns, name);
  let next = body;
  if (scope === 'status') {
    next = clone(old);
    next.status = body.status;
    next.metadata.resourceVersion = body.metadata.resourceVersion;
  }
  respondObject(ctx, d, 200, finishUpdate(ctx, d, old, next, { scope }), target);
}

/** PUT namespaces/<name>/finalize: only spec.finalizers changes. */
export function finalizeNamespace(ctx: RequestCtx, d: ResourceDef, name: string): void {
  const body = decodeObject(ctx, d);
  checkNameMatches(body, name, undefined, d);
  const old = lookupOr404(ctx, d, undefined, name);
  const next = clone(old);
  next.spec = { ...(isObject(old.spec) ? old.spec : {}), finalizers: isObject(body.spec) ? (body.spec.finalizers ?? []) : [] };
  respondObject(ctx, d, 200, finishUpdate(ctx, d, old, next, { scope: 'main' }), targetFor(ctx));
}

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

function patchJson(ctx: RequestCtx): Json {
  try {
    return JSON.parse(ctx.body.toString('utf8')) as Json;
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
}

/** Applies a non-apply patch body of the request's type to `current`. */
function applyPatchBody(ctx: RequestCtx, type: string, current: KubeObject): KubeObject {
  let out: Json | undefined;
  if (type === 'application/json-patch+json') out = jsonPatch(current as unknown as Json, patchJson(ctx));
  else {
    const p = patchJson(ctx);
    if (!isObject(p))
      throw badRequest(`error decoding patch: json: cannot unmarshal ${Array.isArray(p) ? 'array' : typeof p} into Go value of type map[string]interface {}`);
    out = type === 'application/merge-patch+json' ? jsonMergePatch(current as unknown as Json, p) : strategicMergePatch(current as unknown as Json, p);
  }
  if (!isObject(out)) throw new ApiError(status(422, 'Invalid', 'the patch did not produce an object'));
  const o = out as unknown as KubeObject;
  if (!isObject(o.metadata)) o.metadata = {};
  return o;
}

function patchOptions(ctx: RequestCtx, type: string): { force: boolean; apply: boolean } {
  const apply = type === 'application/apply-patch+yaml';
  const forceParam = ctx.query.get('force');
  const force = forceParam === 'true';
  const errs: FieldError[] = [];
  if (!apply && forceParam !== null) errs.push({ type: 'FieldValueForbidden', field: 'force', detail: 'may not be specified for non-apply patch' });
  if (apply && !ctx.query.get('fieldManager')) errs.push({ type: 'FieldValueRequired', field: 'fieldManager', detail: 'is required for apply patch' });
  if (errs.length) throw invalid('PatchOptions', 'meta.k8s.io', '', errs);
  return { force, apply };
}

function decodeApplied(ctx: RequestCtx, d: ResourceDef, name: string, ns: string | undefined): KubeObject {
  // apply-patch+yaml bodies are YAML, and kubectl sends JSON (a subset of YAML) in them.
  const raw = parseDocument(ctx, d, 'application/yaml');
  if (!isObject(raw)) throw badRequest('error decoding YAML: the applied configuration must be an object');
  if (raw.apiVersion !== groupVersion(d) || raw.kind !== d.kind) {
    throw badRequest(`${d.kind} in version "${d.version}" cannot be handled as a ${d.kind}: apiVersion and kind must be ${groupVersion(d)}, ${d.kind}`);
  }
  const o = raw as unknown as KubeObject;
  o.metadata = isObject(raw.metadata) ? { ...raw.metadata } : {};
  checkNameMatches(o, name, ns, d);
  return o;
}

export function patchObject(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, name: string, scope: Scope): void {
  const target = targetFor(ctx);
  isDryRun(ctx.query);
  const type = mediaType(ctx);
  if (!PATCH_TYPES.includes(type)) {
    throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
  }
  const { force, apply } = patchOptions(ctx, type);
  const old = ctx.state.store.lookup(d, ns, name);
  if (apply) {
    const applied = decodeApplied(ctx, d, name, ns);
    const manager = fieldManager(ctx);
    if (!old) {
      if (scope !== 'main') throw notFound(gr(d), name);
      const { object, managedFields } = serverSideApply(undefined, applied, manager, force, groupVersion(d));
      object.metadata.name = name;
      respondObject(ctx, d, 201, finishCreate(ctx, d, object, ns, managedFields), target);
      return;
    }
    const { object, managedFields } = serverSideApply(old, applied, manager, force, groupVersion(d), scope);
    const next = scope === 'status' ? { ...clone(old), status: object.status } : object;
    next.metadata.resourceVersion = applied.metadata.resourceVersion;
    respondObject(ctx, d, 200, finishUpdate(ctx, d, old, next, { scope, managed: managedFields }), target);
    return;
  }
  if (!old) throw notFound(gr(d), name);
  const patched = applyPatchBody(ctx, type, clone(old));
  let next = patched;
  if (scope === 'status') {
    next = clone(old);
    next.status = patched.status;
  }
  // A resourceVersion the patch sets is a precondition; one it leaves alone is not.
  if (patched.metadata.resourceVersion === old.metadata.resourceVersion) delete next.metadata.resourceVersion;
  else next.metadata.resourceVersion = patched.metadata.resourceVersion;
  respondObject(ctx, d, 200, finishUpdate(ctx, d, old, next, { scope }), target);
}

// ------------------------------------------------------------------ scale

function scaleOf(dep: KubeObject): KubeObject {
  const spec = isObject(dep.spec) ? dep.spec : {};
  const st = isObject(dep.status) ? dep.status : {};
  const sel = isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  const m = dep.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 1 },
    status: {
      replicas: st.replicas ?? 0,
      selector: Object.entries(sel)
        .map(([k, v]) => `${k}=${textOf(v)}`)
        .join(','),
    },
  };
}

export function serveScale(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, name: string): void {
  const method = ctx.req.method;
  const old = lookupOr404(ctx, d, ns, name);
  if (method === 'GET') {
    sendJson(ctx, 200, scaleOf(old));
    return;
  }
  isDryRun(ctx.query);
  let scale: KubeObject;
  if (method === 'PUT') {
    const raw = parseDocument(ctx, d);
    if (!isObject(raw)) throw badRequest('Scale must be an object');
    scale = raw as unknown as KubeObject;
  } else {
    const type = mediaType(ctx);
    if (!PATCH_TYPES.slice(0, 3).includes(type))
      throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
    scale = applyPatchBody(ctx, type, scaleOf(old));
  }
  const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid('Scale', 'autoscaling', name, [
      { type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' },
    ]);
  }
  const rv = scale.metadata?.resourceVersion;
  if (rv && rv !== old.metadata.resourceVersion) throw conflict(gr(d), name, MODIFIED_CONFLICT);
  const next = clone(old);
  next.spec = { ...(isObject(old.spec) ? old.spec : {}), replicas };
  delete next.metadata.resourceVersion;
  sendJson(ctx, 200, scaleOf(finishUpdate(ctx, d, old, next, { scope: 'main' })));
}

// ------------------------------------------------------------------ delete

interface Removal {
  object: KubeObject;
  /** False while it lingers (finalizers, namespace cleanup, pod grace). */
  deleted: boolean;
}

function checkPreconditions(d: ResourceDef, old: KubeObject, o: DeleteOptions): void {
  const p = o.preconditions;
  const name = String(old.metadata.name);
  if (p?.uid && p.uid !== old.metadata.uid) {
    throw conflict(gr(d), name, `Precondition failed: UID in precondition: ${p.uid}, UID in object meta: ${String(old.metadata.uid)}`);
  }
  if (p?.resourceVersion && p.resourceVersion !== old.metadata.resourceVersion) {
    throw conflict(
      gr(d),
      name,
      `Precondition failed: ResourceVersion in precondition: ${p.resourceVersion}, ResourceVersion in object meta: ${String(old.metadata.resourceVersion)}`,
    );
  }
}

function defer(ctx: RequestCtx, ms: number, fn: () => void): void {
  const state = ctx.state;
  const t = setTimeout(() => {
    state.timers.delete(t);
    if (!state.closed) fn();
  }, ms);
  state.timers.add(t);
}

function remove(ctx: RequestCtx, d: ResourceDef, old: KubeObject, opts: DeleteOptions): Removal {
  const store = ctx.state.store;
  const name = String(old.metadata.name);
  checkPreconditions(d, old, opts);
  if (d.resource === 'namespaces' && PROTECTED_NAMESPACES.has(name)) throw forbidden(gr(d), name, 'this namespace may not be deleted');
  const now = timestamp();
  const lingering = (mutate: (o: KubeObject) => void): Removal => {
    if (old.metadata.deletionTimestamp) return { object: old, deleted: false };
    const next = clone(old);
    next.metadata.deletionTimestamp = now;
    mutate(next);
    if (opts.dryRun) return { object: canonical(next), deleted: false };
    return { object: store.commitUpdate(d, old, next), deleted: false };
  };
  if (d.resource === 'namespaces') {
    const r = lingering((n) => {
      n.metadata.deletionGracePeriodSeconds = 0;
      n.status = { phase: 'Terminating' };
    });
    // The namespace controller empties the namespace, then the namespace goes.
    if (!opts.dryRun && !old.metadata.deletionTimestamp) {
      defer(ctx, 0, () => {
        store.deleteNamespaceContents(name);
        const current = store.lookup(d, undefined, name);
        if (current) store.commitDelete(d, current);
      });
    }
    return r;
  }
  if ((old.metadata.finalizers ?? []).length > 0) {
    return lingering((o) => {
      o.metadata.deletionGracePeriodSeconds = 0;
    });
  }
  const grace = opts.gracePeriodSeconds;
  if (d.kind === 'Pod' && ctx.state.podTerminationMs > 0 && grace !== 0) {
    const seconds = grace ?? 30;
    const r = lingering((p) => {
      p.metadata.deletionTimestamp = timestamp(new Date(Date.now() + seconds * 1000));
      p.metadata.deletionGracePeriodSeconds = seconds;
    });
    if (!opts.dryRun && !old.metadata.deletionTimestamp) {
      defer(ctx, ctx.state.podTerminationMs, () => {
        const current = store.lookup(d, old.metadata.namespace, name);
        if (current) store.commitDelete(d, current);
      });
    }
    return r;
  }
  if (opts.dryRun) return { object: old, deleted: true };
  return { object: store.commitDelete(d, old), deleted: true };
}

/** What the generic registry answers for an immediate delete of kinds that don't return the object. */
function deletedStatus(d: ResourceDef, o: KubeObject): object {
  const details: Record<string, unknown> = { name: o.metadata.name };
  if (d.group) details.group = d.group;
  details.kind = d.resource;
  details.uid = o.metadata.uid;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

export function deleteObject(ctx: RequestCtx, d: ResourceDef, ns: string | undefined, name: string): void {
  const target = targetFor(ctx);
  const opts = decodeDeleteOptions(ctx, isDryRun(ctx.query));
  const old = lookupOr404(ctx, d, ns, name);
  const r = remove(ctx, d, old, opts);
  if (r.deleted && !d.returnDeletedObject) sendJson(ctx, 200, deletedStatus(d, r.object));
  else respondObject(ctx, d, 200, r.object, target.kind === 'table' ? { kind: 'json' } : target);
}

export function deleteCollection(ctx: RequestCtx, d: ResourceDef, ns: string | undefined): void {
  const opts = decodeDeleteOptions(ctx, isDryRun(ctx.query));
  const labels = parseLabelSelector(ctx.query.get('labelSelector'));
  const fields = parseFieldSelector(ctx.query.get('fieldSelector'), d.kind);
  const victims = ctx.state.store.listIn(d, d.namespaced ? ns : undefined).filter((o) => labels(o.metadata.labels) && fields.filter(o));
  const items = victims.map((o) => remove(ctx, d, o, opts).object);
  sendJson(ctx, 200, {
    ...listKind(d),
    metadata: { resourceVersion: ctx.state.store.resourceVersion },
    items: items.map((o) => ({ ...o, kind: undefined, apiVersion: undefined })),
  });
}
