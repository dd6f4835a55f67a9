// The kubetape console: a small router over /kubetape/ui/ paths. Who the
// viewer is comes from whoami; without a login the API answers 401 and the
// page sends the browser to the login (and back here).
import { getJson, postJson, setCsrf, loginUrl, API, ApiError, type WhoAmI } from './api.js';
import { h, routeLink, setNavigator } from './dom.js';
import { renderList } from './list.js';
import { renderSession } from './session.js';
import { renderApprovals } from './approvals.js';

const BASE = '/kubetape/ui';

let cleanup: (() => void) | undefined;

function route(main: HTMLElement, me: WhoAmI): void {
  cleanup?.();
  cleanup = undefined;
  window.scrollTo(0, 0);
  const path = location.pathname;
  const m = /^\/kubetape\/ui\/sessions\/([^/]+)\/?$/.exec(path);
  main.dataset['page'] = m ? 'session' : path.startsWith(`${BASE}/approvals`) ? 'approvals' : 'sessions';
  if (m) cleanup = renderSession(main, decodeURIComponent(m[1]));
  else if (path.startsWith(`${BASE}/approvals`)) cleanup = renderApprovals(main, me);
  else cleanup = renderList(main, me);
}

async function start(): Promise<void> {
  const app = document.getElementById('app')!;
  let me: WhoAmI;
  try {
    me = await getJson<WhoAmI>(`${API}/whoami`);
  } catch (err) {
    if (err instanceof ApiError && err.code === 401) {
      app.replaceChildren(h('div', { class: 'login' }, h('h1', null, 'kubetape console'), h('p', null, 'You are not logged in.'), loginLink()));
      return;
    }
    app.replaceChildren(h('p', { class: 'bad' }, `The console could not reach kubetape: ${(err as Error).message}`));
    return;
  }
  setCsrf(me.csrfToken);
  const main = h('main');
  const logout = h('button', { type: 'button', class: 'logout' }, 'log out');
  logout.addEventListener('click', () => {
    void postJson(`${API}/logout`, {}).finally(() => location.assign(`${BASE}/`));
  });
  app.replaceChildren(
    h(
      'header',
      null,
      h('span', { class: 'brand' }, 'kubetape'),
      h('nav', null, routeLink(`${BASE}/`, 'Sessions'), routeLink(`${BASE}/approvals`, 'Approvals')),
      h(
        'span',
        { class: 'me', data: { testid: 'me' } },
        me.user,
        me.viewer ? h('span', { class: 'badge info' }, 'viewer') : '',
        me.approver ? h('span', { class: 'badge info' }, 'approver') : '',
      ),
      logout,
    ),
    main,
  );
  setNavigator((p) => {
    history.pushState(null, '', p);
    route(main, me);
  });
  window.addEventListener('popstate', () => route(main, me));
  route(main, me);
}

function loginLink(): HTMLElement {
  const a = h('a', { class: 'button' }, 'Log in');
  a.href = loginUrl();
  return h('p', null, a, ' — or run ', h('code', null, 'kubetape console'), ' for a one-time link.');
}

void start();
