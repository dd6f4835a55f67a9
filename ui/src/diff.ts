// A line diff (longest common subsequence), for showing what an apply or
// patch sent next to what the cluster returned. Bounded: past MAX lines a
// side, it gives up rather than stall the page.
export type DiffLine = { op: ' ' | '-' | '+'; text: string };

const MAX = 4000;

export function lineDiff(a: string, b: string): DiffLine[] | undefined {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length > MAX || y.length > MAX) return undefined;
  // Trim the common head and tail first: most of an object is unchanged.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const n = xs.length;
  const m = ys.length;
  if (n * m > 4_000_000) return undefined;
  const L = new Array<Uint32Array>(n + 1);
  for (let i = 0; i <= n; i++) L[i] = new Uint32Array(m + 1);
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = xs[i] === ys[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out: DiffLine[] = x.slice(0, head).map((text) => ({ op: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (xs[i] === ys[j]) {
      out.push({ op: ' ', text: xs[i] });
      i++;
      j++;
    } else if (L[i + 1][j] >= L[i][j + 1]) out.push({ op: '-', text: xs[i++] });
    else out.push({ op: '+', text: ys[j++] });
  }
  while (i < n) out.push({ op: '-', text: xs[i++] });
  while (j < m) out.push({ op: '+', text: ys[j++] });
  for (const text of x.slice(x.length - tail)) out.push({ op: ' ', text });
  return out;
}
