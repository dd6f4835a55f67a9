// managedFields: who owns which field. Update operations (create, PUT, PATCH)
// take ownership of what they changed; server-side apply owns exactly what it
// applied, conflicts with other owners of differing values unless forced, and
// removes fields it applied before and no longer does. A simplified
// structured-merge-diff: no schema, so maps and merge-keyed lists are known by
// field name (see merge.ts), which covers the built-in kinds served here.
import { ApiError, status } from './errors.js';
import { deepEqual, isObject, listMergeKey, strategicMergePatch, type Json, type JsonObject } from './merge.js';
import type { FieldSet, KubeObject, ManagedFieldsEntry } from './types.js';

/** Maps whose keys are data, not schema: they own themselves (".") as well as each key. */
const GRANULAR_MAPS = new Set(['labels', 'annotations', 'data', 'binaryData', 'stringData', 'nodeSelector', 'matchLabels', 'limits', 'requests']);
const SET_LISTS = new Set(['finalizers']);
const SYSTEM_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

export type Scope = 'main' | 'status';
type Path = string[];

function keyOf(item: JsonObject, keys: string[]): string {
  const k: JsonObject = {};
  for (const name of [...keys].sort()) if (item[name] !== undefined) k[name] = item[name];
  return `k:${JSON.stringify(k)}`;
}

function nodeFor(field: string, value: Json): FieldSet {
  if (isObject(value)) {
    const set: FieldSet = {};
    const stringMap = Object.values(value).every((v) => typeof v === 'string');
    if (GRANULAR_MAPS.has(field) || (field === 'selector' && stringMap)) set['.'] = {};
    for (const [k, v] of Object.entries(value)) set[`f:${k}`] = nodeFor(k, v);
    return set;
  }
  if (Array.isArray(value)) {
    if (SET_LISTS.has(field)) {
      const set: FieldSet = { '.': {} };
      for (const v of value) set[`v:${JSON.stringify(v)}`] = {};
      return set;
    }
    const keys = listMergeKey(field, value);
    if (keys && value.every((i) => isObject(i) && i[keys[0]] !== undefined)) {
      const set: FieldSet = {};
      for (const item of value as JsonObject[]) {
        const child: FieldSet = { '.': {} };
        for (const [k, v] of Object.entries(item)) child[`f:${k}`] = nodeFor(k, v);
        set[keyOf(item, keys)] = child;
      }
      return set;
    }
  }
  return {};
}

/** The fields an object sets, minus what the server owns (identity, system metadata, and status or spec by scope). */
export function fieldSetOf(obj: KubeObject | JsonObject, scope: Scope = 'main'): FieldSet {
  const set: FieldSet = {};
  for (const [k, v] of Object.entries(obj as JsonObject)) {
    if (k === 'apiVersion' || k === 'kind' || v === undefined) continue;
    if (scope === 'main' && k === 'status') continue;
    if (scope === 'status' && k !== 'status') continue;
    if (k === 'metadata' && isObject(v)) {
      const meta: FieldSet = {};
      for (const [mk, mv] of Object.entries(v)) if (!SYSTEM_METADATA.has(mk) && mv !== undefined) meta[`f:${mk}`] = nodeFor(mk, mv);
      if (Object.keys(meta).length) set['f:metadata'] = meta;
      continue;
    }
    set[`f:${k}`] = nodeFor(k, v);
  }
  return set;
}

/** Every owned path: leaves, plus nodes that own themselves through ".". */
function members(set: FieldSet, prefix: Path = [], out: Path[] = []): Path[] {
  for (const [k, child] of Object.entries(set)) {
    if (k === '.') {
      out.push(prefix);
      continue;
    }
    const p = [...prefix, k];
    if (Object.keys(child).length === 0) out.push(p);
    else members(child, p, out);
  }
  return out;
}

/** Members that own themselves through "." (maps and list items), as opposed to leaves. */
function selfMembers(set: FieldSet, prefix: Path = [], out: Path[] = []): Path[] {
  for (const [k, child] of Object.entries(set)) {
    if (k === '.') out.push(prefix);
    else if (Object.keys(child).length) selfMembers(child, [...prefix, k], out);
  }
  return out;
}

function fromMembers(paths: Path[]): FieldSet {
  const root: FieldSet = {};
  for (const p of paths) {
    let cur = root;
    for (const pe of p) cur = cur[pe] ??= {};
  }
  // A member that also has children owns itself through ".".
  for (const p of paths) {
    if (!p.length) continue;
    let cur = root;
    for (const pe of p) cur = cur[pe];
    if (Object.keys(cur).some((k) => k !== '.')) cur['.'] = {};
  }
  return sorted(root);
}

