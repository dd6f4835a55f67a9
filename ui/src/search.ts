// The session list's search box: `user:dev1@example.com namespace:prod
// verb:exec since:24h kubectl` becomes the list API's parameters (one chip
// each) plus free text for `q`. Values may be quoted: rule:"no exec".

export const FILTER_KEYS = ['user', 'cluster', 'since', 'verb', 'namespace', 'refused', 'rule', 'approved', 'state', 'kind', 'client'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

const ALIASES: Record<string, FilterKey> = { ns: 'namespace', person: 'user', by: 'user' };
const BOOLEAN: FilterKey[] = ['refused', 'approved'];

export interface Chip {
  key: FilterKey;
  value: string;
}

export interface ParsedSearch {
  chips: Chip[];
  /** Everything that is not a filter, for the API's free-text `q`. */
  text: string;
}

function tokens(input: string): string[] {
  const out: string[] = [];
  const re = /(\S+?:"[^"]*"?|"[^"]*"?|\S+)/g;
  for (const m of input.matchAll(re)) out.push(m[0]);
  return out;
}

const unquote = (s: string): string => (s.startsWith('"') ? s.slice(1, s.endsWith('"') && s.length > 1 ? -1 : undefined) : s);

export function parseSearch(input: string): ParsedSearch {
  const chips: Chip[] = [];
  const free: string[] = [];
  for (const tok of tokens(input)) {
    const i = tok.indexOf(':');
    const rawKey = i > 0 ? tok.slice(0, i).toLowerCase() : '';
    const key = (FILTER_KEYS as readonly string[]).includes(rawKey) ? (rawKey as FilterKey) : ALIASES[rawKey];
    if (key) {
      const value = unquote(tok.slice(i + 1));
      if (!value) continue;
      const existing = chips.findIndex((c) => c.key === key);
      if (existing >= 0) chips.splice(existing, 1);
      chips.push({ key, value: BOOLEAN.includes(key) ? (value === 'false' || value === 'no' ? 'false' : 'true') : value });
    } else free.push(unquote(tok));
  }
  return { chips, text: free.join(' ').trim() };
}

export function formatSearch(p: ParsedSearch): string {
  const q = (v: string) => (/[\s"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v);
  return [...p.chips.map((c) => `${c.key}:${q(c.value)}`), p.text].filter(Boolean).join(' ');
}

/** The list API's query string for a search (without limit and cursor). */
export function searchParams(p: ParsedSearch): URLSearchParams {
  const u = new URLSearchParams();
  for (const c of p.chips) {
    if (BOOLEAN.includes(c.key) && c.value !== 'true') continue;
    u.set(c.key, c.value);
  }
  if (p.text) u.set('q', p.text);
  return u;
}
