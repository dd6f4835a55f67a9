// Approval state as an append-only log of entries (model.ts); where the log
// lives is the backend's business: approvals.ndjson in the data dir
// (FileApprovalStore, below) or items in the DynamoDB recording table
// (dynamo-store.ts). The gate, routes and hold only see ApprovalStore.
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import {
  approvalHistory,
  emptyFold,
  foldEntry,
  grantUsable,
  type ApprovalEntry,
  type ApprovalFold,
  type ApprovalState,
  type RequestEntry,
  type UseEntry,
} from './model.js';

export class ApprovalError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

export type Approver = { user: string; groups: string[] };

/** What the gate, the approvals API and `hold:` use, whichever backend keeps the log. */
export interface ApprovalStore {
  /** Called after a request round is opened or given a reason (approvers are notified from here). */
  onRequested: ((s: ApprovalState) => void) | undefined;
  get(id: string): Promise<ApprovalState | undefined>;
  pending(): Promise<ApprovalState[]>;
  /** Every round in the log (decided, used, expired, replaced by a later request), newest request first. */
  history(): Promise<ApprovalState[]>;
  request(entry: Omit<RequestEntry, 'type' | 'at'>): Promise<ApprovalState>;
  /** Uses a grant for `id` when one is usable now; returns its id, or undefined. */
  useGrant(id: string, now?: number): Promise<string | undefined>;
  approve(id: string, actor: Approver, terms: { once: boolean; durationMs?: number }): Promise<ApprovalState>;
  deny(id: string, actor: Approver, reason: string): Promise<ApprovalState>;
  close(): void;
}

/** The decision logic over a replayed log; subclasses say how the log is read and appended. */
export abstract class LogApprovalStore implements ApprovalStore {
  onRequested: ((s: ApprovalState) => void) | undefined;

  /** The replayed log; `fresh` asks for a read that sees every append so far. */
  protected abstract fold(fresh?: boolean): Promise<ApprovalFold>;
  protected abstract append(e: ApprovalEntry): Promise<void>;
  /** Records a use of a usable grant; false when it is one-time and someone (another replica) took it first. */
  protected abstract recordUse(use: UseEntry, once: boolean): Promise<boolean>;
  abstract close(): void;

  /** The current round of every approval id. */
  protected async states(fresh = false): Promise<Map<string, ApprovalState>> {
    return (await this.fold(fresh)).current;
  }

  async get(id: string, fresh = false): Promise<ApprovalState | undefined> {
    return (await this.states(fresh)).get(id);
  }

  async pending(): Promise<ApprovalState[]> {
    return [...(await this.states()).values()].filter((s) => s.status === 'pending');
  }

  async history(): Promise<ApprovalState[]> {
    return approvalHistory(await this.fold());
  }

  async request(entry: Omit<RequestEntry, 'type' | 'at'>): Promise<ApprovalState> {
    const now = await this.get(entry.id, true);
    // A refused retry re-opens a used-up or expired grant, not a denial (that takes an explicit request).
    const opens = !now || now.status === 'approved' || entry.reason !== undefined;
    if (opens) await this.append({ type: 'request', at: new Date().toISOString(), ...entry });
    const s = (await this.get(entry.id, true))!;
    if (opens) this.onRequested?.(s);
    return s;
  }

  async useGrant(id: string, now = Date.now()): Promise<string | undefined> {
    let s = await this.get(id);
    // A cached "no grant" may be stale (decided elsewhere a moment ago): look again before refusing.
    if (!s || s.status !== 'approved' || !grantUsable(s.grant, now)) s = await this.get(id, true);
    if (!s || s.status !== 'approved' || !grantUsable(s.grant, now)) return undefined;
    const grant = s.grant!;
    const taken = await this.recordUse({ type: 'use', id, grant: grant.grant, at: new Date(now).toISOString() }, grant.once);
    return taken ? grant.grant : undefined;
  }

