// A cache of values that expire, where concurrent misses for one key share a
// single load: a burst of kubectl requests from one person right after login
// costs one STS call, not twenty.
export interface Expiring<V> {
  value: V;
  /** After this instant (ms) the value is loaded again. */
  refreshAt: number;
}

export class SingleFlightCache<V> {
  private readonly entries = new Map<string, Expiring<V>>();
  private readonly inflight = new Map<string, Promise<V>>();
  /** Loads started (tests and metrics). */
  loads = 0;

  constructor(
    private readonly now: () => number = Date.now,
    /** Entries kept at most; the ones that expire first go (callers that leave leave stale entries behind). */
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string, load: () => Promise<Expiring<V>>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && this.now() < hit.refreshAt) return hit.value;
    let p = this.inflight.get(key);
    if (!p) {
      this.loads++;
      p = load()
        .then((e) => {
          this.entries.set(key, e);
          this.prune();
          return e.value;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Drop every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  private prune(): void {
    if (this.entries.size <= this.maxEntries) return;
    const now = this.now();
    for (const [k, e] of this.entries) if (e.refreshAt <= now) this.entries.delete(k);
    if (this.entries.size <= this.maxEntries) return;
    const byExpiry = [...this.entries].sort((a, b) => a[1].refreshAt - b[1].refreshAt);
    for (const [k] of byExpiry.slice(0, this.entries.size - this.maxEntries)) this.entries.delete(k);
  }
}
