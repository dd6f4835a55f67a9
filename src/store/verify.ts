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
  /** Everything found wrong (when a store reports more than the first). */
  problems?: string[];
  /** Things worth saying that are not tampering (a live session, a torn last line after a crash). */
  notes: string[];
}

/**
 * What `kubetape verify --all` says about a whole store: every session found
 * (in the index, on disk, or named by another record), what is wrong beyond
 * any one session (the index's own chain, its checkpoints), and how far back
 * the evidence is anchored.
 */
export interface StoreVerifyReport {
  /** True when every session and the store's own records check out. */
  ok: boolean;
  sessions: VerifyReport[];
  /** What is wrong with the store's own records (the index chain, checkpoints, a deleted index). */
  problems: string[];
  notes: string[];
  /** How far back the evidence is anchored, in words (what a forger would need). */
  anchor?: string;
  /** What `problems` are about, as `verify` labels them (default "index"; the AWS store: "checkpoints"). */
  label?: string;
}
