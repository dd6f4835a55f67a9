// The three PATCH bodies the API server accepts besides apply:
// JSON merge patch (RFC 7386), strategic merge patch (Kubernetes' own, with
// merge keys for the built-in lists and its $patch directives), and JSON patch
// (RFC 6902). All functions return new values and never touch their inputs.
import { ApiError, badRequest, status } from './errors.js';
import { textOf } from '../model/text.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => deepEqual(ao[k], bo[k]));
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function jsonMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

/**
 * Merge keys of the built-in list fields (patchMergeKey in the Go types): these
 * lists merge item by item, every other list is replaced whole.
 */
export function listMergeKey(field: string, items: readonly Json[]): string[] | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'resourceClaims':
      return ['name'];
    case 'volumeMounts':
      return ['mountPath'];
    case 'volumeDevices':
      return ['devicePath'];
    case 'hostAliases':
      return ['ip'];
    case 'conditions':
      return ['type'];
    case 'ownerReferences':
      return ['uid'];
    case 'ports':
      // Container ports merge on containerPort, service ports on port.
      return items.some((i) => isObject(i) && 'containerPort' in i) ? ['containerPort', 'protocol'] : ['port', 'protocol'];
    default:
      return undefined;
  }
}

/** Primitive lists whose patchStrategy is merge (union, not replace). */
const PRIMITIVE_MERGE_LISTS = new Set(['finalizers']);

function sameKey(a: Json, b: Json, keys: string[]): boolean {
  if (!isObject(a) || !isObject(b)) return false;
  // The first key is the patchMergeKey; the rest (protocol) only disambiguate when both sides set them.
  if (!deepEqual(a[keys[0]], b[keys[0]])) return false;
  return keys.slice(1).every((k) => a[k] === undefined || b[k] === undefined || deepEqual(a[k], b[k]));
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.filter((x) => !(isObject(x) && x.$patch !== undefined && Object.keys(x).length === 1)).map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

function mergeList(field: string, orig: Json[] | undefined, patch: Json[]): Json[] {
  const base = orig ? [...orig] : [];
  if (PRIMITIVE_MERGE_LISTS.has(field)) {
    for (const v of patch) if (!base.some((b) => deepEqual(b, v))) base.push(v);
    return base;
  }
  const keys = listMergeKey(field, [...base, ...patch]);
  if (!keys || patch.some((p) => !isObject(p))) return patch.map(stripDirectives);
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map(stripDirectives);
  }
  for (const item of patch) {
    const idx = base.findIndex((b) => sameKey(b, item, keys));
    if (isObject(item) && item.$patch === 'delete') {
      if (idx >= 0) base.splice(idx, 1);
      continue;
    }
    if (idx >= 0) base[idx] = strategicMergePatch(base[idx], item) as Json;
    else base.push(stripDirectives(item));
  }
  return base;
}

function applyOrder(list: Json[], order: Json[], keys: string[] | undefined): Json[] {
  const pos = (item: Json): number => order.findIndex((o) => (keys ? sameKey(o, item, keys) : deepEqual(o, item)));
  const ranked = list.map((item, i) => ({ item, i, p: pos(item) }));
  ranked.sort((a, b) => {
    if (a.p >= 0 && b.p >= 0) return a.p - b.p;
    if (a.p >= 0) return -1;
    if (b.p >= 0) return 1;
    return a.i - b.i;
  });
  return ranked.map((r) => r.item);
}

/** Strategic merge patch: JSON merge plus merge-by-key lists and the $patch, $retainKeys, $setElementOrder, $deleteFromPrimitiveList directives. */
export function strategicMergePatch(target: Json | undefined, patch: Json): Json | undefined {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  const orders: Array<[string, Json[]]> = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.some((d) => deepEqual(d, x)));
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      const cur = out[k];
      out[k] = mergeList(k, Array.isArray(cur) ? cur : undefined, v);
    } else if (isObject(v)) {
      const merged = strategicMergePatch(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  for (const [field, order] of orders) {
    const cur = out[field];
    if (Array.isArray(cur)) out[field] = applyOrder(cur, order, listMergeKey(field, cur));
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  return out;
}

function invalidPatch(message: string): ApiError {
  return new ApiError(status(422, 'Invalid', message));
}

function decodePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw invalidPatch(`JSON pointer must start with "/": ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

interface Located {
  parent: Json[] | JsonObject;
  key: string;
}

function locate(doc: Json, parts: string[], path: string): Located {
  let cur: Json = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else cur = undefined as unknown as Json;
    if (cur === undefined || cur === null || typeof cur !== 'object') throw invalidPatch(`doc is missing path: "${path}": missing value`);
  }
  return { parent: cur as Json[] | JsonObject, key: parts[parts.length - 1] };
}

function getAt(doc: Json, path: string): Json {
  const parts = decodePointer(path);
  if (parts.length === 0) return doc;
  const { parent, key } = locate(doc, parts, path);
  const v = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (v === undefined) throw invalidPatch(`doc is missing path: "${path}": missing value`);
  return v;
}

function removeAt(doc: Json, path: string): Json {
  const parts = decodePointer(path);
  const { parent, key } = locate(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw invalidPatch(`Unable to remove nonexistent key: ${key}: missing value`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw invalidPatch(`Unable to remove nonexistent key: ${key}: missing value`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const parts = decodePointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, key } = locate(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length)) {
      throw invalidPatch(`Unable to access invalid index: ${key}: invalid index referenced`);
    }
    if (replace) parent[i] = clone(value);
    else parent.splice(i, 0, clone(value));
  } else {
    if (replace && !(key in parent)) throw invalidPatch(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    parent[key] = clone(value);
  }
  return doc;
}

/** RFC 6902 with add, remove, replace, move, copy, test. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw badRequest('the server rejected our request due to an error in our request');
    }
    const path = op.path;
    switch (op.op) {
      case 'add':
        doc = addAt(doc, path, op.value, false);
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace':
        doc = addAt(doc, path, op.value, true);
        break;
      case 'move': {
        const v = removeAt(doc, textOf(op.from));
        doc = addAt(doc, path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, path, clone(getAt(doc, textOf(op.from))), false);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, path), op.value)) throw invalidPatch(`testing value ${path} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
