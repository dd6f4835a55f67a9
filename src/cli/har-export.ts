// `kubetape export ID --format har`: the HTTP exchanges decoded inside the
// session's port-forwards as HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/),
// which browser developer tools and HAR viewers open. Bodies are what the
// recording kept (masked, cut at maxBodyBytes: the entry's comment says so);
// credential headers read as recorded ([masked]).
import type { HttpExchangeEvent, RecordedBody } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';
import { resolveBodyRefs } from '../record/decode/body-refs.js';

interface HarHeader {
  name: string;
  value: string;
}

export async function harOf(store: RecordingStore, id: string, o: { seq?: number; connection?: number; version: string }): Promise<object> {
  const starts = new Map<number, number>();
  const entries: object[] = [];
  for await (const ev of resolveBodyRefs(() => store.readSession(id))) {
    if (ev.type === 'request') starts.set(ev.seq, Date.parse(ev.time));
    if (ev.type !== 'http.exchange') continue;
    if (o.seq !== undefined && ev.seq !== o.seq) continue;
    if (o.connection !== undefined && ev.connection !== o.connection) continue;
    entries.push(entry(ev, (starts.get(ev.seq) ?? 0) + ev.offsetMs));
  }
  return {
    log: {
      version: '1.2',
      creator: { name: 'kubetape', version: o.version },
      pages: [],
      entries,
      comment: `kubetape session ${id}: HTTP decoded inside port-forwards`,
    },
  };
}

function entry(x: HttpExchangeEvent, startMs: number): object {
  const headers = (h: Array<[string, string]>): HarHeader[] => h.map(([name, value]) => ({ name, value }));
  const host = x.request.headers.find(([n]) => n.toLowerCase() === 'host')?.[1] ?? `localhost${x.port !== undefined ? `:${x.port}` : ''}`;
  const url = /^https?:\/\//i.test(x.request.target) ? x.request.target : `http://${host}${x.request.target.startsWith('/') ? '' : '/'}${x.request.target}`;
  let query: HarHeader[];
  try {
    query = [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    query = [];
  }
  const notes: string[] = [`port-forward seq ${x.seq}, connection ${x.connection}, exchange ${x.index}`];
  if (x.request.body?.truncated || x.response?.body?.truncated) notes.push('a body was cut at recording.maxBodyBytes');
  if (x.incomplete) notes.push(`the connection ended before the ${x.incomplete} was complete`);
  const request: Record<string, unknown> = {
    method: x.request.method,
    url,
    httpVersion: x.request.version,
    cookies: [],
    headers: headers(x.request.headers),
    queryString: query,
    headersSize: -1,
    bodySize: x.request.body?.size ?? 0,
  };
  if (x.request.body) request['postData'] = { mimeType: x.request.body.contentType ?? '', text: bodyText(x.request.body) };
  const rs = x.response;
  const response = rs
    ? {
        status: rs.status,
        statusText: rs.reason,
        httpVersion: rs.version,
        cookies: [],
        headers: headers(rs.headers),
        content: content(rs.body),
        redirectURL: rs.headers.find(([n]) => n.toLowerCase() === 'location')?.[1] ?? '',
        headersSize: -1,
        bodySize: rs.body?.size ?? 0,
      }
    : {
        status: 0,
        statusText: '',
        httpVersion: x.request.version,
        cookies: [],
        headers: [],
        content: { size: 0, mimeType: '' },
        redirectURL: '',
        headersSize: -1,
        bodySize: -1,
      };
  const time = x.durationMs ?? 0;
  return {
    startedDateTime: new Date(startMs).toISOString(),
    time,
    request,
    response,
    cache: {},
    timings: { send: 0, wait: time, receive: 0 },
    connection: String(x.connection),
    comment: notes.join('; '),
  };
}

function content(b: RecordedBody | undefined): object {
  if (!b) return { size: 0, mimeType: '' };
  const c: Record<string, unknown> = { size: b.size, mimeType: b.contentType ?? '' };
  if (b.redacted) return c;
  c['text'] = b.data;
  if (b.encoding === 'base64') c['encoding'] = 'base64';
  return c;
}

function bodyText(b: RecordedBody): string {
  if (b.redacted) return '';
  return b.encoding === 'base64' ? Buffer.from(b.data, 'base64').toString('latin1') : b.data;
}
