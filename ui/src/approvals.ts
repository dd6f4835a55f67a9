// Approvals: what is pending (approve once, approve for a duration, or deny
// with a reason) and the history. The server applies the CLI's rules (an
// approver named by the rule, never one's own request) and its refusal is
// shown as it says.
import { getJson, postJson, API, type WhoAmI } from './api.js';
import { h } from './dom.js';
import { localTime } from './format.js';

interface ApprovalView {
  id: string;
  status: string;
  user: string;
  cluster: string;
  what: string;
  rule: string;
  approvers: string[];
  requestedAt: string;
  reason?: string;
  grant?: { kind?: string; expiresAt?: string; once?: boolean } & Record<string, unknown>;
  decidedBy?: string;
  decidedAt?: string;
  denyReason?: string;
}

const DURATIONS = ['10m', '30m', '1h', '4h'];

/** The rule's approvers are groups; the server checks again (and refuses anyone approving their own request). */
const approverOf = (a: ApprovalView, me: WhoAmI): boolean => a.approvers.some((g) => me.groups.includes(g));

function card(a: ApprovalView, me: WhoAmI, reload: () => void): HTMLElement {
  const msg = h('p', { class: 'msg', role: 'status' });
  const reason = h('input', { type: 'text', placeholder: 'reason for denying', ariaLabel: 'deny reason', class: 'reason' });
  const dur = h('select', { ariaLabel: 'duration' }, ...DURATIONS.map((d) => h('option', { value: d }, d)));
  const act = async (action: 'approve' | 'deny', body: unknown) => {
    msg.textContent = '…';
    try {
      await postJson(`${API}/approvals/${encodeURIComponent(a.id)}/${action}`, body);
      msg.textContent = action === 'approve' ? 'approved' : 'denied';
      reload();
    } catch (err) {
      msg.textContent = `refused: ${(err as Error).message}`;
      msg.className = 'msg bad';
    }
  };
  const once = h('button', { type: 'button', class: 'approve-once' }, 'approve once');
  once.addEventListener('click', () => void act('approve', { once: true }));
  const forDur = h('button', { type: 'button', class: 'approve-for' }, 'approve for');
  forDur.addEventListener('click', () => void act('approve', { duration: dur.value }));
  const deny = h('button', { type: 'button', class: 'deny' }, 'deny');
  deny.addEventListener('click', () => {
    if (!reason.value.trim()) {
      msg.textContent = 'a denial needs a reason';
      return;
    }
    void act('deny', { reason: reason.value });
  });
  const mine = a.user === me.user;
  return h(
    'div',
    { class: 'approval', data: { approval: a.id } },
    h('h3', null, a.what),
    h(
      'dl',
      null,
      h('dt', null, 'asked by'),
      h('dd', null, a.user),
      h('dt', null, 'cluster'),
      h('dd', null, a.cluster),
      h('dt', null, 'rule'),
      h('dd', null, a.rule),
      h('dt', null, 'approvers'),
      h('dd', null, a.approvers.join(', ')),
      h('dt', null, 'asked'),
      h('dd', null, localTime(a.requestedAt)),
      a.reason ? h('dt', null, 'their reason') : '',
      a.reason ? h('dd', null, a.reason) : '',
      h('dt', null, 'id'),
      h('dd', null, h('code', null, a.id)),
    ),
    mine ? h('p', { class: 'hint' }, 'This is your own request: someone else must approve it.') : '',
    mine || approverOf(a, me)
      ? h('div', { class: 'actions' }, once, forDur, dur, reason, deny)
      : h('p', { class: 'hint' }, `Only members of ${a.approvers.join(', ') || 'no group'} decide this.`),
    msg,
  );
}

export function renderApprovals(root: HTMLElement, me: WhoAmI): () => void {
  const pending = h('div', { class: 'pending' }, 'loading…');
  const history = h('tbody');
  let stopped = false;
  let shownKey: string | undefined;
  const load = async () => {
    try {
      const p = await getJson<{ items: ApprovalView[] }>(`${API}/approvals`);
      if (stopped) return;
      // What this person may decide first.
      const items = [...p.items].sort((x, y) => Number(approverOf(y, me) && y.user !== me.user) - Number(approverOf(x, me) && x.user !== me.user));
      // Redrawn only when what is pending changed: the refresh must not wipe a reason being typed.
      const key = items.map((a) => `${a.id}:${a.status}:${a.requestedAt}`).join(',');
      if (key !== shownKey) {
        shownKey = key;
        pending.replaceChildren(...(items.length ? items.map((a) => card(a, me, () => void load())) : [h('p', null, 'Nothing is waiting for an approval.')]));
      }
      const all = await getJson<{ items: ApprovalView[] }>(`${API}/approvals?all=true`);
      if (stopped) return;
      history.replaceChildren(
        ...all.items.map((a) =>
          h(
            'tr',
            { data: { approval: a.id } },
            h('td', null, localTime(a.requestedAt)),
            h('td', null, a.user),
            h('td', null, a.what),
            h('td', null, a.rule),
            h('td', { class: `status-${a.status}` }, a.status),
            h('td', null, a.decidedBy ?? ''),
            h('td', null, a.denyReason ?? (typeof a.grant?.expiresAt === 'string' ? `until ${localTime(a.grant.expiresAt)}` : '')),
          ),
        ),
      );
      root.dataset['loaded'] = String(Date.now());
    } catch (err) {
      pending.textContent = `Could not read approvals: ${(err as Error).message}`;
    }
  };
  root.replaceChildren(
    h('h1', null, 'Approvals'),
    me.approver ? '' : h('p', { class: 'hint' }, 'You are not named as an approver by any rule; you can still see your own requests.'),
    h('h2', null, 'Pending'),
    pending,
    h('h2', null, 'History'),
    h(
      'table',
      { class: 'history' },
      h('thead', null, h('tr', null, ...['asked', 'by', 'what', 'rule', 'status', 'decided by', 'detail'].map((t) => h('th', null, t)))),
      history,
    ),
  );
  void load();
  const timer = window.setInterval(() => void load(), 5000);
  return () => {
    stopped = true;
    window.clearInterval(timer);
  };
}