/** "." first, then the rest in byte order, the way the server serialises fieldsV1. */
function sorted(set: FieldSet): FieldSet {
  const out: FieldSet = {};
  const keys = Object.keys(set).sort((a, b) => (a === '.' ? -1 : b === '.' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  for (const k of keys) out[k] = sorted(set[k]);
  return out;
}

const pkey = (p: Path): string => JSON.stringify(p);

function valueAt(obj: Json | undefined, path: Path): Json | undefined {
  let cur: Json | undefined = obj;
  for (const pe of path) {
    if (cur === undefined || cur === null) return undefined;
    if (pe.startsWith('f:')) {
      cur = isObject(cur) ? cur[pe.slice(2)] : undefined;
    } else if (pe.startsWith('k:')) {
      const k = JSON.parse(pe.slice(2)) as JsonObject;
      cur = Array.isArray(cur) ? cur.find((i) => isObject(i) && Object.entries(k).every(([n, v]) => deepEqual(i[n], v))) : undefined;
    } else if (pe.startsWith('v:')) {
      const v = JSON.parse(pe.slice(2)) as Json;
      cur = Array.isArray(cur) ? cur.find((i) => deepEqual(i, v)) : undefined;
    } else {
      return undefined;
    }
  }
  return cur;
}

function deleteAt(obj: Json, path: Path): void {
  if (path.length === 0) return;
  const parent = valueAt(obj, path.slice(0, -1));
  const pe = path[path.length - 1];
  if (pe.startsWith('f:') && isObject(parent)) {
    delete parent[pe.slice(2)];
  } else if (Array.isArray(parent)) {
    const target = valueAt(obj, path);
    const i = parent.indexOf(target as Json);
    if (i >= 0) parent.splice(i, 1);
  }
}

/** `.spec.containers[name="nginx"].image`, as structured-merge-diff prints paths. */
export function pathString(path: Path): string {
  let s = '';
  for (const pe of path) {
    if (pe.startsWith('f:')) s += `.${pe.slice(2)}`;
    else if (pe.startsWith('k:')) {
      const k = JSON.parse(pe.slice(2)) as JsonObject;
      s += `[${Object.entries(k)
        .map(([n, v]) => `${n}=${JSON.stringify(v)}`)
        .join(',')}]`;
    } else if (pe.startsWith('v:')) s += `[=${pe.slice(2)}]`;
  }
  return s;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function setOf(e: ManagedFieldsEntry): Map<string, Path> {
  return new Map(members(e.fieldsV1 ?? {}).map((p) => [pkey(p), p]));
}

function withSet(e: ManagedFieldsEntry, paths: Iterable<Path>): ManagedFieldsEntry {
  return { ...e, fieldsV1: fromMembers([...paths]) };
}

/**
 * Ownership after a create/update/patch by `manager`: it takes what changed,
 * everyone loses what changed or disappeared.
 */
export function updateManagedFields(
  oldObj: KubeObject | undefined,
  newObj: KubeObject,
  manager: string,
  apiVersion: string,
  scope: Scope = 'main',
): ManagedFieldsEntry[] {
  const entries = oldObj?.metadata.managedFields ?? [];
  const newPaths = members(fieldSetOf(newObj, scope));
  const oldKeys = new Set(oldObj ? members(fieldSetOf(oldObj, scope)).map(pkey) : []);
  const newKeys = new Set(newPaths.map(pkey));
  // A map or list item owned through "." changes hands only when it comes into existence; its keys are tracked on their own.
  const selfOwned = new Set(selfMembers(fieldSetOf(newObj, scope)).map(pkey));
  const changed = newPaths.filter((p) => {
    const k = pkey(p);
    if (!oldKeys.has(k)) return true;
    return !selfOwned.has(k) && !deepEqual(valueAt(oldObj as unknown as Json, p), valueAt(newObj as unknown as Json, p));
  });
  const changedKeys = new Set(changed.map(pkey));
  const subresource = scope === 'status' ? 'status' : undefined;
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const e of entries) {
    const kept = [...setOf(e)].filter(([k]) => !changedKeys.has(k) && (newKeys.has(k) || !inScope(k, scope)));
    const entry = withSet(
      e,
      kept.map(([, p]) => p),
    );
    if (e.manager === manager && e.operation === 'Update' && e.subresource === subresource) mine = entry;
    else if (kept.length) out.push(entry);
  }
  if (changed.length || mine) {
    const paths = new Map(mine ? [...setOf(mine)] : []);
    for (const p of changed) paths.set(pkey(p), p);
    if (paths.size) {
      const entry: ManagedFieldsEntry = {
        manager,
        operation: 'Update',
        apiVersion,
        time: changed.length || !mine ? now() : mine.time,
        fieldsType: 'FieldsV1',
        fieldsV1: fromMembers([...paths.values()]),
      };
      if (subresource) entry.subresource = subresource;
      out.push(entry);
    }
  }
  return out;
}

function inScope(key: string, scope: Scope): boolean {
  const first = (JSON.parse(key) as string[])[0];
  return scope === 'status' ? first === 'f:status' : first !== 'f:status';
}

function managerLabel(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

function conflictError(conflicts: Array<{ entry: ManagedFieldsEntry; path: Path }>): ApiError {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${managerLabel(c.entry)}`, field: pathString(c.path) }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${managerLabel(conflicts[0].entry)}: ${pathString(conflicts[0].path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) {
      const label = managerLabel(c.entry);
      byManager.set(label, [...(byManager.get(label) ?? []), pathString(c.path)]);
    }
    const lines: string[] = [];
    for (const label of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${label}:`);
      for (const p of byManager.get(label) ?? []) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(status(409, 'Conflict', message, { causes }));
}

export interface ApplyResult {
  object: KubeObject;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `applied` by `manager` onto `current` (undefined: create).
 * Throws a 409 Conflict Status when another owner holds a differing value and force is off.
 */
export function serverSideApply(
  current: KubeObject | undefined,
  applied: KubeObject,
  manager: string,
  force: boolean,
  apiVersion: string,
  scope: Scope = 'main',
): ApplyResult {
  const appliedPaths = members(fieldSetOf(applied, scope));
  const appliedKeys = new Set(appliedPaths.map(pkey));
  const entries = current?.metadata.managedFields ?? [];
  const subresource = scope === 'status' ? 'status' : undefined;
  const isMine = (e: ManagedFieldsEntry): boolean => e.manager === manager && e.operation === 'Apply' && e.subresource === subresource;

  const conflicts: Array<{ entry: ManagedFieldsEntry; path: Path }> = [];
  const lost = new Map<ManagedFieldsEntry, Set<string>>();
  for (const e of entries) {
    if (isMine(e)) continue;
    for (const [k, p] of setOf(e)) {
      if (!appliedKeys.has(k)) continue;
      const theirs = valueAt(current as unknown as Json, p);
      const ours = valueAt(applied as unknown as Json, p);
      // Only values can conflict; owning a map or list item's existence never does.
      if (isObject(ours) || deepEqual(theirs, ours)) continue;
      conflicts.push({ entry: e, path: p });
      if (!lost.has(e)) lost.set(e, new Set());
      lost.get(e)?.add(k);
    }
  }
  if (conflicts.length && !force) throw conflictError(conflicts);

  const base = (current ? JSON.parse(JSON.stringify(current)) : { metadata: {} }) as JsonObject;
  const patch = JSON.parse(JSON.stringify(applied)) as JsonObject;
  if (isObject(patch.metadata)) for (const k of SYSTEM_METADATA) delete patch.metadata[k];
  if (scope === 'main') delete patch.status;
  const merged = strategicMergePatch(base, patch) as JsonObject;

  // Fields this manager applied last time and no longer does go away, unless someone else owns them too.
  const previous = entries.find(isMine);
  if (previous) {
    const othersOwn = new Set<string>();
    for (const e of entries) if (!isMine(e)) for (const k of setOf(e).keys()) if (!lost.get(e)?.has(k)) othersOwn.add(k);
    const gone = [...setOf(previous)].filter(([k]) => !appliedKeys.has(k) && !othersOwn.has(k)).map(([, p]) => p);
    gone.sort((a, b) => b.length - a.length);
    for (const p of gone) deleteAt(merged, p);
  }

  const out: ManagedFieldsEntry[] = [];
  const mine: ManagedFieldsEntry = { manager, operation: 'Apply', apiVersion, time: now(), fieldsType: 'FieldsV1', fieldsV1: fromMembers(appliedPaths) };
  if (subresource) mine.subresource = subresource;
  out.push(mine);
  for (const e of entries) {
    if (isMine(e)) continue;
    const drop = lost.get(e);
    const kept = [...setOf(e)].filter(([k]) => !drop?.has(k)).map(([, p]) => p);
    if (kept.length) out.push(withSet(e, kept));
  }
  return { object: merged as unknown as KubeObject, managedFields: out };
}
