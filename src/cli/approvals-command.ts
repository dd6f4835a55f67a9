// `kubetape approvals list|request|approve|deny`: just-in-time approval from
// the terminal, as the person the current kubeconfig context authenticates.
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { approvalsTarget, callApprovals } from './approvals-client.js';
import { parseDuration } from '../authorize/approvals/duration.js';
import type { ApprovalView } from '../authorize/approvals/routes.js';
import { AUDIT_STATUSES } from '../authorize/approvals/model.js';
import { parseSince, shortTime, table } from './format.js';

interface TargetOptions {
  kubeconfig?: string;
  context?: string;
}

export function registerApprovalsCommand(program: Command): void {
  const approvals = program.command('approvals').description('ask for, list and decide just-in-time approvals (uses the current kubeconfig context)');
  const withTarget = (c: Command) =>
    c
      .option('--kubeconfig <file>', 'kubeconfig file (default $KUBECONFIG or ~/.kube/config)')
      .option('--context <name>', 'kubeconfig context (default the current one)');

  withTarget(approvals.command('list').description('pending approval requests (--all: the history you may see, newest first)'))
    .option('--json', 'print the requests as JSON')
    .option('--all', 'every approval: pending, approved, denied, used and expired, newest first')
    .option('--user <name>', 'with --all: only requests by this person')
    .option('--status <status>', `with --all: only this status (${AUDIT_STATUSES.join(', ')})`)
    .option('--since <when>', 'with --all: only requests made since (90s, 30m, 1h, 2d or a timestamp)')
    .action(async (o: TargetOptions & HistoryOptions & { json?: boolean }) => {
      if (o.all) return listHistory(o);
      if (o.user !== undefined || o.status !== undefined || o.since !== undefined)
        throw new CliError('--user, --status and --since filter the history: add --all');
      const r = (await callApprovals(approvalsTarget(o), 'GET', '')) as { items: ApprovalView[] };
      if (o.json) return void process.stdout.write(JSON.stringify(r.items, null, 2) + '\n');
      if (r.items.length === 0) return void process.stdout.write('no pending approval requests\n');
      for (const a of r.items)
        process.stdout.write(
          `${a.id}  ${a.user}  ${a.cluster}  ${a.what}  (rule ${a.rule}; approvers: ${a.approvers.join(', ') || 'none'})${a.reason ? `  reason: ${a.reason}` : ''}\n`,
        );
    });

  withTarget(approvals.command('request <id>').description('ask for approval of a refused request (its id is in the refusal)'))
    .option('--reason <text>', 'why you need it (approvers see it)')
    .action(async (id: string, o: TargetOptions & { reason?: string }) => {
      const a = (await callApprovals(approvalsTarget(o), 'POST', `/${encodeURIComponent(id)}/request`, { reason: o.reason ?? '' })) as ApprovalView;
      process.stdout.write(`requested ${a.id}: ${a.what}; approvers: ${a.approvers.join(', ') || 'none'}. Retry the command once it is approved.\n`);
    });

  withTarget(approvals.command('approve <id>').description('approve a pending request (one use unless --for is given)'))
    .option('--for <duration>', 'grant for this long (within the policy maximum), e.g. 30m')
    .option('--once', 'grant one use (the default)')
    .action(async (id: string, o: TargetOptions & { for?: string; once?: boolean }) => {
      if (o.for !== undefined && o.once) throw new CliError('give --for or --once, not both');
      if (o.for !== undefined && parseDuration(o.for) === undefined) throw new CliError(`--for must be a duration such as 30m or 1h, got "${o.for}"`);
      const body = o.for !== undefined ? { duration: o.for } : { once: true };
      const a = (await callApprovals(approvalsTarget(o), 'POST', `/${encodeURIComponent(id)}/approve`, body)) as ApprovalView;
      const terms = a.grant?.once ? 'one use' : `until ${a.grant?.expiresAt}`;
      process.stdout.write(`approved ${a.id} for ${a.user}: ${a.what} (${terms})\n`);
    });

  withTarget(approvals.command('deny <id>').description('deny a pending request'))
    .requiredOption('--reason <text>', 'why (the requester sees it)')
    .action(async (id: string, o: TargetOptions & { reason: string }) => {
      const a = (await callApprovals(approvalsTarget(o), 'POST', `/${encodeURIComponent(id)}/deny`, { reason: o.reason })) as ApprovalView;
      process.stdout.write(`denied ${a.id} for ${a.user}: ${a.what}\n`);
    });
}

interface HistoryOptions {
  all?: boolean;
  user?: string;
  status?: string;
  since?: string;
}

/** The filters become query parameters: the server decides what the caller may see, then filters. */
function historyQuery(o: HistoryOptions): string {
  const q = new URLSearchParams({ all: 'true' });
  if (o.user !== undefined) q.set('user', o.user);
  if (o.status !== undefined) {
    if (!(AUDIT_STATUSES as readonly string[]).includes(o.status))
      throw new CliError(`--status must be one of ${AUDIT_STATUSES.join(', ')}, got "${o.status}"`);
    q.set('status', o.status);
  }
  if (o.since !== undefined) {
    try {
      q.set('since', parseSince(o.since).toISOString());
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  return '?' + q.toString();
}

async function listHistory(o: TargetOptions & HistoryOptions & { json?: boolean }): Promise<void> {
  const query = historyQuery(o);
  const r = (await callApprovals(approvalsTarget(o), 'GET', query)) as { items: ApprovalView[] };
  if (o.json) return void process.stdout.write(JSON.stringify(r.items, null, 2) + '\n');
  if (r.items.length === 0) return void process.stdout.write('no approvals match\n');
  process.stdout.write(table(HISTORY_HEADER, r.items.map(historyRow)));
}

const HISTORY_HEADER = ['ID', 'STATUS', 'REQUESTER', 'CLUSTER', 'REQUESTED', 'DECIDED BY', 'DECIDED', 'GRANT', 'USES', 'LAST USED', 'RULE', 'WHAT'];

/** One approval round as an auditor scans it; the free-text "what" goes last so the columns stay aligned. */
export function historyRow(a: ApprovalView): string[] {
  const grant = a.grant ? (a.grant.once ? 'once' : `until ${shortTime(a.grant.expiresAt)}`) : '-';
  return [
    a.id,
    a.status,
    a.user,
    a.cluster,
    shortTime(a.requestedAt),
    a.decidedBy ?? '-',
    a.decidedAt ? shortTime(a.decidedAt) : '-',
    grant,
    a.grant ? String(a.grant.uses) : '-',
    a.grant?.lastUsedAt ? shortTime(a.grant.lastUsedAt) : '-',
    a.rule,
    a.what + (a.denyReason ? ` (denied: ${a.denyReason})` : ''),
  ];
}
