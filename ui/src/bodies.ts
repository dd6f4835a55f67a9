// A recorded body and a header list, as the session view and the decoded
// port-forward traffic show them: the body pretty-printed when it is JSON or
// YAML, hex when it is binary, control characters made visible, and every
// value set as text.
import type { RecordedBody } from '../../src/model/recording.js';
import { h, visibleControls } from './dom.js';
import { bytes, prettyBody } from './format.js';

export function headersTable(headers: [string, string][]): HTMLElement {
  return h('table', { class: 'headers' }, h('tbody', null, ...headers.map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, v)))));
}

export function bodyBlock(title: string, b: RecordedBody | undefined): HTMLElement {
  if (!b) return h('div', { class: 'body none' }, h('h4', null, title), h('p', null, 'no body'));
  if (b.redacted) return h('div', { class: 'body' }, h('h4', null, title), h('p', { class: 'badge info' }, `not stored in clear (${b.redacted})`));
  const p = prettyBody(b);
  return h(
    'div',
    { class: 'body', data: { body: title } },
    h('h4', null, `${title} · ${bytes(b.size)}${b.truncated ? ' · truncated' : ''} · ${p.kind}`),
    h('pre', { class: `code ${p.kind}` }, p.kind === 'binary' ? p.text : visibleControls(p.text)),
  );
}
