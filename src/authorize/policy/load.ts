// Reading and validating a policy. Errors name the line of the file (the
// yaml package keeps node ranges) so an operator can fix a rule quickly.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { BUILTIN_PATTERNS, INLINE_HOLD_DEFAULT_MS } from '../../mask/patterns.js';
import { parseDuration } from '../approvals/duration.js';
import { LabelSelectorError, parseLabelSelector, selectorFromMap, type LabelSelector } from './label-selector.js';
import type { CommandMatch, TypedLineRule, MaskPattern, Policy, PolicyAction, PolicyRule, RuleMatch } from './types.js';
import { closest, subresourceProblem, subresourcesAreKubernetes, verbProblem } from './vocabulary.js';

export class PolicyError extends Error {}

const ACTIONS = new Set<PolicyAction>(['deny', 'allow', 'mask', 'require-approval']);
const TOP_KEYS = new Set(['rules', 'masking', 'approvals']);
const RULE_KEYS = new Set(['name', 'priority', 'match', 'action', 'message', 'approvers', 'maxGrant', 'hold', 'typed']);
const LIST_FIELDS = ['cluster', 'user', 'group', 'verb', 'apiGroup', 'resource', 'subresource', 'namespace', 'name', 'container', 'actingFor'] as const;
const MATCH_KEYS = new Set<string>([...LIST_FIELDS, 'command', 'tty', 'stdin', 'labels', 'agent']);
const MASKING_KEYS = new Set(['onUnmaskable', 'patterns', 'inline']);

/** Where a value sits in the document: a line number when known. */
type Locate = (path: Array<string | number>) => string;

export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PolicyError(`cannot read policy ${path}: ${(e as Error).message}`);
  }
  return parsePolicyText(text, path);
}

export function parsePolicyText(text: string, source: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = lineCounter.linePos(e.pos[0]).line;
    throw new PolicyError(`${source}:${line}: ${e.message.split('\n')[0]}`);
  }
  const locate: Locate = (p) => {
    const node = nodeAt(doc, p);
    const line = node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
    return line ? `${source}:${line}` : source;
  };
  return validatePolicy(doc.toJS() as unknown, source, locate, (p) => {
    const node = nodeAt(doc, p);
    return node?.range ? lineCounter.linePos(node.range[0]).line : 0;
  });
}

/** An inline policy (the `policy:` key of kubetape.yaml), already parsed: errors name the path. */
export function parsePolicyObject(value: unknown, source = 'policy'): Policy {
  const locate: Locate = (p) => `${source}${p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')}`;
  return validatePolicy(value, source, locate, () => 0);
}

function nodeAt(doc: Document, path: Array<string | number>): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (node && typeof node === 'object' && 'range' in node) return node as Node;
  }
  return undefined;
}

