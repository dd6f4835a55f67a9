// First match wins over the rules as sorted at load (priority, then file
// order). No matching rule: allowed, and the cluster's RBAC decides.
//
// Rules with `labels` match on the target object's labels. Those are looked
// up only when evaluation reaches such a rule with every other field
// matching (evaluatePolicyWithLabels); the sync evaluatePolicy never looks
// anything up and treats labels it was not given as unknown.
import { selectorMatches, selectorsExclude, parseLabelSelector, LabelSelectorError } from './label-selector.js';
import type { CommandMatch, LabelFacts, Policy, PolicyDecision, PolicyRequest, PolicyRule, RuleMatch } from './types.js';

/** Fetches what the request's target labels are; called at most once per evaluation. May throw (the request is then refused). */
export type LabelSource = (rule: PolicyRule) => Promise<LabelFacts>;

const UNKNOWN_TARGET: LabelFacts = { current: 'unknown' };

export function evaluatePolicy(policy: Policy, req: PolicyRequest): PolicyDecision {
  let facts = req.labels;
  for (const rule of policy.rules) {
    if (!ruleMatches(rule.match, req)) continue;
    if (rule.match.labels) {
      facts ??= factsWithoutLookup(req) ?? UNKNOWN_TARGET;
      if (!labelsMatch(rule, facts)) continue;
    }
    return decision(rule, facts);
  }
  return { action: 'allow' };
}

/** As evaluatePolicy, asking `source` for the target's labels the first time a rule needs them. */
export async function evaluatePolicyWithLabels(policy: Policy, req: PolicyRequest, source: LabelSource): Promise<PolicyDecision> {
  let facts = req.labels;
  for (const rule of policy.rules) {
    if (!ruleMatches(rule.match, req)) continue;
    if (rule.match.labels) {
      facts ??= factsWithoutLookup(req) ?? (await source(rule));
      if (!labelsMatch(rule, facts)) continue;
    }
    return decision(rule, facts);
  }
  return { action: 'allow' };
}

function decision(rule: PolicyRule, facts: LabelFacts | undefined): PolicyDecision {
  return facts ? { action: rule.action, rule, labels: facts } : { action: rule.action, rule };
}

const COLLECTION_VERBS = new Set(['list', 'watch', 'deletecollection']);

/**
 * What is known without asking the cluster: nothing to match for
 * non-resource paths, the request's own selector for collections.
 * Undefined: the object (or the request body) must be consulted.
 */
export function factsWithoutLookup(req: PolicyRequest): LabelFacts | undefined {
  if (!req.resource) return {};
  if (!COLLECTION_VERBS.has(req.verb)) return undefined;
  try {
    return { collection: parseLabelSelector(req.labelSelector ?? '') };
  } catch (e) {
    // The cluster will reject it; meanwhile it narrows nothing.
    if (e instanceof LabelSelectorError) return { collection: { requirements: [], text: req.labelSelector ?? '' } };
    throw e;
  }
}

/**
 * Blocking rules (deny, require-approval, mask) match when the current OR
 * the new labels match, or either is unknown: removing a label, or creating
 * an object with it, cannot slip past a rule. An allow rule matches only
 * when every side that applies is known and matches. Collections: a
 * blocking rule matches unless the request's own selector rules out every
 * object the rule selects; an allow rule never matches a collection.
 */
function labelsMatch(rule: PolicyRule, facts: LabelFacts): boolean {
  const selector = rule.match.labels!;
  const blocking = rule.action !== 'allow';
  if (facts.collection) return blocking && !selectorsExclude(facts.collection, selector);
  const sides = [facts.current, facts.next].filter((s) => s !== undefined);
  if (sides.length === 0) return false;
  if (blocking) return sides.some((s) => s === 'unknown' || selectorMatches(selector, s));
  return sides.every((s) => s !== 'unknown' && selectorMatches(selector, s));
}

function ruleMatches(m: RuleMatch, r: PolicyRequest): boolean {
  if (!anyOf(m.cluster, r.cluster)) return false;
  if (!anyOf(m.user, r.user)) return false;
  if (m.group && !r.groups.some((g) => m.group!.includes(g))) return false;
  if (m.agent !== undefined && !agentMatches(m.agent, r.agent)) return false;
  if (m.actingFor && (r.actingFor === undefined || !anyOf(m.actingFor, r.actingFor))) return false;
  if (!anyOf(m.verb, r.verb)) return false;
  if (!anyOf(m.apiGroup, r.apiGroup)) return false;
  if (!anyOf(m.resource, r.resource)) return false;
  if (!anyOf(m.subresource, r.subresource)) return false;
  if (!anyOf(m.namespace, r.namespace)) return false;
  if (!anyOf(m.name, r.name)) return false;
  if (m.command || m.container || m.tty !== undefined || m.stdin !== undefined) {
    // Exec fields only ever match exec/attach requests.
    const x = r.exec;
    if (!x) return false;
    if (m.command && !m.command.some((c) => commandMatches(c, x.command))) return false;
    if (m.container && !m.container.includes(x.container ?? '')) return false;
    if (m.tty !== undefined && m.tty !== x.tty) return false;
    if (m.stdin !== undefined && m.stdin !== x.stdin) return false;
  }
  return true;
}

/** agent: true any machine caller, false only people, a list those agents by name. */
function agentMatches(want: boolean | string[], agent: string | undefined): boolean {
  if (want === true) return agent !== undefined;
  if (want === false) return agent === undefined;
  return agent !== undefined && anyOf(want, agent);
}

/** "*" matches anything; an absent list matches everything. */
function anyOf(list: string[] | undefined, value: string): boolean {
  return !list || list.includes('*') || list.includes(value);
}

function commandMatches(c: CommandMatch, argv: string[]): boolean {
  const line = argv.join(' ');
  if ('exact' in c) return line === c.exact;
  if ('prefix' in c) return line.startsWith(c.prefix);
  return c.regex.test(line);
}
