// A browser, as far as a login needs one: follows redirects, keeps cookies
// (by path), and submits the first form of a page with its hidden fields
// plus what the "user" types. Trusts the given CA for the IdP.
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

interface Cookie {
  name: string;
  value: string;
  path: string;
}

interface Page {
  url: URL;
  status: number;
  body: string;
  location?: string;
}

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e.toLowerCase()];
  });
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return m ? decode(m[1]) : undefined;
}

export class ScriptedBrowser {
  private cookies: Cookie[] = [];
  /** Every URL visited, in order. */
  readonly visited: string[] = [];

  constructor(private readonly ca: string) {}

  private send(url: URL, method: string, body?: string): Promise<Page> {
    const cookie = this.cookies
      .filter((c) => url.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const headers: Record<string, string> = { 'user-agent': 'kubetape-test-browser', accept: 'text/html' };
    if (cookie) headers['cookie'] = cookie;
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    this.visited.push(`${method} ${url.href}`);
    return new Promise((resolve, reject) => {
      const onRes = (res: import('node:http').IncomingMessage) => {
        for (const sc of res.headers['set-cookie'] ?? []) {
          const [pair, ...attrs] = sc.split(';');
          const eq = pair.indexOf('=');
          const name = pair.slice(0, eq).trim();
          const value = pair.slice(eq + 1).trim();
          const path =
            attrs
              .map((a) => a.trim())
              .find((a) => a.toLowerCase().startsWith('path='))
              ?.slice(5) ?? '/';
          const expired = attrs.some((a) => /expires=thu, 01 jan 1970/i.test(a.trim()));
          this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
          if (!expired && value) this.cookies.push({ name, value, path });
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ url, status: res.statusCode ?? 0, body: text, ...(res.headers.location ? { location: res.headers.location } : {}) }));
      };
      const req = url.protocol === 'https:' ? httpsRequest(url, { method, headers, ca: this.ca }, onRes) : httpRequest(url, { method, headers }, onRes);
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * Open `start` and keep going: redirects are followed, forms are submitted
   * (fields from `typed` fill or override theirs) until a page with no form,
   * or a redirect to `stopAt` (which is then fetched, as the browser would).
   */
  async run(start: string, typed: Record<string, string> = {}, o: { stopAt?: string; maxSteps?: number } = {}): Promise<Page> {
    let page = await this.send(new URL(start), 'GET');
    for (let step = 0; step < (o.maxSteps ?? 30); step++) {
      if (page.status >= 300 && page.status < 400 && page.location) {
        const next = new URL(page.location, page.url);
        page = await this.send(next, 'GET');
        if (o.stopAt && next.href.startsWith(o.stopAt)) return page;
        continue;
      }
      const form = /<form\b[^>]*>[\s\S]*?<\/form>/i.exec(page.body)?.[0];
      if (!form) return page;
      const open = /<form\b[^>]*>/i.exec(form)![0];
      const fields = new URLSearchParams();
      for (const input of form.match(/<input\b[^>]*>/gi) ?? []) {
        const name = attr(input, 'name');
        if (name) fields.set(name, attr(input, 'value') ?? '');
      }
      for (const [k, v] of Object.entries(typed)) if (fields.has(k)) fields.set(k, v);
      const action = new URL(attr(open, 'action') ?? page.url.href, page.url);
      page = await this.send(action, (attr(open, 'method') ?? 'get').toUpperCase(), fields.toString());
    }
    throw new Error(`the login did not finish; visited:\n${this.visited.join('\n')}`);
  }
}