function validatePolicy(value: unknown, source: string, at: Locate, lineOf: (p: Array<string | number>) => number): Policy {
  const fail = (p: Array<string | number>, msg: string): never => {
    throw new PolicyError(`${at(p)}: ${msg}`);
  };
  if (value === null || value === undefined) return { rules: [], patterns: [], onUnmaskable: 'refuse', source };
  if (!isObject(value)) fail([], 'a policy is a mapping with "rules" (and optionally "masking")');
  const top = value as Record<string, unknown>;
  for (const k of Object.keys(top)) if (!TOP_KEYS.has(k)) fail([k], `unknown key "${k}" (expected rules, masking, approvals)`);

  const rules: PolicyRule[] = [];
  const rawRules = top['rules'] ?? [];
  if (!Array.isArray(rawRules)) fail(['rules'], '"rules" must be a list');
  (rawRules as unknown[]).forEach((raw, i) => rules.push(validateRule(raw, i, fail, lineOf)));
  // Stable: equal priorities keep file order (first match wins).
  rules.sort((a, b) => b.priority - a.priority || a.index - b.index);

  let onUnmaskable: Policy['onUnmaskable'] = 'refuse';
  const patterns: MaskPattern[] = [];
  const masking = top['masking'];
  if (masking !== undefined) {
    if (!isObject(masking)) fail(['masking'], '"masking" must be a mapping');
    const m = masking as Record<string, unknown>;
    for (const k of Object.keys(m)) if (!MASKING_KEYS.has(k)) fail(['masking', k], `unknown key "masking.${k}" (expected onUnmaskable, patterns, inline)`);
    if (m['onUnmaskable'] !== undefined) {
      if (m['onUnmaskable'] !== 'refuse' && m['onUnmaskable'] !== 'marker')
        fail(['masking', 'onUnmaskable'], `onUnmaskable must be "refuse" or "marker", got ${JSON.stringify(m['onUnmaskable'])}`);
      onUnmaskable = m['onUnmaskable'] as Policy['onUnmaskable'];
    }
    const ps = m['patterns'] ?? [];
    if (!Array.isArray(ps)) fail(['masking', 'patterns'], '"patterns" must be a list');
    (ps as unknown[]).forEach((p, i) => {
      const here = ['masking', 'patterns', i];
      if (typeof p === 'string') {
        const re = BUILTIN_PATTERNS[p];
        if (!re) fail(here, `unknown built-in pattern "${p}" (known: ${Object.keys(BUILTIN_PATTERNS).join(', ')})`);
        patterns.push({ name: p, regex: new RegExp(re.source, re.flags) });
        return;
      }
      if (!isObject(p)) fail(here, 'a pattern is a built-in name or {name, regex}');
      const { name, regex } = p as Record<string, unknown>;
      if (typeof name !== 'string' || typeof regex !== 'string') fail(here, 'a custom pattern needs "name" and "regex" strings');
      patterns.push({ name: name as string, regex: compile(regex as string, 'g', (msg) => fail([...here, 'regex'], msg)) });
    });
  }
  const inline = validateInline(isObject(masking) ? masking['inline'] : undefined, patterns.length, fail);
  const approvals = validateApprovals(top['approvals'], fail);
  return { rules, patterns, onUnmaskable, source, ...(inline ? { inline } : {}), ...(approvals ? { approvals } : {}) };
}

/** `masking.inline`: true, false, or {exceptGroups: [group, ...], maxHold: 100ms}; it needs patterns to apply. */
function validateInline(raw: unknown, patternCount: number, fail: Fail): Policy['inline'] {
  if (raw === undefined || raw === null || raw === false) return undefined;
  const here = ['masking', 'inline'];
  let exceptGroups: string[] = [];
  let maxHoldMs = INLINE_HOLD_DEFAULT_MS;
  if (isObject(raw)) {
    for (const k of Object.keys(raw))
      if (k !== 'exceptGroups' && k !== 'maxHold') fail([...here, k], `unknown key "masking.inline.${k}" (expected exceptGroups, maxHold)`);
    const g = raw['exceptGroups'];
    const list = g === undefined ? [] : Array.isArray(g) ? g : [g];
    if (!list.every((x) => typeof x === 'string' && x !== '')) fail([...here, 'exceptGroups'], 'exceptGroups must be a group or a list of groups');
    exceptGroups = list as string[];
    if (raw['maxHold'] !== undefined) {
      // How long a tail that could still become a credential may wait: longer catches slower
      // split writes, and delays an echoed keystroke that could start one by as much.
      const ms = typeof raw['maxHold'] === 'string' ? parseDuration(raw['maxHold']) : undefined;
      if (ms === undefined || ms < 10 || ms > INLINE_HOLD_LIMIT_MS)
        fail([...here, 'maxHold'], `maxHold must be a duration from 10ms to ${INLINE_HOLD_LIMIT_MS / 1000}s, got ${JSON.stringify(raw['maxHold'])}`);
      maxHoldMs = ms!;
    }
  } else if (raw !== true) {
    fail(here, `inline must be true, false or {exceptGroups: [group, ...], maxHold: 100ms}, got ${JSON.stringify(raw)}`);
  }
  if (patternCount === 0) fail(here, '"inline" masks exec/attach output with masking.patterns, and there are none');
  return { exceptGroups, maxHoldMs };
}

