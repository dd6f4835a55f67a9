// A running session, read-only, from the API's Server-Sent Events (with bodies): requests
// as they are recorded, and exec output as text (escape sequences removed,
// other controls made visible: the live pane is not a terminal; the player
// plays the recording once the session has ended). Nothing is sent back.
import type { RecordEvent } from '../../src/model/recording.js';
import { sessionPath, streamNdjson } from './api.js';
import { h, visibleControls } from './dom.js';
import { bodyBytes } from './format.js';

const MAX_TEXT = 200_000;
// CSI, OSC (to BEL or ST), and two-byte escapes.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]/g;

export function stripEscapes(s: string): string {
  return s.replace(ESCAPES, '');
}

export function renderLive(box: HTMLElement, id: string): () => void {
  const state = h('span', { class: 'badge live', data: { testid: 'live-state' } }, 'connecting…');
  const out = h('pre', { class: 'live-output', data: { testid: 'live-output' } });
  const log = h('ol', { class: 'live-requests' });
  box.replaceChildren(
    h('h2', null, 'Live ', state),
    h('p', { class: 'hint' }, 'Read-only. The view lags the recording by at most the store’s flush interval.'),
    log,
    out,
  );
  const decoder = new TextDecoder();
  let text = '';
  const show = () => (out.textContent = visibleControls(stripEscapes(text).replace(/\r\n/g, '\n').replace(/\r/g, '')));
  // Should the live stream carry bodies as sizes only (a server that ignores
  // bodies=true), the output of the exec is read again, with bodies, while it
  // grows (at most once a second).

  let execSeq: number | undefined;
  let polling = false;
  let stopped = false;
  const poll = async () => {
    if (polling || stopped || execSeq === undefined) return;
    polling = true;
    let all = '';
    const d = new TextDecoder();
    try {
      await streamNdjson(`${sessionPath(id)}/events?from=${execSeq}&to=${execSeq}&bodies=true`, (ev) => {
        if (ev.type === 'stream' && (ev.channel === 'stdout' || ev.channel === 'stderr')) all += d.decode(bodyBytes(ev), { stream: true });
      });
      text = all.slice(-MAX_TEXT);
      show();
    } catch {
      // the next event tries again
    } finally {
      window.setTimeout(() => (polling = false), 1000);
    }
  };
  const es = new EventSource(`${sessionPath(id)}/live?bodies=true`);
  es.addEventListener('open', () => (state.textContent = 'live'));
  es.addEventListener('record', (m: MessageEvent<string>) => {
    let ev: RecordEvent;
    try {
      ev = JSON.parse(m.data) as RecordEvent;
    } catch {
      return;
    }
    if (ev.type === 'request') {
      log.append(h('li', null, `#${ev.seq} ${ev.method} ${ev.uri}`));
      if (ev.attrs.subresource === 'exec' || ev.attrs.subresource === 'attach') execSeq = ev.seq;
    } else if (ev.type === 'response') log.append(h('li', null, `#${ev.seq} → ${ev.status}`));
    else if (ev.type === 'stream' && (ev.channel === 'stdout' || ev.channel === 'stderr')) {
      if (ev.data === '' || (ev as { omitted?: boolean }).omitted) {
        execSeq ??= ev.seq;
        void poll();
        return;
      }
      text += decoder.decode(bodyBytes(ev), { stream: true });
      if (text.length > MAX_TEXT) text = text.slice(-MAX_TEXT);
      show();
    }
  });
  es.addEventListener('end', () => {
    void poll();
    state.textContent = 'ended';
    state.className = 'badge';
    es.close();
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) state.textContent = 'disconnected';
  });
  return () => {
    stopped = true;
    es.close();
  };
}
