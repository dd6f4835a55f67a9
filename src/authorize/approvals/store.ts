// The approval log in the data dir (approvals.ndjson). Every read first
// checks the file's size and mtime and replays it when either changed, so
// several kubetape processes sharing the data dir agree on approvals.
// Appends are single short lines (O_APPEND), so writers do not interleave.
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { applyEntry, grantUsable, type ApprovalEntry, type ApprovalState, type RequestEntry } from './model.js';

export class ApprovalError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

export class ApprovalStore {
  private states = new Map<string, ApprovalState>();
  private mtimeMs = -1;
  private size = -1;

  /** Called after a request round is opened or given a reason (approvers are notified from here). */
  onRequested: ((s: ApprovalState) => void) | undefined;

  constructor(readonly file: string) {}

  /** Replays the log when it changed since the last read. */
  refresh(): void {
    let st;
    try {
      st = statSync(this.file);
    } catch {
      this.states = new Map();
      this.mtimeMs = this.size = -1;
      return;
    }
    if (st.mtimeMs === this.mtimeMs && st.size === this.size) return;
    const text = readFileSync(this.file, 'utf8');
    const states = new Map<string, ApprovalState>();
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        applyEntry(states, JSON.parse(line) as ApprovalEntry);
      } catch {
        // A torn last line from a crashed writer: skip it rather than lose every approval.
      }
    }
    this.states = states;
    this.mtimeMs = st.mtimeMs;
    this.size = Buffer.byteLength(text) === st.size ? st.size : -1;
  }

  get(id: string): ApprovalState | undefined {
    this.refresh();
    return this.states.get(id);
  }

  pending(): ApprovalState[] {
    this.refresh();
    return [...this.states.values()].filter((s) => s.status === 'pending');
  }

  /** Records that an operation was asked for: opens a new round unless one is pending or denied; a reason always does. */
  request(entry: Omit<RequestEntry, 'type' | 'at'>): ApprovalState {
    const now = this.get(entry.id);
    // A refused retry re-opens a used-up or expired grant, not a denial (that takes an explicit request).
    const opens = !now || now.status === 'approved' || entry.reason !== undefined;
    if (opens) this.append({ type: 'request', at: new Date().toISOString(), ...entry });
    const s = this.get(entry.id)!;
    if (opens) this.onRequested?.(s);
    return s;
  }

  /** Uses a grant for `id` when one is usable now; returns its id, or undefined. */
  useGrant(id: string, now = Date.now()): string | undefined {
    const s = this.get(id);
    if (!s || s.status !== 'approved' || !grantUsable(s.grant, now)) return undefined;
    const grant = s.grant!.grant;
    this.append({ type: 'use', id, grant, at: new Date(now).toISOString() });
    return grant;
  }

  approve(id: string, actor: { user: string; groups: string[] }, terms: { once: boolean; durationMs?: number }): ApprovalState {
    const s = this.decidable(id, actor);
    const durationMs = terms.durationMs ?? s.request.maxGrantMs;
    if (durationMs > s.request.maxGrantMs) throw new ApprovalError(400, `the policy allows grants of at most ${Math.round(s.request.maxGrantMs / 1000)}s for ${id}`, 'BadRequest');
    const grant = { grant: 'g-' + randomBytes(6).toString('hex'), once: terms.once, expiresAt: new Date(Date.now() + durationMs).toISOString() };
    this.append({ type: 'decision', id, at: new Date().toISOString(), actor: actor.user, decision: 'approve', grant });
    return this.get(id)!;
  }

  deny(id: string, actor: { user: string; groups: string[] }, reason: string): ApprovalState {
    this.decidable(id, actor);
    this.append({ type: 'decision', id, at: new Date().toISOString(), actor: actor.user, decision: 'deny', reason });
    return this.get(id)!;
  }

  private decidable(id: string, actor: { user: string; groups: string[] }): ApprovalState {
    const s = this.get(id);
    if (!s) throw new ApprovalError(404, `no approval request ${id}`, 'NotFound');
    if (s.request.user === actor.user) throw new ApprovalError(403, `${actor.user} asked for ${id} and cannot decide on their own request`, 'Forbidden');
    if (!actor.groups.some((g) => s.request.approvers.includes(g))) {
      const who = s.request.approvers.length ? `members of ${s.request.approvers.join(', ')}` : 'nobody (the rule names no approvers)';
      throw new ApprovalError(403, `${actor.user} may not decide on ${id}: it can be approved by ${who}`, 'Forbidden');
    }
    if (s.status !== 'pending') throw new ApprovalError(409, `${id} is not pending (it is ${s.status})`, 'Conflict');
    return s;
  }

  private append(e: ApprovalEntry): void {
    appendFileSync(this.file, JSON.stringify(e) + '\n', { mode: 0o600 });
  }
}