const INLINE_HOLD_LIMIT_MS = 2000;

function validateApprovals(raw: unknown, fail: Fail): Policy['approvals'] {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) fail(['approvals'], '"approvals" must be a mapping (webhook: URL)');
  const a = raw;
  for (const k of Object.keys(a))
    if (k !== 'webhook' && k !== 'webhookFromEnv') fail(['approvals', k], `unknown key "approvals.${k}" (expected webhook or webhookFromEnv)`);
  if (a['webhook'] !== undefined && a['webhookFromEnv'] !== undefined) fail(['approvals', 'webhookFromEnv'], 'give "webhook" or "webhookFromEnv", not both');
  if (a['webhookFromEnv'] !== undefined) return webhookFromEnv(a['webhookFromEnv'], fail);
  const webhook = a['webhook'];
  if (webhook === undefined) return {};
  const url = httpUrl(webhook);
  if (!url) fail(['approvals', 'webhook'], `webhook must be an http(s) URL, got ${JSON.stringify(webhook)}`);
  return { webhook: url.toString() };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `approvals.webhookFromEnv: NAME`: the URL is a credential (a Slack
 * webhook's path is its secret), so a deployment can keep it out of the
 * policy and pass it as an environment variable. Read at every load (a
 * reload sees a changed value); messages name the variable, never its value.
 */
function webhookFromEnv(name: unknown, fail: Fail): NonNullable<Policy['approvals']> {
  const here = ['approvals', 'webhookFromEnv'];
  if (typeof name !== 'string' || !ENV_NAME.test(name)) fail(here, `webhookFromEnv must be an environment variable name, got ${JSON.stringify(name)}`);
  const value = process.env[name];
  if (value === undefined || value.trim() === '') fail(here, `webhookFromEnv: the environment variable ${name} is not set`);
  const url = httpUrl(value.trim());
  if (!url) fail(here, `webhookFromEnv: the environment variable ${name} does not hold an http(s) URL`);
  return { webhook: url.toString(), webhookFromEnv: name };
}

function httpUrl(v: unknown): URL | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    const url = new URL(v);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

type Fail = (p: Array<string | number>, msg: string) => never;

function validateRule(raw: unknown, i: number, fail: Fail, lineOf: (p: Array<string | number>) => number): PolicyRule {
  const here = ['rules', i];
  if (!isObject(raw)) fail(here, 'a rule is a mapping with "match" and "action"');
  const r = raw;
  for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) fail([...here, k], `unknown key "${k}" in a rule (expected ${[...RULE_KEYS].join(', ')})`);
  const action = r['action'];
  if (typeof action !== 'string' || !ACTIONS.has(action as PolicyAction))
    fail([...here, 'action'], `action must be one of ${[...ACTIONS].join(', ')}, got ${JSON.stringify(action)}`);
  const name = r['name'] ?? `rule ${i + 1}`;
  if (typeof name !== 'string') fail([...here, 'name'], 'name must be a string');
  const priority = r['priority'] ?? 0;
  if (typeof priority !== 'number' || !Number.isFinite(priority)) fail([...here, 'priority'], 'priority must be a number');
  const message = r['message'];
  if (message !== undefined && typeof message !== 'string') fail([...here, 'message'], 'message must be a string');
  if (action === 'deny' && message === undefined) fail(here, 'a deny rule needs a "message" (kubectl shows it to the caller)');
  const rule: PolicyRule = {
    name: name,
    index: i + 1,
    line: lineOf(here),
    priority: priority,
    match: validateMatch(r['match'], [...here, 'match'], fail),
    action: action as PolicyAction,
  };
  if (message !== undefined) rule.message = message;
  const approvers = r['approvers'];
  if (approvers !== undefined) {
    if (action !== 'require-approval') fail([...here, 'approvers'], '"approvers" only applies to require-approval rules');
    const list = Array.isArray(approvers) ? approvers : [approvers];
    if (list.length === 0 || !list.every((g) => typeof g === 'string')) fail([...here, 'approvers'], 'approvers must be a group or a list of groups');
    rule.approvers = list;
  }
  const maxGrant = r['maxGrant'];
  if (maxGrant !== undefined) {
    if (action !== 'require-approval') fail([...here, 'maxGrant'], '"maxGrant" only applies to require-approval rules');
    const ms = typeof maxGrant === 'string' ? parseDuration(maxGrant) : undefined;
    if (ms === undefined) fail([...here, 'maxGrant'], `maxGrant must be a duration such as 30m or 1h, got ${JSON.stringify(maxGrant)}`);
    rule.maxGrantMs = ms!;
  }
  const hold = r['hold'];
  if (hold !== undefined) {
    if (action !== 'require-approval') fail([...here, 'hold'], '"hold" only applies to require-approval rules');
    const ms = typeof hold === 'string' ? parseDuration(hold) : undefined;
    if (ms === undefined || ms > 600_000) fail([...here, 'hold'], `hold must be a duration of at most 10m such as 60s, got ${JSON.stringify(hold)}`);
    rule.holdMs = ms!;
  }
  if (r['typed'] !== undefined) {
    if (rule.match.tty !== true) fail([...here, 'typed'], '"typed" needs "tty: true" in the match (it applies to interactive shells)');
    rule.typed = validateTyped(r['typed'], [...here, 'typed'], fail);
  }
  return rule;
}

