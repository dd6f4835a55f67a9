// `kubetape policy check FILE` and `kubetape policy explain FILE ...`: what an
// operator runs before a policy reaches a running kubetape (in the policy
// repository's CI, or at the terminal): does it load, and which rule decides
// a given request. The same loader and evaluator as the data path, so the
// answer is the one kubetape would give.
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { loadPolicyFile, PolicyError } from '../authorize/policy/load.js';
import { evaluatePolicy } from '../authorize/policy/evaluate.js';
import type { LabelFacts, Policy, PolicyDecision, PolicyRequest } from '../authorize/policy/types.js';
import type { Labels } from '../authorize/policy/label-selector.js';
import { KUBERNETES_VERBS, subresourceProblem, subresourcesAreKubernetes, verbProblem } from '../authorize/policy/vocabulary.js';

interface ExplainFlags {
  user: string;
  group: string[];
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  cluster: string;
  labels?: string;
  newLabels?: string;
  selector?: string;
  command?: string;
  container?: string;
  tty?: boolean;
  stdin?: boolean;
  json?: boolean;
}

function load(file: string): Policy {
  try {
    return loadPolicyFile(file);
  } catch (e) {
    if (e instanceof PolicyError) throw new CliError(e.message);
    throw e;
  }
}

/** "a=1,b=2" as a label map; "" is an object with no labels. */
export function parseLabelList(text: string, flag: string): Labels {
  const out: Labels = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new CliError(`${flag}: "${part}" is not key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

const EXEC_SUBRESOURCES = new Set(['exec', 'attach']);

export function explainRequest(f: ExplainFlags): PolicyRequest {
  // A verb or subresource no request carries would be answered "allow: no rule matches", which is no answer.
  const badVerb = verbProblem(f.verb, { wildcard: false, label: '--verb' });
  if (badVerb) throw new CliError(badVerb);
  const badSubresource = subresourcesAreKubernetes([f.apiGroup]) ? subresourceProblem(f.subresource, { wildcard: false, label: '--subresource' }) : undefined;
  if (badSubresource) throw new CliError(badSubresource);
  const isExec = EXEC_SUBRESOURCES.has(f.subresource);
  if (!isExec && (f.command !== undefined || f.container !== undefined || f.tty || f.stdin)) {
    throw new CliError('--command, --container, --tty and --stdin describe exec or attach: add --subresource exec (or attach)');
  }
  const labels: LabelFacts = {};
  if (f.labels !== undefined) labels.current = parseLabelList(f.labels, '--labels');
  if (f.newLabels !== undefined) labels.next = parseLabelList(f.newLabels, '--new-labels');
  const known = f.labels !== undefined || f.newLabels !== undefined;
  return {
    cluster: f.cluster,
    user: f.user,
    groups: f.group,
    // exec/attach/port-forward are "create" on the pod's subresource, as the API server authorizes them.
    verb: f.subresource && ['exec', 'attach', 'portforward'].includes(f.subresource) ? 'create' : f.verb,
    apiGroup: f.apiGroup,
    resource: f.resource,
    subresource: f.subresource,
    namespace: f.namespace,
    name: f.name,
    ...(f.selector !== undefined ? { labelSelector: f.selector } : {}),
    ...(known ? { labels } : {}),
    ...(isExec
      ? {
          exec: {
            command: f.command ? f.command.split(/\s+/).filter(Boolean) : [],
            ...(f.container !== undefined ? { container: f.container } : {}),
            tty: Boolean(f.tty),
            stdin: Boolean(f.stdin),
          },
        }
      : {}),
  };
}

export function describeDecision(d: PolicyDecision, p: Policy): string {
  const r = d.rule;
  if (!r) return "allow: no rule matches; the cluster's RBAC decides\n";
  const where = r.line ? `${p.source}:${r.line}` : p.source;
  const lines = [`${r.action} by rule ${r.index} "${r.name}" (${where})`];
  if (r.message) lines.push(`  message: ${r.message}`);
  if (r.action === 'require-approval') {
    lines.push(
      `  approvers: ${(r.approvers ?? []).join(', ') || '(none)'}; longest grant ${Math.round((r.maxGrantMs ?? 3_600_000) / 60_000)}m${r.holdMs ? `; held ${Math.round(r.holdMs / 1000)}s for a decision` : ''}`,
    );
  }
  if (r.typed?.length) lines.push(`  typed-line rules: ${r.typed.length}`);
  // Unknown labels make a blocking rule match (kubetape fails closed); say so rather than leave it looking decided.
  if (r.match.labels && (d.labels?.current === 'unknown' || d.labels?.next === 'unknown'))
    lines.push(`  labels unknown: the rule matches because it selects on labels; give --labels to decide as for a real object`);
  return lines.join('\n') + '\n';
}

const collect = (v: string, prev: string[] = []) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

export function registerPolicyCommand(program: Command): void {
  const policy = program.command('policy').description('check a guardrail policy file, or ask it which rule decides a request');

  policy
    .command('check <file>')
    .description('load and validate a policy as kubetape serve would (exit 1 naming the line when it is broken)')
    .action((file: string) => {
      const p = load(file);
      const actions = new Map<string, number>();
      for (const r of p.rules) actions.set(r.action, (actions.get(r.action) ?? 0) + 1);
      const summary = [...actions].map(([a, n]) => `${n} ${a}`).join(', ') || 'no rules';
      process.stdout.write(
        `${file}: OK: ${p.rules.length} rule${p.rules.length === 1 ? '' : 's'} (${summary}); ${p.patterns.length} mask pattern${p.patterns.length === 1 ? '' : 's'}; onUnmaskable ${p.onUnmaskable}\n`,
      );
    });

  policy
    .command('explain <file>')
    .description('which rule decides a request, and what it does (labels as the cluster would report them)')
    .option('--user <name>', 'the caller', 'user')
    .option('--group <group>', "the caller's groups (repeatable or comma-separated)", collect, [])
    .option('--verb <verb>', KUBERNETES_VERBS.join(', '), 'get')
    .option('--api-group <group>', 'API group ("" is core)', '')
    .option('--resource <resource>', 'e.g. pods, secrets, deployments', '')
    .option('--subresource <sub>', 'e.g. exec, attach, portforward, log, status', '')
    .option('--namespace <ns>', 'namespace ("" for cluster-scoped)', '')
    .option('--name <name>', 'object name ("" for a collection)', '')
    .option('--cluster <name>', 'cluster name (multi-cluster kubetape)', 'default')
    .option('--labels <k=v,...>', 'the target\'s current labels ("" for none); unknown when omitted')
    .option('--new-labels <k=v,...>', 'the labels a create, update or patch would leave')
    .option('--selector <selector>', "a list or watch request's own labelSelector")
    .option('--command <argv>', 'exec: the command, words separated by spaces')
    .option('--container <name>', 'exec: the container')
    .option('--tty', 'exec: with a terminal')
    .option('--stdin', 'exec: with stdin')
    .option('--json', 'print the decision as JSON')
    .action((file: string, f: ExplainFlags) => {
      const p = load(file);
      const d = evaluatePolicy(p, explainRequest(f));
      if (f.json) {
        process.stdout.write(
          JSON.stringify({
            action: d.action,
            ...(d.rule ? { rule: d.rule.name, index: d.rule.index, line: d.rule.line, ...(d.rule.message ? { message: d.rule.message } : {}) } : {}),
          }) + '\n',
        );
        return;
      }
      process.stdout.write(describeDecision(d, p));
    });
}
