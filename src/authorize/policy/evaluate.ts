// First match wins over the rules as sorted at load (priority, then file
// order). No matching rule: allowed, and the cluster's RBAC decides.
import type { CommandMatch, Policy, PolicyDecision, PolicyRequest, RuleMatch } from './types.js';

export function evaluatePolicy(policy: Policy, req: PolicyRequest): PolicyDecision {
  for (const rule of policy.rules) if (ruleMatches(rule.match, req)) return { action: rule.action, rule };
  return { action: 'allow' };
}

function ruleMatches(m: RuleMatch, r: PolicyRequest): boolean {
  if (!anyOf(m.cluster, r.cluster)) return false;
  if (!anyOf(m.user, r.user)) return false;
  if (m.group && !r.groups.some((g) => m.group!.includes(g))) return false;
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
