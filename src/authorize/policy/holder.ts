// The policy in force, reloaded when its file changes. A broken edit is
// logged and the last good policy stays in force: a typo must never drop
// every guardrail at once.
import { statSync, watchFile, unwatchFile } from 'node:fs';
import { loadPolicyFile } from './load.js';
import type { Policy } from './types.js';

export class PolicyHolder {
  private policy: Policy;
  private mtimeMs = 0;
  private size = -1;
  /** Bumped on every successful load; tests and logs use it. */
  generation = 1;
  /** The last reload error, cleared by a good reload. */
  lastError: string | undefined;

  private constructor(
    initial: Policy,
    private readonly file: string | undefined,
    private readonly log: (line: string) => void,
  ) {
    this.policy = initial;
  }

  /** A fixed policy (inline in the config). */
  static fixed(policy: Policy): PolicyHolder {
    return new PolicyHolder(policy, undefined, () => undefined);
  }

  /** Loads `file` (throws PolicyError when it is broken) and watches it for changes. */
  static fromFile(file: string, log: (line: string) => void, pollMs = 1000): PolicyHolder {
    const h = new PolicyHolder(loadPolicyFile(file), file, log);
    h.noteStat();
    watchFile(file, { interval: pollMs, persistent: false }, () => h.reload());
    return h;
  }

  get current(): Policy {
    return this.policy;
  }

  /** Re-reads the file when it changed; returns true when a new policy is in force. */
  reload(): boolean {
    if (!this.file) return false;
    let st;
    try {
      st = statSync(this.file);
    } catch (e) {
      this.fail(`cannot read ${this.file}: ${(e as Error).message}`);
      return false;
    }
    if (st.mtimeMs === this.mtimeMs && st.size === this.size) return false;
    this.mtimeMs = st.mtimeMs;
    this.size = st.size;
    try {
      this.policy = loadPolicyFile(this.file);
    } catch (e) {
      this.fail((e as Error).message);
      return false;
    }
    this.generation++;
    this.lastError = undefined;
    this.log(`kubetape: policy reloaded from ${this.file} (${this.policy.rules.length} rules)`);
    return true;
  }

  close(): void {
    if (this.file) unwatchFile(this.file);
  }

  private fail(message: string): void {
    this.lastError = message;
    this.log(`kubetape: policy NOT reloaded, the previous policy stays in force: ${message}`);
  }

  private noteStat(): void {
    try {
      const st = statSync(this.file!);
      this.mtimeMs = st.mtimeMs;
      this.size = st.size;
    } catch {
      // loadPolicyFile just read it; a vanished file shows up on the next reload.
    }
  }
}
