// Kubernetes label selectors as a policy rule writes them (`match.labels`):
// a map of equalities or the selector string kubectl -l takes. Parsed once at
// load; matching is a walk over a few requirements.

export type Labels = Record<string, string>;

/** `=`/`==` are `in` with one value, `!=` is `notin` with one value (as in apimachinery). */
export type LabelRequirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | 'notexists' };

export interface LabelSelector {
  requirements: LabelRequirement[];
  /** As written, for messages and recordings. */
  text: string;
}

export class LabelSelectorError extends Error {}

// Kubernetes label syntax: a name segment of at most 63 characters, an optional DNS-subdomain prefix.
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label key; undefined when it is. */
export function invalidLabelKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return `invalid label key ${JSON.stringify(key)}: the prefix must be a DNS subdomain (lower case alphanumerics, "-" and ".")`;
  if (name.length === 0 || name.length > 63 || !NAME.test(name))
    return `invalid label key ${JSON.stringify(key)}: the name must be 1-63 characters, alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric`;
  return undefined;
}

/** Why `value` is not a valid label value; undefined when it is. */
export function invalidLabelValue(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value))
    return `invalid label value ${JSON.stringify(value)}: at most 63 characters, alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric`;
  return undefined;
}

/** `{tier: db, env: prod}`: every pair must be equal. */
export function selectorFromMap(map: Record<string, string>): LabelSelector {
  const entries = Object.entries(map);
  if (entries.length === 0) throw new LabelSelectorError('a label map needs at least one key');
  const requirements: LabelRequirement[] = entries.map(([key, value]) => {
    const bad = invalidLabelKey(key) ?? invalidLabelValue(value);
    if (bad) throw new LabelSelectorError(bad);
    return { key, op: 'in', values: [value] };
  });
  return { requirements, text: entries.map(([k, v]) => `${k}=${v}`).join(',') };
}

const KEY_PART = '[^\\s,!=()]+';
const EQUALITY = new RegExp(`^(${KEY_PART})\\s*(==|=|!=)\\s*([^\\s,!=()]*)$`);
const SET = new RegExp(`^(${KEY_PART})\\s+(in|notin)\\s*\\(([^()]*)\\)$`);
const NOT_EXISTS = new RegExp(`^!\\s*(${KEY_PART})$`);
const EXISTS = new RegExp(`^(${KEY_PART})$`);

/** The selector string of `kubectl -l`: `tier in (db,cache),env!=dev,!canary,owner`. Throws LabelSelectorError. */
export function parseLabelSelector(text: string): LabelSelector {
  const trimmed = text.trim();
  if (trimmed === '') return { requirements: [], text: '' };
  const requirements = splitTopLevel(trimmed).map(parseRequirement);
  return { requirements, text: trimmed };
}

function parseRequirement(raw: string): LabelRequirement {
  const part = raw.trim();
  if (part === '') throw new LabelSelectorError('empty requirement (two commas in a row, or a trailing comma)');
  let m: RegExpExecArray | null;
  let r: LabelRequirement;
  if ((m = SET.exec(part))) {
    const values = m[3].split(',').map((v) => v.trim());
    if (values.length === 1 && values[0] === '') throw new LabelSelectorError(`"${part}": ${m[2]} needs at least one value`);
    r = { key: m[1], op: m[2] as 'in' | 'notin', values };
  } else if ((m = EQUALITY.exec(part))) {
    r = { key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] };
  } else if ((m = NOT_EXISTS.exec(part))) {
    r = { key: m[1], op: 'notexists' };
  } else if ((m = EXISTS.exec(part))) {
    r = { key: m[1], op: 'exists' };
  } else {
    throw new LabelSelectorError(`cannot parse "${part}": expected key=value, key==value, key!=value, key in (a,b), key notin (a,b), key or !key`);
  }
  const bad = invalidLabelKey(r.key) ?? ('values' in r ? r.values.map(invalidLabelValue).find((x) => x) : undefined);
  if (bad) throw new LabelSelectorError(bad);
  return r;
}

/** Splits on commas outside parentheses; unbalanced parentheses are an error. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) throw new LabelSelectorError(`unbalanced ")" at position ${i + 1}`);
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new LabelSelectorError('unbalanced "(": a set is written key in (a,b)');
  parts.push(text.slice(start));
  return parts;
}

/** Every requirement holds for these labels (an empty selector matches everything). */
export function selectorMatches(s: LabelSelector, labels: Labels): boolean {
  for (const r of s.requirements) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(labels[r.key])) return false;
        break;
      case 'notin':
        if (has && r.values.includes(labels[r.key])) return false;
        break;
    }
  }
  return true;
}

/**
 * True when no set of labels can satisfy both selectors: every object a
 * request selecting with `request` can see fails `rule`. Decided per key
 * from pairs of requirements; false whenever that is not certain.
 */
export function selectorsExclude(request: LabelSelector, rule: LabelSelector): boolean {
  for (const q of request.requirements) {
    for (const r of rule.requirements) {
      if (q.key === r.key && requirementsExclude(q, r)) return true;
    }
  }
  return false;
}

function requirementsExclude(q: LabelRequirement, r: LabelRequirement): boolean {
  // `in` and `exists` need the key present; `notexists` needs it absent.
  const qNeedsKey = q.op === 'in' || q.op === 'exists';
  const rNeedsKey = r.op === 'in' || r.op === 'exists';
  if ((qNeedsKey && r.op === 'notexists') || (rNeedsKey && q.op === 'notexists')) return true;
  if (q.op === 'in' && r.op === 'in') return !q.values.some((v) => r.values.includes(v));
  if (q.op === 'in' && r.op === 'notin') return q.values.every((v) => r.values.includes(v));
  if (q.op === 'notin' && r.op === 'in') return r.values.every((v) => q.values.includes(v));
  return false;
}