  async approve(id: string, actor: Approver, terms: { once: boolean; durationMs?: number }): Promise<ApprovalState> {
    const s = await this.decidable(id, actor);
    const durationMs = terms.durationMs ?? s.request.maxGrantMs;
    if (durationMs > s.request.maxGrantMs)
      throw new ApprovalError(400, `the policy allows grants of at most ${Math.round(s.request.maxGrantMs / 1000)}s for ${id}`, 'BadRequest');
    const grant = { grant: 'g-' + randomBytes(6).toString('hex'), once: terms.once, expiresAt: new Date(Date.now() + durationMs).toISOString() };
    await this.append({ type: 'decision', id, at: new Date().toISOString(), actor: actor.user, decision: 'approve', grant });
    return (await this.get(id, true))!;
  }

  async deny(id: string, actor: Approver, reason: string): Promise<ApprovalState> {
    await this.decidable(id, actor);
    await this.append({ type: 'decision', id, at: new Date().toISOString(), actor: actor.user, decision: 'deny', reason });
    return (await this.get(id, true))!;
  }

  private async decidable(id: string, actor: Approver): Promise<ApprovalState> {
    const s = await this.get(id, true);
    if (!s) throw new ApprovalError(404, `no approval request ${id}`, 'NotFound');
    if (s.request.user === actor.user) throw new ApprovalError(403, `${actor.user} asked for ${id} and cannot decide on their own request`, 'Forbidden');
    if (!actor.groups.some((g) => s.request.approvers.includes(g))) {
      const who = s.request.approvers.length ? `members of ${s.request.approvers.join(', ')}` : 'nobody (the rule names no approvers)';
      throw new ApprovalError(403, `${actor.user} may not decide on ${id}: it can be approved by ${who}`, 'Forbidden');
    }
    if (s.status !== 'pending') throw new ApprovalError(409, `${id} is not pending (it is ${s.status})`, 'Conflict');
    return s;
  }
}

/**
 * The log in the data dir (approvals.ndjson). Every read first checks the
 * file's size and mtime and replays it when either changed, so several
 * kubetape processes sharing the data dir agree on approvals. Appends are
 * single short lines (O_APPEND), so writers do not interleave.
 */
export class FileApprovalStore extends LogApprovalStore {
  private cache: ApprovalFold = emptyFold();
  private mtimeMs = -1;
  private size = -1;

  constructor(readonly file: string) {
    super();
  }

  /** Replays the log when it changed since the last read. */
  refresh(): void {
    let st;
    try {
      st = statSync(this.file);
    } catch {
      this.cache = emptyFold();
      this.mtimeMs = this.size = -1;
      return;
    }
    if (st.mtimeMs === this.mtimeMs && st.size === this.size) return;
    const text = readFileSync(this.file, 'utf8');
    const fold = emptyFold();
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        foldEntry(fold, JSON.parse(line) as ApprovalEntry);
      } catch {
        // A torn last line from a crashed writer: skip it rather than lose every approval.
      }
    }
    this.cache = fold;
    this.mtimeMs = st.mtimeMs;
    this.size = Buffer.byteLength(text) === st.size ? st.size : -1;
  }

  protected async fold(): Promise<ApprovalFold> {
    this.refresh();
    return this.cache;
  }

  protected async append(e: ApprovalEntry): Promise<void> {
    appendFileSync(this.file, JSON.stringify(e) + '\n', { mode: 0o600 });
  }

  /** Checked and appended with no await in between, so two requests in this process cannot both take a one-time grant. */
  protected async recordUse(use: UseEntry, once: boolean): Promise<boolean> {
    this.refresh();
    const g = this.cache.current.get(use.id)?.grant;
    if (!g || g.grant !== use.grant || (once && g.uses > 0)) return false;
    appendFileSync(this.file, JSON.stringify(use) + '\n', { mode: 0o600 });
    return true;
  }

  close(): void {}
}
