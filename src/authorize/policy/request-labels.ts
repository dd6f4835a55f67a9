// The labels a write would leave on its object, read from the request body:
// a create's or update's metadata.labels, a merge / strategic-merge / apply
// patch's metadata.labels over the current ones. 'unknown' when the body
// cannot say (not JSON or YAML, a JSON patch touching metadata).
import { parse as parseYaml } from 'yaml';
import type { Labels } from './label-selector.js';

type Known = Labels | 'unknown';

/** create and update: the object in the body carries its labels (none: {}). */
export function labelsInBody(body: Buffer | undefined, contentType: string | undefined): Known {
  const obj = parseBody(body, contentType);
  if (!isObject(obj)) return 'unknown';
  const meta = obj['metadata'];
  if (meta === undefined || meta === null) return {};
  if (!isObject(meta)) return 'unknown';
  return plainLabels(meta['labels']);
}

/** patch: what `current` becomes. */
export function labelsAfterPatch(current: Labels, body: Buffer | undefined, contentType: string | undefined): Known {
  const type = mediaType(contentType);
  const patch = parseBody(body, contentType);
  if (type === 'application/json-patch+json') return jsonPatchTouchesLabels(patch) ? 'unknown' : current;
  if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json' && type !== 'application/apply-patch+yaml') return 'unknown';
  if (!isObject(patch)) return 'unknown';
  if (!('metadata' in patch)) return current;
  const meta = patch['metadata'];
  if (!isObject(meta)) return 'unknown';
  if (!('labels' in meta)) return current;
  const change = meta['labels'];
  if (change === null) return {};
  if (!isObject(change)) return 'unknown';
  // Strategic merge directives: `$patch: replace` takes the map as given, `$patch: delete` empties it.
  let base: Labels = { ...current };
  for (const [k, v] of Object.entries(change)) {
    if (!k.startsWith('$')) continue;
    if (k === '$patch' && v === 'replace') base = {};
    else if (k === '$patch' && v === 'delete') return {};
    else return 'unknown';
  }
  for (const [k, v] of Object.entries(change)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete base[k];
    else if (typeof v === 'string') base[k] = v;
    else return 'unknown';
  }
  return base;
}

/** Any operation on the root, on metadata or below metadata/labels (as target or source) may change labels. */
function jsonPatchTouchesLabels(ops: unknown): boolean {
  if (!Array.isArray(ops)) return true;
  const touches = (p: unknown) => typeof p !== 'string' || p === '' || p === '/metadata' || p.startsWith('/metadata/labels');
  return ops.some((op) => !isObject(op) || touches(op['path']) || ('from' in op && touches(op['from'])));
}

function plainLabels(v: unknown): Known {
  if (v === undefined || v === null) return {};
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) return 'unknown';
  return { ...(v as Labels) };
}

function parseBody(body: Buffer | undefined, contentType: string | undefined): unknown {
  if (!body || body.length === 0) return undefined;
  const type = mediaType(contentType);
  const text = body.toString('utf8');
  try {
    if (type === '' || type.endsWith('json')) return JSON.parse(text);
    if (type.endsWith('yaml')) return parseYaml(text) as unknown;
  } catch {
    return undefined;
  }
  return undefined; // protobuf, CBOR: not read
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