function validateTyped(raw: unknown, here: Array<string | number>, fail: Fail): TypedLineRule[] {
  if (!Array.isArray(raw) || raw.length === 0) fail(here, '"typed" is a list of {regex | prefix | exact, action: deny, message}');
  return (raw as unknown[]).map((item, j) => {
    const at = [...here, j];
    if (!isObject(item)) fail(at, 'a typed rule is {regex | prefix | exact, action: deny, message}');
    const t = item;
    for (const k of Object.keys(t))
      if (!['regex', 'prefix', 'exact', 'action', 'message'].includes(k))
        fail([...at, k], `unknown key "${k}" in a typed rule (expected regex, prefix, exact, action, message)`);
    if (t['action'] !== 'deny') fail([...at, 'action'], `a typed rule's action must be "deny", got ${JSON.stringify(t['action'])}`);
    if (typeof t['message'] !== 'string' || !t['message']) fail([...at, 'message'], 'a typed rule needs a "message" (written to the terminal)');
    const kinds = ['regex', 'prefix', 'exact'].filter((k) => t[k] !== undefined);
    if (kinds.length !== 1) fail(at, 'a typed rule needs exactly one of regex, prefix, exact');
    const { [kinds[0]]: v } = t;
    const match = commandMatch({ [kinds[0]]: v }, at, fail);
    return { match, action: 'deny' as const, message: t['message'] };
  });
}

function validateMatch(raw: unknown, here: Array<string | number>, fail: Fail): RuleMatch {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) fail(here, '"match" must be a mapping');
  const m = raw;
  const out: RuleMatch = {};
  for (const [k, v] of Object.entries(m)) {
    if (!MATCH_KEYS.has(k)) {
      const near = closest(k, [...MATCH_KEYS]);
      fail([...here, k], `unknown match field "${k}"${near ? ` (did you mean "${near}"?)` : ''} (expected ${[...MATCH_KEYS].join(', ')})`);
    }
    if (k === 'tty' || k === 'stdin') {
      if (typeof v !== 'boolean') fail([...here, k], `${k} must be true or false`);
      out[k] = v;
    } else if (k === 'agent') {
      // true / false, or agents by name: a misspelt "yes" must not read as a name no agent has.
      if (typeof v === 'boolean') out.agent = v;
      else {
        const items = Array.isArray(v) ? v : [v];
        if (
          items.length === 0 ||
          !items.every((x) => typeof x === 'string' && x !== '') ||
          items.some((x) => ['true', 'false', 'yes', 'no'].includes(x as string))
        )
          fail([...here, k], 'agent must be true (any agent), false (people only), or an agent name or a list of names');
        out.agent = items as string[];
      }
    } else if (k === 'labels') {
      out.labels = labelMatch(v, [...here, k], fail);
    } else if (k === 'command') {
      const items = Array.isArray(v) ? v : [v];
      out.command = items.map((c, j) => commandMatch(c, [...here, k, ...(Array.isArray(v) ? [j] : [])], fail));
    } else {
      const items = Array.isArray(v) ? v : [v];
      if (items.length === 0 || !items.every((x) => typeof x === 'string')) fail([...here, k], `${k} must be a string or a list of strings`);
      out[k as (typeof LIST_FIELDS)[number]] = items;
    }
  }
  checkVocabulary(m, out, here, fail);
  return out;
}

