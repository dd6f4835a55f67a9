// A policy decision on exec, attach or port-forward turned into what the
// stream handler acts on: the refusal (after a `hold:` when the rule has
// one), the record for the request event, line rules and inline masking.
// Nothing here touches the cluster.
import type { StreamDecision, StreamRequestInfo } from '../../forward/streams/authorize-stream.js';
import { holdForDecision } from '../approvals/hold.js';
import type { ApprovalStore } from '../approvals/store.js';
import type { GateOutcome } from '../approvals/gate.js';
import { applyDecision, recordedDecision } from './guard.js';
import type { Policy, PolicyDecision, PolicyRequest } from './types.js';

/**
 * kubectl answers a refused WebSocket upgrade by retrying at once over SPDY:
 * the first retry within RETRY_WINDOW_MS after a hold ran out for an
 * approval id is refused at once (the person already waited), not held again.
 */
const RETRY_WINDOW_MS = 10_000;
const ranOut = new Map<string, { until: number; note: string }>();

/** The note of a hold that ran out for `id` a moment ago, if one did (taken: it applies to one retry). */
function heldRecently(id: string | undefined, now = Date.now()): string | undefined {
  for (const [k, v] of ranOut) if (v.until <= now) ranOut.delete(k);
  const note = id === undefined ? undefined : ranOut.get(id)?.note;
  if (note) ranOut.delete(id!);
  return note;
}

export async function streamDecision(
  policy: Policy,
  d: PolicyDecision,
  req: PolicyRequest,
  info: StreamRequestInfo,
  approvals?: ApprovalStore,
): Promise<StreamDecision> {
  const what = `${info.kind} into ${info.namespace}/${info.pod}`;
  let outcome: GateOutcome;
  try {
    outcome = await applyDecision(d, req, what, approvals);
  } catch (err) {
    // Approval state unreadable: refuse rather than let a guarded stream through.
    return refused(d, {}, `kubetape could not check approvals: ${(err as Error).message}`);
  }
  const holdMs = d.rule?.holdMs;
  const ranOutNote = holdMs ? heldRecently(outcome.approval?.id) : undefined;
  if (outcome.refusal && ranOutNote) outcome = { ...outcome, refusal: `${outcome.refusal} ${ranOutNote}` };
  else if (
    outcome.refusal &&
    holdMs &&
    outcome.approval &&
    approvals &&
    info.signal &&
    (await approvals.get(outcome.approval.id).catch(() => undefined))?.status === 'pending'
  ) {
    // Held: no answer to the upgrade and nothing dialed until an approver decides, the hold runs out or the client leaves.
    const held = await holdForDecision(approvals, outcome.approval.id, holdMs, info.signal);
    if (held === 'gone') return { ...refused(d, outcome, 'the client went away while the request was held for approval'), gone: true };
    try {
      // Approved: this takes the new grant (recorded as used); denied or timed out: the refusal as without a hold.
      outcome = await applyDecision(d, req, what, approvals);
    } catch (err) {
      return refused(d, outcome, `kubetape could not check approvals: ${(err as Error).message}`);
    }
    if (held === 'timeout' && outcome.refusal) {
      const note = `(held ${Math.round(holdMs / 1000)}s without a decision)`;
      ranOut.set(outcome.approval?.id ?? '', { until: Date.now() + RETRY_WINDOW_MS, note });
      outcome = { ...outcome, refusal: `${outcome.refusal} ${note}` };
    }
  }
  const policyRecord = recordedDecision(d, outcome.approval);
  if (outcome.refusal) return refused(d, outcome, outcome.refusal);

  const x = info.exec;
  const inline =
    x && policy.inline && policy.patterns.length > 0 && !info.identity.groups.some((g) => policy.inline!.exceptGroups.includes(g))
      ? { patterns: policy.patterns, maxHoldMs: policy.inline.maxHoldMs }
      : undefined;
  return {
    allow: true,
    // Line rules only make sense on a terminal (the match requires tty: true).
    ...(d.rule?.typed && x?.tty ? { typed: { rule: d.rule.name, lines: d.rule.typed } } : {}),
    ...(inline ? { inline } : {}),
    ...(policyRecord ? { policy: policyRecord } : {}),
  };
}

function refused(d: PolicyDecision, outcome: GateOutcome, message: string): StreamDecision & { allow: false } {
  const policy = recordedDecision(d, outcome.approval);
  return { allow: false, message, ...(policy ? { policy } : {}) };
}
