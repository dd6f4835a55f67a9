// What `kubetape verify` says about one recording, whichever store holds it.
export interface VerifyReport {
  id: string;
  /** True when the whole recording checks out. */
  ok: boolean;
  /** live, ended, interrupted (or unknown when the session's own record is missing). */
  state: string;
  /** Chunks (AWS) or lines (local) checked. */
  chunks: number;
  events: number;
  /** The first thing found wrong: names the chunk, line or object. */
  problem?: string;
  /** Things worth saying that are not tampering (a live session, a torn last line after a crash). */
  notes: string[];
}
