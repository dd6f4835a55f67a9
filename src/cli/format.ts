// Small text helpers for the CLI's human output.

/** Render rows as aligned columns, like kubectl's tables. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** "1h", "30m", "2d", "90s" or an ISO timestamp, to a Date. */
export function parseSince(s: string, now = Date.now()): Date {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(s.trim());
  if (m) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now - Number(m[1]) * unit * 1000);
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`--since wants a duration like 90s, 30m, 1h, 2d, or a timestamp; got "${s}"`);
  return new Date(t);
}

/** Local time without the date when it is today: what a person scanning a list wants. */
export function shortTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}
