// Small order statistics for latency samples. Nearest-rank percentiles: with
// a few thousand samples interpolation changes nothing worth reporting.

/** The p-th percentile (0 < p <= 100) of `samples`, nearest-rank; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Rounds for display and JSON; keeps NaN/Infinity out of JSON as null. */
export function round(n: number, digits: number): number | null {
  if (!Number.isFinite(n)) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