/**
 * A verb or subresource no request carries makes a rule that never matches:
 * `verb: [delete, deletcollection]` would protect nothing from a
 * deletecollection, silently. Refused at load, naming the item's line.
 */
function checkVocabulary(raw: Record<string, unknown>, m: RuleMatch, here: Array<string | number>, fail: Fail): void {
  const at = (k: string, j: number) => [...here, k, ...(Array.isArray(raw[k]) ? [j] : [])];
  m.verb?.forEach((v, j) => {
    const problem = verbProblem(v, { wildcard: true });
    if (problem) fail(at('verb', j), problem);
  });
  if (!subresourcesAreKubernetes(m.apiGroup)) return;
  m.subresource?.forEach((s, j) => {
    const problem = subresourceProblem(s, { wildcard: true });
    if (problem)
      fail(
        at('subresource', j),
        problem.includes('did you mean') ? problem : `${problem}; for an aggregated API's own subresource, name its apiGroup in the rule`,
      );
  });
}

/** `labels:` is a map of equalities or a label-selector string; both checked against Kubernetes label syntax. */
function labelMatch(raw: unknown, here: Array<string | number>, fail: Fail): LabelSelector {
  if (typeof raw === 'string') {
    if (raw.trim() === '') fail(here, 'labels must not be empty (a selector such as "tier in (db,cache),!canary" or a map)');
    try {
      return parseLabelSelector(raw);
    } catch (e) {
      if (e instanceof LabelSelectorError) return fail(here, `labels: ${e.message}`);
      throw e;
    }
  }
  if (!isObject(raw)) return fail(here, 'labels is a map ({tier: db}) or a label selector string ("tier in (db,cache),env!=dev")');
  const map: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    // YAML reads `protected: true` as a boolean; the label's value is the text "true".
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') fail([...here, key], `labels.${key} must be a string`);
    map[key] = String(value);
  }
  try {
    return selectorFromMap(map);
  } catch (e) {
    if (!(e instanceof LabelSelectorError)) throw e;
    const bad = Object.keys(map).find((k) => e.message.includes(JSON.stringify(k)) || e.message.includes(JSON.stringify(map[k])));
    return fail(bad ? [...here, bad] : here, `labels: ${e.message}`);
  }
}

function commandMatch(raw: unknown, here: Array<string | number>, fail: Fail): CommandMatch {
  if (typeof raw === 'string') return { exact: raw };
  if (isObject(raw)) {
    const keys = Object.keys(raw);
    const v = raw[keys[0] ?? ''];
    if (keys.length === 1 && typeof v === 'string') {
      if (keys[0] === 'exact') return { exact: v };
      if (keys[0] === 'prefix') return { prefix: v };
      if (keys[0] === 'regex') return { regex: compile(v, '', (msg) => fail([...here, 'regex'], msg)) };
    }
  }
  return fail(here, 'command is a string (exact) or one of {exact: S}, {prefix: S}, {regex: R}');
}

function compile(source: string, flags: string, fail: (msg: string) => never): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (e) {
    return fail(`invalid regex: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
