// labelSelector and fieldSelector, parsed and matched with the real grammar:
// `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`.
import { badRequest } from './errors.js';
import type { KubeObject } from './types.js';
import { textOf } from '../model/text.js';

type Op = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

export type Selector = (labels: Record<string, string> | undefined) => boolean;

const SPECIAL = new Set([' ', '\t', '\n', ',', '(', ')', '!', '=', '<', '>']);

function tokenize(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
    } else if (c === '=' && s[i + 1] === '=') {
      out.push('==');
      i += 2;
    } else if (c === '!' && s[i + 1] === '=') {
      out.push('!=');
      i += 2;
    } else if (SPECIAL.has(c)) {
      out.push(c);
      i++;
    } else {
      let j = i;
      while (j < s.length && !SPECIAL.has(s[j])) j++;
      out.push(s.slice(i, j));
      i = j;
    }
  }
  return out;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function parseLabelSelector(text: string | null): Selector {
  if (!text || !text.trim()) return () => true;
  const toks = tokenize(text);
  const reqs: Requirement[] = [];
  let p = 0;
  const fail = (why: string): never => {
    throw badRequest(`unable to parse requirement: ${why}`);
  };
  const isIdent = (t: string | undefined): t is string => t !== undefined && t.length > 0 && !SPECIAL.has(t[0]) && t !== '==' && t !== '!=';
  while (p < toks.length) {
    if (toks[p] === '!') {
      const key = toks[p + 1];
      if (!isIdent(key)) fail(`found '${toks[p + 1] ?? ''}', expected: identifier after '!'`);
      reqs.push({ key: key, op: '!exists', values: [] });
      p += 2;
    } else {
      const key = toks[p];
      if (!isIdent(key)) fail(`found '${toks[p] ?? ''}', expected: !, identifier, or 'end of string'`);
      const op = toks[p + 1];
      if (op === undefined || op === ',') {
        reqs.push({ key, op: 'exists', values: [] });
        p += 1;
      } else if (op === '=' || op === '==' || op === '!=') {
        const v = toks[p + 2];
        const value = isIdent(v) ? v : '';
        if (!LABEL_VALUE.test(value)) fail(`values[0][${key}]: Invalid value: "${value}"`);
        reqs.push({ key, op: op === '!=' ? '!=' : '=', values: [value] });
        p += isIdent(v) ? 3 : 2;
      } else if (op === '>' || op === '<') {
        const v = toks[p + 2];
        if (!isIdent(v) || !/^-?\d+$/.test(v)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
        reqs.push({ key, op: op === '>' ? 'gt' : 'lt', values: [v] });
        p += 3;
      } else if (op === 'in' || op === 'notin') {
        if (toks[p + 2] !== '(') fail(`found '${toks[p + 2] ?? ''}', expected: '('`);
        const values: string[] = [];
        p += 3;
        for (;;) {
          const t = toks[p];
          if (t === undefined) fail(`found 'end of string', expected: ')'`);
          if (t === ')') {
            p++;
            break;
          }
          if (t === ',') {
            p++;
            continue;
          }
          if (!isIdent(t)) fail(`found '${toks[p] ?? ''}', expected: ',', ')' or identifier`);
          values.push(t);
          p++;
        }
        reqs.push({ key, op, values });
      } else {
        fail(`found '${op}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    }
    if (p < toks.length) {
      if (toks[p] !== ',') fail(`found '${toks[p]}', expected: ',' or 'end of string'`);
      p++;
      if (p >= toks.length) fail(`found 'end of string', expected: identifier`);
    }
  }
  return (labels) => reqs.every((r) => matches(r, labels ?? {}));
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case '=':
      return has && v === r.values[0];
    case '!=':
      return !has || v !== r.values[0];
    case 'in':
      return has && r.values.includes(v);
    case 'notin':
      return !has || !r.values.includes(v);
    case 'gt':
      return has && /^-?\d+$/.test(v) && Number(v) > Number(r.values[0]);
    case 'lt':
      return has && /^-?\d+$/.test(v) && Number(v) < Number(r.values[0]);
  }
}

/** Fields each kind can be selected on, beyond metadata.name/namespace (as the real registries declare). */
const FIELD_LABELS: Record<string, string[]> = {
  Pod: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  Secret: ['type'],
  Namespace: ['status.phase'],
  Event: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  Service: ['spec.clusterIP', 'spec.type'],
  Deployment: [],
};

export type ObjectFilter = (obj: KubeObject) => boolean;

export interface FieldSelector {
  filter: ObjectFilter;
  /** Set when the selector pins metadata.name (single-object watches). */
  name?: string;
}

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  // Events select on `source`, which the registry maps to source.component.
  const real = path === 'source' ? 'source.component' : path;
  for (const part of real.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'object') return '';
  return textOf(cur);
}

export function parseFieldSelector(text: string | null, kind: string): FieldSelector {
  if (!text || !text.trim()) return { filter: () => true };
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(FIELD_LABELS[kind] ?? [])]);
  const terms: Array<{ field: string; neg: boolean; value: string }> = [];
  for (const part of text.split(',')) {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const [, field, op, value] = m;
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field}`);
    terms.push({ field, neg: op === '!=', value });
  }
  const nameTerm = terms.find((t) => t.field === 'metadata.name' && !t.neg);
  return {
    filter: (obj) => terms.every((t) => (fieldValue(obj, t.field) === t.value) !== t.neg),
    name: nameTerm?.value,
  };
}
