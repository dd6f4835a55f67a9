// `hold:` on a require-approval rule: the request waits for a decision
// instead of being refused at once. The store re-reads its log (file or
// DynamoDB) when it changes, so a decision made by any kubetape process sharing it is seen.
import type { ApprovalStore } from './store.js';

export type HoldResult = 'approved' | 'denied' | 'timeout' | 'gone';
export const HOLD_POLL_MS = 250;

/** Waits until `id` is decided, `holdMs` passes, or `signal` aborts (the client went away). */
export function holdForDecision(store: ApprovalStore, id: string, holdMs: number, signal: AbortSignal, pollMs = HOLD_POLL_MS): Promise<HoldResult> {
  const deadline = Date.now() + holdMs;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const done = (r: HoldResult) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => done('gone');
    const check = async () => {
      let status: string | undefined;
      try {
        status = (await store.get(id))?.status;
      } catch {
        status = undefined; // unreadable for a moment: keep waiting until the deadline
      }
      if (finished) return; // the client left while the store was read
      if (status === 'approved') return done('approved');
      if (status === 'denied') return done('denied');
      if (Date.now() >= deadline) return done('timeout');
      timer = setTimeout(() => void check(), Math.min(pollMs, Math.max(0, deadline - Date.now())));
    };
    if (signal.aborted) return resolve('gone');
    signal.addEventListener('abort', onAbort);
    void check();
  });
}
