// One session: its summary, whether its hash chain verifies (prominently),
// the terminal player for its exec/attach, and the timeline of every request.
// The timeline is read without bodies (one small line per event, so large
// sessions stream in); a request's bodies, stream and diff are fetched when
// it is opened.
import type { RecordEvent, RequestEvent, ResponseEvent, ResponseChunkEvent, StreamEvent } from '../../src/model/recording.js';
import { getJson, streamNdjson, sessionPath, API, type SessionDetail, type Verification, type Access } from './api.js';
import { h, clear, routeLink, visibleControls } from './dom.js';
import { bytes, duration, localTime, prettyBody, canonical, bodyBytes, asText, hexDump } from './format.js';
import { lineDiff } from './diff.js';
import { guardrailBadges } from './list.js';
import { renderPlayer, type PlayerHandle } from './player.js';
import { renderConnections, renderLanes } from './streams.js';
import { bodyBlock, headersTable } from './bodies.js';
import { isDecoded, renderMcpMessages, type DecodedEvent } from './decoded.js';
import { renderLive } from './live.js';

interface Exchange {
  request: RequestEvent;
  response?: ResponseEvent;
}

const TIMELINE_PAGE = 500;

export function isTerminal(r: RequestEvent): boolean {
  return r.attrs.subresource === 'exec' || r.attrs.subresource === 'attach';
}

function resourceOf(r: RequestEvent): string {
  const a = r.attrs;
  const res = a.resource ? (a.subresource ? `${a.resource}/${a.subresource}` : a.resource) : r.uri.split('?')[0];
  return [a.namespace, res, a.name].filter(Boolean).join(' · ');
}

function policyBadge(r: RequestEvent): HTMLElement | string {
  const p = r.policy;
  if (!p) return '';
  const granted = p.action === 'require-approval' && p.approval?.grant;
  const cls = p.action === 'deny' || (p.action === 'require-approval' && !granted) ? 'bad' : p.action === 'mask' ? 'info' : 'ok';
  const label = p.action === 'require-approval' ? (granted ? 'approved' : 'needs approval') : p.action;
  return h('span', { class: `badge ${cls}`, title: `rule ${p.index}: ${p.rule}` }, `${label} · ${p.rule}`);
}

function statusCell(x: Exchange): HTMLElement {
  const s = x.response?.status;
  return h('td', { class: `status ${s === undefined ? 'pending' : s >= 400 ? 'bad' : 'ok'}` }, s === undefined ? '…' : String(s));
}

