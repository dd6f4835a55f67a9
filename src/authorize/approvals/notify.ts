// Telling approvers that someone is waiting: a Slack-compatible incoming
// webhook ({"text": ...}). Fire and forget: a slow or broken webhook must
// never hold up or fail the request that triggered it.
import type { ApprovalState } from './model.js';

export const WEBHOOK_TIMEOUT_MS = 3000;

/** The message approvers read: who asks what on which cluster, the id, and how to decide. */
export function approvalMessage(s: ApprovalState): string {
  const r = s.request;
  const reason = r.reason ? `\nReason: ${r.reason}` : '';
  const who = r.approvers.length ? r.approvers.join(', ') : 'nobody (the rule names no approvers)';
  return (
    `kubetape: ${r.user} asks to ${r.what} on cluster ${r.cluster} (policy rule "${r.rule}"), approval id ${r.id}.${reason}\n` +
    `Approvers (${who}): kubetape approvals approve ${r.id} [--duration 30m]  or  kubetape approvals deny ${r.id} --reason "..."`
  );
}

export interface NotifyOptions {
  log: (line: string) => void;
  onFailure: () => void;
  timeoutMs?: number;
}

/** Posts the message; returns a promise that never rejects (tests may await it, callers need not). */
export function notifyApprovers(webhook: string, s: ApprovalState, o: NotifyOptions): Promise<void> {
  const fail = (why: string) => {
    o.onFailure();
    o.log(`kubetape: could not notify approvers of ${s.request.id} at ${redactUrl(webhook)}: ${why}`);
  };
  return fetch(webhook, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: approvalMessage(s) }),
    signal: AbortSignal.timeout(o.timeoutMs ?? WEBHOOK_TIMEOUT_MS),
  }).then(
    async (res) => {
      // Drain so the connection is released.
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) fail(`HTTP ${res.status}`);
    },
    (err: Error) => fail(err.name === 'TimeoutError' ? 'timed out' : err.message),
  );
}

/** Webhook URLs carry their secret in the path: logs show only the origin. */
function redactUrl(u: string): string {
  try {
    return new URL(u).origin + '/…';
  } catch {
    return 'the webhook';
  }
}
