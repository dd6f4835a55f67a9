// Building the page: every node is made with createElement and every piece of
// text set with textContent, never parsed as HTML. Recorded content (bodies,
// names, paths, headers, terminal output) is hostile; as text it cannot become
// markup, script or a link. Links are made only to the console's own routes.

export type Child = Node | string | number | null | undefined | false;

export interface Attrs {
  class?: string;
  title?: string;
  /** data-* attributes (test hooks, state). */
  data?: Record<string, string>;
  type?: string;
  placeholder?: string;
  value?: string;
  name?: string;
  disabled?: boolean;
  checked?: boolean;
  ariaLabel?: string;
  role?: string;
  onClick?: (ev: MouseEvent) => void;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    if (attrs.class) el.className = attrs.class;
    if (attrs.title !== undefined) el.title = attrs.title;
    if (attrs.data) for (const [k, v] of Object.entries(attrs.data)) el.dataset[k] = v;
    if (attrs.type !== undefined) el.setAttribute('type', attrs.type);
    if (attrs.placeholder !== undefined) el.setAttribute('placeholder', attrs.placeholder);
    if (attrs.name !== undefined) el.setAttribute('name', attrs.name);
    if (attrs.value !== undefined) (el as unknown as HTMLInputElement).value = attrs.value;
    if (attrs.disabled) (el as unknown as HTMLButtonElement).disabled = true;
    if (attrs.checked) (el as unknown as HTMLInputElement).checked = true;
    if (attrs.ariaLabel !== undefined) el.setAttribute('aria-label', attrs.ariaLabel);
    if (attrs.role !== undefined) el.setAttribute('role', attrs.role);
    if (attrs.onClick) (el as HTMLElement).addEventListener('click', attrs.onClick);
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** A link to one of the console's own routes (the path is built by us, never taken from a recording). */
export function routeLink(path: string, ...children: Child[]): HTMLAnchorElement {
  const a = h('a', null, ...children);
  a.href = path;
  a.addEventListener('click', (ev) => {
    if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(path);
  });
  return a;
}

type Navigator = (path: string) => void;
let navigator: Navigator = (p) => (location.href = p);
export function setNavigator(n: Navigator): void {
  navigator = n;
}
export function navigate(path: string): void {
  navigator(path);
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** Terminal and binary text shown outside the terminal renderer: control characters become visible symbols, never act. */
export function visibleControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (n === 0x1b) return '␛';
    if (n < 0x20) return String.fromCharCode(0x2400 + n);
    if (n === 0x7f) return '␡';
    return `\\x${n.toString(16)}`;
  });
}