export function renderSession(root: HTMLElement, id: string): () => void {
  const cleanups: (() => void)[] = [];
  const head = h('div', { class: 'session-head' }, 'loading…');
  const verify = h('div', { class: 'verification' });
  const terminal = h('section', { class: 'terminal-box' });
  const live = h('section', { class: 'live-box' });
  const tbody = h('tbody');
  const timelineNote = h('p', { class: 'hint' });
  const moreBtn = h('button', { type: 'button' }, 'show more requests');
  const accesses = h('section', { class: 'accesses' });
  moreBtn.hidden = true;
  root.replaceChildren(
    h('p', null, routeLink('/kubetape/ui/', '← sessions')),
    verify,
    head,
    live,
    terminal,
    h('h2', null, 'Requests'),
    timelineNote,
    h(
      'table',
      { class: 'timeline' },
      h(
        'thead',
        null,
        h('tr', null, ...['#', 'time', 'method', 'verb', 'resource', 'status', 'duration', 'in', 'out', 'guardrail'].map((t) => h('th', null, t))),
      ),
      tbody,
    ),
    moreBtn,
    accesses,
  );

  const exchanges = new Map<number, Exchange>();
  const order: number[] = [];
  let shown = 0;
  let player: PlayerHandle | undefined;
  cleanups.push(() => player?.dispose());

  const rowFor = (x: Exchange): HTMLTableRowElement => {
    const r = x.request;
    const tr = h(
      'tr',
      {
        class: `req ${r.policy && (r.policy.action === 'deny' || (r.policy.action === 'require-approval' && !r.policy.approval?.grant)) ? 'refused' : ''}`,
        data: { seq: String(r.seq) },
      },
      h('td', { class: 'num' }, r.seq),
      h('td', null, new Date(r.time).toLocaleTimeString()),
      h('td', null, r.method),
      h('td', null, r.attrs.verb + (r.streaming ? ' (stream)' : '')),
      h('td', { class: 'resource', title: r.uri }, resourceOf(r), r.exec ? h('code', null, ` ${r.exec.command.join(' ')}`) : ''),
      statusCell(x),
      h('td', { class: 'num' }, duration(x.response?.durationMs)),
      h('td', { class: 'num' }, bytes(x.response?.bytesIn)),
      h('td', { class: 'num' }, bytes(x.response?.bytesOut)),
      h('td', null, policyBadge(r)),
    );
    tr.addEventListener('click', () => toggleDetail(tr, r.seq));
    return tr;
  };

  const showMore = () => {
    const frag = document.createDocumentFragment();
    for (const seq of order.slice(shown, shown + TIMELINE_PAGE)) frag.append(rowFor(exchanges.get(seq)!));
    shown = Math.min(order.length, shown + TIMELINE_PAGE);
    tbody.append(frag);
    moreBtn.hidden = shown >= order.length;
    timelineNote.textContent = `${order.length} requests${shown < order.length ? `, ${shown} shown` : ''}; open one for its bodies.`;
  };
  moreBtn.addEventListener('click', showMore);

  const toggleDetail = (tr: HTMLTableRowElement, seq: number) => {
    const next = tr.nextElementSibling;
    if (next instanceof HTMLTableRowElement && next.classList.contains('detail')) {
      next.remove();
      return;
    }
    const cell = h('td', { class: 'detail-cell' }, 'loading…');
    cell.colSpan = 10;
    tr.after(h('tr', { class: 'detail', data: { detail: String(seq) } }, cell));
    void renderDetail(cell, id, seq, (s) => void openPlayer(s));
  };

  const openPlayer = async (seq?: number) => {
    player?.dispose();
    const x = seq !== undefined ? exchanges.get(seq) : undefined;
    const title =
      seq === undefined
        ? 'Terminal · every exec and attach of the session'
        : `Terminal · request ${seq}${x?.request.exec ? ` · ${x.request.exec.command.join(' ')}` : ''}`;
    terminal.replaceChildren(h('h2', null, title));
    const box = h('div', { class: 'player', data: { seq: seq === undefined ? 'all' : String(seq) } }, 'loading the recording…');
    terminal.append(box);
    try {
      player = await renderPlayer(box, id, seq);
    } catch (err) {
      box.textContent = `Could not load the terminal recording: ${(err as Error).message}`;
      box.classList.add('player-error');
    }
    terminal.scrollIntoView({ block: 'nearest' });
  };

  // An ended session with an exec or attach opens on the player: its
  // recording (the cast) is fetched first, the timeline and the verification
  // once it shows, since all come from the same server and a long exec's
  // timeline is long too. A live
  // session opens on the timeline and the live view; an exec of it that has
  // finished plays once its response is seen.
  let playing = false;
  const play = (seq?: number) => {
    if (playing) return Promise.resolve();
    playing = true;
    return openPlayer(seq);
  };
  // The summary first, without the hash chain: its first walk over an hour-long exec takes most of
  // a second, and the player (or the timeline) should not wait for it. The verification follows.
  const detailP = getJson<SessionDetail>(`${sessionPath(id)}?verify=false`);
  const showVerification = async () => {
    let v: Verification;
    try {
      const d = await getJson<SessionDetail>(sessionPath(id));
      if (!d.verification) throw new Error('the server sent no verification');
      v = d.verification;
    } catch (err) {
      verify.className = 'verification bad';
      verify.dataset['verified'] = 'unknown';
      verify.replaceChildren(h('strong', null, `✘ Could not check the hash chain: ${(err as Error).message}`));
      return;
    }
    verify.className = `verification ${v.ok ? 'ok' : 'bad'}`;
    verify.dataset['verified'] = String(v.ok);
    verify.replaceChildren(
      h('strong', null, v.ok ? '✔ Recording verified: the hash chain is intact.' : '✘ Recording does NOT verify: it may have been altered or cut.'),
      v.problems.length ? h('ul', null, ...v.problems.map((p) => h('li', null, p))) : '',
    );
  };
  const loadTimeline = async (live: boolean) => {
    try {
      // Only requests and responses: an hour-long exec's stream events (100,000 of them) come through /cast for the player.
      await streamNdjson(`${sessionPath(id)}/events?bodies=false&types=request,response`, (ev: RecordEvent) => {
        if (ev.type === 'request') {
          exchanges.set(ev.seq, { request: ev });
          order.push(ev.seq);
          if (shown < TIMELINE_PAGE && order.length <= TIMELINE_PAGE) {
            tbody.append(rowFor(exchanges.get(ev.seq)!));
            shown++;
          }
        } else if (ev.type === 'response') {
          const x = exchanges.get(ev.seq);
          if (!x) return;
          x.response = ev;
          const tr = tbody.querySelector(`tr[data-seq="${ev.seq}"]`);
          if (tr) tr.replaceWith(rowFor(x));
          if (live && isTerminal(x.request)) void play(ev.seq);
        }
      });
    } catch (err) {
      timelineNote.textContent = `Could not read the events: ${(err as Error).message}`;
    }
    moreBtn.hidden = shown >= order.length;
    timelineNote.textContent = `${order.length} requests${shown < order.length ? `, ${shown} shown` : ''}; open one for its bodies.`;
    root.dataset['timeline'] = 'loaded';
  };

  void (async () => {
    let detail: SessionDetail;
    try {
      detail = await detailP;
    } catch (err) {
      head.textContent = `Could not open the session: ${(err as Error).message}`;
      root.dataset['timeline'] = 'loaded';
      return;
    }
    const s = detail.summary;
    verify.className = 'verification pending';
    verify.replaceChildren(h('strong', null, '… checking the hash chain'));
    clear(head);
    head.append(
      h('h1', null, 'Session ', h('code', null, s.id), s.state === 'live' ? h('span', { class: 'badge live' }, 'live') : ''),
      h(
        'dl',
        null,
        ...(
          [
            ['user', s.user],
            ['groups', s.groups.join(', ')],
            ['cluster', s.cluster],
            ['command', s.command ?? ''],
            ['client', s.userAgent ?? ''],
            ['source', s.source],
            ['started', localTime(s.startedAt)],
            ['ended', s.endedAt ? localTime(s.endedAt) : s.state],
            ['requests', `${s.requests} (${s.errors} errors)`],
            ['bytes', `${bytes(s.bytesIn)} in, ${bytes(s.bytesOut)} out`],
          ] as [string, string][]
        ).flatMap(([k, val]) => [h('dt', null, k), h('dd', { data: { field: k } }, val)]),
        h('dt', null, 'guardrails'),
        h('dd', null, guardrailBadges(s)),
      ),
    );
    if (s.state === 'live') cleanups.push(renderLive(live, id));
    else if (s.resources.some((r) => r === 'pods/exec' || r === 'pods/attach')) {
      // The verification and the timeline wait for the player's first screen: on a recording nobody
      // has opened yet each reads the whole file, and the segment the player fetches next would
      // queue behind them.
      await play();
      await player?.ready;
    }
    const verified = showVerification();
    await loadTimeline(s.state === 'live');
    await verified;
    void renderAccesses(accesses, id);
  })();
  return () => cleanups.forEach((c) => c());
}

