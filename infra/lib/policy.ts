// kubetape's guardrail policy for the deployed service: read at synth and
// validated by kubetape's own loader, so a broken policy fails `cdk synth`
// with the same `file:line: message` as `kubetape policy check` instead of
// deploying tasks that refuse to start. The webhook that notifies approvers
// is a credential (a Slack webhook's path is its secret): the task
// definition's environment is readable by anyone who can describe it, so the
// URL comes from a Secrets Manager secret and the embedded policy names the
// environment variable ECS fills from it.
import { LineCounter, parse, parseDocument } from 'yaml';
import { parsePolicyText, PolicyError } from '../../src/authorize/policy/load.js';
import type { PolicySetting } from './settings.js';

/** The container's environment variable holding the approvers' webhook URL (an ECS secret). */
export const APPROVALS_WEBHOOK_ENV = 'KUBETAPE_APPROVALS_WEBHOOK';

/** Validates the policy text; `fail` makes the error synth reports (a SettingsError). */
export function readPolicySetting(text: string, file: string, fail: (message: string) => Error): PolicySetting {
  const lineOf = (path: string[]): string => {
    const lineCounter = new LineCounter();
    const node = parseDocument(text, { lineCounter }).getIn(path, true) as { range?: [number, number, number] } | undefined;
    return node?.range ? `${file}:${lineCounter.linePos(node.range[0]).line}` : file;
  };
  let raw: unknown;
  try {
    raw = parse(text);
  } catch {
    raw = undefined; // parsePolicyText below reports the syntax error with its line
  }
  const approvals = isObject(raw) && isObject(raw['approvals']) ? raw['approvals'] : undefined;
  // kubetape would read this variable at load; the stack sets it from approvalsWebhookSecretArn instead.
  if (approvals?.['webhookFromEnv'] !== undefined) {
    throw fail(
      `${lineOf(['approvals', 'webhookFromEnv'])}: leave approvals.webhookFromEnv out of the deployed policy; give -c approvalsWebhookSecretArn=ARN and the stack sets it (${APPROVALS_WEBHOOK_ENV})`,
    );
  }
  try {
    parsePolicyText(text, file);
  } catch (e) {
    if (e instanceof PolicyError) throw fail(e.message);
    throw e;
  }
  if (approvals?.['webhook'] !== undefined) {
    throw fail(
      `${lineOf(['approvals', 'webhook'])}: approvals.webhook would put the approvers' webhook URL (a credential) in the task definition's plain environment; ` +
        'remove it and give -c approvalsWebhookSecretArn=ARN (a Secrets Manager secret holding the URL as a plain string)',
    );
  }
  return { file, document: isObject(raw) ? raw : {} };
}

/** The policy as kubetape.yaml embeds it: the file's document, plus where the webhook URL comes from when there is a secret. */
export function embeddedPolicy(policy: PolicySetting, webhookFromSecret: boolean): Record<string, unknown> {
  if (!webhookFromSecret) return policy.document;
  const approvals = isObject(policy.document['approvals']) ? policy.document['approvals'] : {};
  return { ...policy.document, approvals: { ...approvals, webhookFromEnv: APPROVALS_WEBHOOK_ENV } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
