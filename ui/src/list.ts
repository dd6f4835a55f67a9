// The session list: a search box whose filters become chips, one page of
// sessions at a time (cursor pagination keeps 10,000 sessions usable: the
// DOM never holds more than a page), live sessions marked, and the first
// page refreshed while it is shown.
import { getJson, API, type SessionPage, type SessionRow, type WhoAmI } from './api.js';
import { h, routeLink, clear } from './dom.js';
import { bytes, localTime } from './format.js';
import { parseSearch, formatSearch, searchParams, type ParsedSearch } from './search.js';

export const PAGE_SIZE = 100;
const REFRESH_MS = 5000;

export function guardrailBadges(s: SessionRow): HTMLElement {
  const g = s.guardrails;
  const box = h('span', { class: 'badges' });
  if (!g) return box;
  const add = (n: number, label: string, cls: string) => {
    if (n > 0) box.append(h('span', { class: `badge ${cls}`, title: label }, `${label} ${n}`));
  };
  add(g.denied, 'denied', 'bad');
  add(g.approvalRefused, 'needs approval', 'warn');
  add(g.typedRefused, 'typed refused', 'bad');
  add(g.granted, 'approved', 'ok');
  add(g.masked, 'masked', 'info');
  if (g.refusedBy.length) box.append(h('span', { class: 'rules', title: 'rules that refused' }, g.refusedBy.join(', ')));
  return box;
}

function row(s: SessionRow): HTMLTableRowElement {
  const what = s.command ?? s.execCommands?.[0] ?? s.userAgent ?? '';
  return h(
    'tr',
    { class: s.state === 'live' ? 'live' : '', data: { session: s.id } },
    h('td', null, routeLink(`/kubetape/ui/sessions/${encodeURIComponent(s.id)}`, localTime(s.startedAt))),
    h(
      'td',
      null,
      s.state === 'live' ? h('span', { class: 'badge live' }, 'live') : s.state === 'interrupted' ? h('span', { class: 'badge warn' }, 'interrupted') : '',
    ),
    h('td', { class: 'user' }, s.user),
    h('td', null, s.cluster),
    h('td', { class: 'command' }, what),
    h('td', null, s.verbs.join(', ')),
    h('td', null, s.namespaces.join(', ')),
    h('td', { class: 'num' }, s.requests),
    h('td', { class: 'num' }, s.errors || ''),
    h('td', { class: 'num' }, bytes(s.bytesIn + s.bytesOut)),
    h('td', null, guardrailBadges(s)),
  );
}

export function renderList(root: HTMLElement, me: WhoAmI): () => void {
  const params = new URLSearchParams(location.search);
  let search: ParsedSearch = parseSearch(params.get('q') ?? '');
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;
  let next: string | undefined;
  let timer: number | undefined;
  let stopped = false;

  const input = h('input', {
    type: 'search',
    class: 'search',
    placeholder: 'user:dev1@example.com namespace:prod verb:exec since:24h free text',
    ariaLabel: 'search sessions',
    value: formatSearch(search),
  });
  const chips = h('div', { class: 'chips', data: { testid: 'chips' } });
  const tbody = h('tbody');
  const status = h('div', { class: 'status' });
  const prev = h('button', { type: 'button', disabled: true }, '← newer');
  const more = h('button', { type: 'button', disabled: true }, 'older →');
  const pageLabel = h('span', { class: 'page' });
  const scope = h('p', { class: 'scope' }, me.viewer ? 'You may see every session.' : 'You see your own sessions (and those your approval rules name).');

  const renderChips = () => {
    clear(chips);
    for (const c of search.chips) {
      const x = h('button', { type: 'button', class: 'chip-x', ariaLabel: `remove ${c.key}` }, '×');
      x.addEventListener('click', () => {
        search = { chips: search.chips.filter((o) => o !== c), text: search.text };
        input.value = formatSearch(search);
        void apply();
      });
      chips.append(h('span', { class: 'chip', data: { key: c.key } }, h('b', null, `${c.key}:`), c.value, x));
    }
    if (search.text) chips.append(h('span', { class: 'chip text', data: { key: 'q' } }, h('b', null, 'text:'), search.text));
  };

  const load = async (quiet = false) => {
    const q = searchParams(search);
    q.set('limit', String(PAGE_SIZE));
    const c = cursors[page];
    if (c) q.set('cursor', c);
    if (!quiet) status.textContent = 'loading…';
    try {
      const r = await getJson<SessionPage>(`${API}/sessions?${q.toString()}`);
      if (stopped) return;
      next = r.nextCursor;
      tbody.replaceChildren(...r.items.map(row));
      status.textContent = r.items.length ? '' : 'No sessions match.';
      prev.disabled = page === 0;
      more.disabled = !next;
      pageLabel.textContent = `page ${page + 1} · ${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + r.items.length}`;
      root.dataset['loaded'] = String(Date.now());
    } catch (err) {
      status.textContent = `Could not list sessions: ${(err as Error).message}`;
    }
  };

  const apply = async () => {
    search = parseSearch(input.value);
    const u = new URL(location.href);
    if (input.value.trim()) u.searchParams.set('q', formatSearch(search));
    else u.searchParams.delete('q');
    history.replaceState(null, '', u.pathname + u.search);
    cursors.splice(1);
    page = 0;
    renderChips();
    await load();
  };

  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') void apply();
  });
  prev.addEventListener('click', () => {
    if (page > 0) {
      page--;
      void load();
    }
  });
  more.addEventListener('click', () => {
    if (!next) return;
    cursors[page + 1] = next;
    page++;
    void load();
  });

  const table = h(
    'table',
    { class: 'sessions' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ...['started', '', 'user', 'cluster', 'command', 'verbs', 'namespaces', 'requests', 'errors', 'bytes', 'guardrails'].map((t) => h('th', null, t)),
      ),
    ),
    tbody,
  );
  root.replaceChildren(
    h('h1', null, 'Sessions'),
    scope,
    h('div', { class: 'searchbar' }, input, h('button', { type: 'button', onClick: () => void apply() }, 'Search')),
    chips,
    status,
    table,
    h('div', { class: 'pager' }, prev, pageLabel, more),
  );
  renderChips();
  void load();
  // The newest page follows new and live sessions; older pages stay as they were read.
  const tick = () => {
    if (stopped) return;
    if (page === 0 && document.visibilityState === 'visible') void load(true);
    timer = window.setTimeout(tick, REFRESH_MS);
  };
  timer = window.setTimeout(tick, REFRESH_MS);
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