async function renderAccesses(box: HTMLElement, id: string): Promise<void> {
  try {
    const r = await getJson<{ items: Access[] }>(`${API}/accesses?session=${encodeURIComponent(id)}&limit=50`);
    box.replaceChildren(
      h('h2', null, 'Who read this recording'),
      r.items.length
        ? h('ul', { class: 'access-list' }, ...r.items.map((a) => h('li', null, `${localTime(a.time)} · ${a.user} · ${a.action}`)))
        : h('p', null, 'No reads recorded yet.'),
    );
  } catch {
    box.replaceChildren();
  }
}

function diffBlock(req: RequestEvent, resp: ResponseEvent | undefined): HTMLElement | string {
  if (!req.body || !resp?.body || resp.status >= 400) return '';
  const a = prettyBody(req.body);
  const b = prettyBody(resp.body);
  if (!('value' in a) || !('value' in b) || a.value === undefined || b.value === undefined) return '';
  const lines = lineDiff(canonical(a.value), canonical(b.value));
  if (!lines) return h('p', { class: 'hint' }, 'too large to diff');
  const pre = h('pre', { class: 'diff' });
  for (const l of lines) pre.append(h('span', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same' }, `${l.op} ${visibleControls(l.text)}\n`));
  return h('div', { class: 'body diff-box' }, h('h4', null, `what was sent (−) against what the cluster returned (+)`), pre);
}

function chunksBlock(chunks: ResponseChunkEvent[], truncated: boolean | undefined): HTMLElement {
  const list = h('ol', { class: 'chunks' });
  for (const c of chunks.slice(0, 2000)) {
    const raw = bodyBytes(c);
    const t = asText(raw);
    list.append(h('li', null, h('span', { class: 't' }, `+${c.offsetMs} ms `), h('pre', null, t === undefined ? hexDump(raw) : visibleControls(t))));
  }
  return h(
    'div',
    { class: 'body stream' },
    h('h4', null, `stream as it flowed · ${chunks.length} pieces${truncated ? ' · cut at the recording limit' : ''}`),
    chunks.length > 2000 ? h('p', { class: 'hint' }, `first 2000 of ${chunks.length} shown`) : '',
    list,
  );
}

async function renderDetail(cell: HTMLElement, id: string, seq: number, play: (seq: number) => void): Promise<void> {
  let req: RequestEvent | undefined;
  let resp: ResponseEvent | undefined;
  const chunks: ResponseChunkEvent[] = [];
  const streams: StreamEvent[] = [];
  const decoded: DecodedEvent[] = [];
  try {
    await streamNdjson(`${sessionPath(id)}/events?from=${seq}&to=${seq}&bodies=true`, (ev) => {
      if (isDecoded(ev)) {
        if (ev.seq === seq) decoded.push(ev);
      } else if (ev.type === 'request' && ev.seq === seq) req = ev;
      else if (ev.type === 'response' && ev.seq === seq) resp = ev;
      else if (ev.type === 'response.chunk' && ev.seq === seq) chunks.push(ev);
      else if (ev.type === 'stream' && ev.seq === seq) streams.push(ev);
    });
  } catch (err) {
    cell.textContent = `Could not read request ${seq}: ${(err as Error).message}`;
    return;
  }
  if (!req) {
    cell.textContent = `request ${seq} is not in the recording`;
    return;
  }
  const r = req;
  const parts: (HTMLElement | string)[] = [h('p', { class: 'uri' }, h('code', null, `${r.method} ${r.uri}`))];
  if (r.policy) {
    const p = r.policy;
    parts.push(
      h(
        'p',
        { class: 'policy' },
        policyBadge(r),
        ` rule #${p.index} “${p.rule}”`,
        p.approval ? ` · approval ${p.approval.id}${p.approval.grant ? ` · grant ${p.approval.grant}` : ' · not granted'}` : '',
      ),
    );
  }
  if (r.impersonation) parts.push(h('p', null, `asked to act as ${r.impersonation.as.user} (${r.impersonation.as.groups.join(', ')})`));
  if (resp?.error) parts.push(h('p', { class: 'bad' }, `ended: ${resp.error}`));
  if (resp?.typed) parts.push(h('p', { class: 'bad' }, `typed line refused by ${resp.typed.rule}: `, h('code', null, visibleControls(resp.typed.line))));
  if (resp?.exitCode !== undefined) parts.push(h('p', null, `exit code ${resp.exitCode}`));
  parts.push(h('details', null, h('summary', null, 'request headers'), headersTable(Object.entries(r.headers))));
  if (isTerminal(r)) {
    const btn = h('button', { type: 'button', class: 'play' }, '▶ play in the terminal player');
    btn.addEventListener('click', (ev) => {
      ev.stopPropagation();
      play(seq);
    });
    parts.push(btn);
    if (r.exec && !r.exec.tty) parts.push(renderLanes(streams));
  } else if (r.attrs.subresource === 'portforward') {
    parts.push(renderConnections(streams, decoded));
  } else {
    parts.push(h('div', { class: 'bodies' }, bodyBlock('request body', r.body), resp?.body || !r.streaming ? bodyBlock('response body', resp?.body) : ''));
    if (r.method === 'PATCH' || r.method === 'PUT' || (r.method === 'POST' && r.attrs.verb === 'create')) parts.push(diffBlock(r, resp));
    if (r.streaming || chunks.length) parts.push(chunksBlock(chunks, resp?.truncated));
    // MCP through a service or pod proxy: the messages kubetape recognised in the bodies.
    const mcp = decoded.filter((e) => e.type === 'mcp.message');
    if (mcp.length) parts.push(renderMcpMessages(mcp));
  }
  cell.replaceChildren(...parts);
}
