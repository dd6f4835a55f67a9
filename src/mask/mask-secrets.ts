// Secret values replaced in API responses. Keys stay (kubectl shows which
// keys exist); values become a fixed mask. `data` values stay valid base64
// so typed clients (kubectl describe, client-go) still decode the object.

export const MASKED_TEXT = '<masked by kubetape>';
export const MASKED_BASE64 = Buffer.from(MASKED_TEXT).toString('base64');
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Mask every Secret inside a response document: an object, a list, a Table or a watch event. Returns it changed in place. */
export function maskSecretsIn(doc: unknown): unknown {
  if (!isObj(doc)) return doc;
  if (doc['kind'] === 'Secret') maskSecret(doc);
  // A list's items carry no kind of their own: in a SecretList every item is a Secret.
  if (Array.isArray(doc['items'])) {
    for (const item of doc['items']) {
      if (!isObj(item)) continue;
      if (doc['kind'] === 'SecretList') maskSecret(item);
      else maskSecretsIn(item);
    }
  }
  // Tables: rows carry object metadata, or the whole object with includeObject=Object.
  if (Array.isArray(doc['rows'])) for (const row of doc['rows']) if (isObj(row)) maskSecretsIn(row['object']);
  // Watch events: {type, object}.
  if (typeof doc['type'] === 'string' && isObj(doc['object'])) maskSecretsIn(doc['object']);
  return doc;
}

/**
 * One element of a list's `items`, masked as maskSecretsIn masks it inside
 * the whole list. `listKind` undefined: the list's kind was not seen before
 * its items (Kubernetes always writes it first); the item is then masked as
 * a Secret and searched for nested ones, so nothing is left in clear.
 */
export function maskListItem(item: unknown, listKind: unknown): unknown {
  if (!isObj(item)) return item;
  if (listKind === 'SecretList' || listKind === undefined) maskSecret(item);
  if (listKind !== 'SecretList') maskSecretsIn(item);
  return item;
}

/** One element of a Table's `rows`, masked as maskSecretsIn masks it inside the whole Table. */
export function maskTableRow(row: unknown): unknown {
  if (isObj(row)) maskSecretsIn(row['object']);
  return row;
}

/**
 * A document's top-level members other than the streamed `items`/`rows`,
 * masked in place as maskSecretsIn would mask them. Without a kind yet, they
 * are masked as a Secret's would be (the safe side).
 */
export function maskEnvelope(envelope: Record<string, unknown>): void {
  if (envelope['kind'] === undefined) maskSecret(envelope);
  maskSecretsIn(envelope);
}

function maskSecret(s: Obj): void {
  for (const [field, mask] of [
    ['data', MASKED_BASE64],
    ['stringData', MASKED_TEXT],
  ] as const) {
    const values = s[field];
    if (isObj(values)) for (const k of Object.keys(values)) values[k] = mask;
  }
  // The last-applied annotation holds the whole Secret as written, values included.
  const meta = s['metadata'];
  const ann = isObj(meta) ? meta['annotations'] : undefined;
  if (isObj(ann) && typeof ann[LAST_APPLIED] === 'string') ann[LAST_APPLIED] = MASKED_TEXT;
}

/** Mask a JSON body; bodies that are not JSON come back unchanged (false). */
export function maskJsonBody(text: string): { text: string; masked: boolean } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { text, masked: false };
  }
  return { text: JSON.stringify(maskSecretsIn(doc)), masked: true };
}
