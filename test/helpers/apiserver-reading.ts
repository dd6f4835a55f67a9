// How the Kubernetes API server reads a request target, written out
// independently of kubetape so the differential tests have an oracle that
// shares no code with what they test. Modelled on the Go sources:
//   net/http + net/url   url.ParseRequestURI (request line), url.ParseQuery
//   apiserver            endpoints/request.RequestInfoFactory.NewRequestInfo
//   apimachinery         Convert_Slice_string_To_bool (strings.EqualFold),
//                        fields.ParseSelector / RequiresExactMatch,
//                        path.IsValidPathSegmentName
// Strings here are byte strings (one char per byte, latin1), the way Go's
// strings hold what came off the wire; `bytesOf` turns a recorded JS string
// into the same form for comparison.

/** A JS string as the bytes kubetape would have written it (UTF-8), one char per byte. */
export function bytesOf(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** The request-target as a byte string: what a client puts on the wire for `target` (UTF-8 for non-ASCII). */
export function wireOf(target: string): string {
  return bytesOf(target);
}

export type GoUrl = { ok: true; path: string; rawQuery: string; absolute: boolean } | { ok: false; reason: string };

const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);

/** net/url unescape: '+' becomes a space only in query components; an invalid escape is an error. */
export function goUnescape(s: string, query: boolean): string | undefined {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '%') {
      if (!isHex(s[i + 1]) || !isHex(s[i + 2])) return undefined;
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === '+' && query) out += ' ';
    else out += c;
  }
  return out;
}

/** url.ParseRequestURI, as net/http applies it to the request line's target (a byte string). */
export function goParseRequestURI(raw: string): GoUrl {
  for (let i = 0; i < raw.length; i++) {
    const b = raw.charCodeAt(i);
    if (b < 0x20 || b === 0x7f) return { ok: false, reason: 'invalid control character in URL' };
  }
  if (raw === '') return { ok: false, reason: 'empty url' };
  if (raw === '*') return { ok: true, path: '*', rawQuery: '', absolute: false };
  // getScheme
  let scheme = '';
  let rest = raw;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ':') {
      if (i === 0) return { ok: false, reason: 'missing protocol scheme' };
      scheme = raw.slice(0, i).toLowerCase();
      rest = raw.slice(i + 1);
    }
    break;
  }
  let rawQuery = '';
  if (rest.endsWith('?') && rest.split('?').length === 2) rest = rest.slice(0, -1);
  else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (scheme !== '') return { ok: true, path: '', rawQuery, absolute: true }; // opaque
    return { ok: false, reason: 'invalid URI for request' };
  }
  let absolute = false;
  if (scheme !== '' && rest.startsWith('//')) {
    absolute = true;
    const slash = rest.indexOf('/', 2);
    rest = slash >= 0 ? rest.slice(slash) : '';
  }
  const path = goUnescape(rest, false);
  if (path === undefined) return { ok: false, reason: 'invalid URL escape' };
  return { ok: true, path, rawQuery, absolute };
}

/** url.ParseQuery: pairs split on '&'; a pair with ';' or a bad escape is dropped; empty pairs are skipped. */
export function goParseQuery(rawQuery: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const pair of rawQuery.split('&')) {
    if (pair.includes(';') || pair === '') continue;
    const eq = pair.indexOf('=');
    const k = goUnescape(eq >= 0 ? pair.slice(0, eq) : pair, true);
    const v = goUnescape(eq >= 0 ? pair.slice(eq + 1) : '', true);
    if (k === undefined || v === undefined) continue;
    const list = m.get(k) ?? [];
    list.push(v);
    m.set(k, list);
  }
  return m;
}

/** strings.EqualFold(v, "false") on a byte string holding UTF-8: simple Unicode folding ('ſ' U+017F folds to 's'). */
function equalFoldFalse(v: string): boolean {
  const s = Buffer.from(v, 'latin1').toString('utf8');
  return /^[fF][aA][lL][sS\u017f][eE]$/u.test(s) && !s.includes('\ufffd');
}

/** Convert_Slice_string_To_bool: absent false; "0" or EqualFold "false" false; anything else true. */
export function goBool(values: string[] | undefined): boolean {
  if (!values || values.length === 0) return false;
  const v = values[0];
  return !(v === '0' || equalFoldFalse(v));
}

/** The fallback in NewRequestInfo when ListOptions do not decode: strings.ToLower, not EqualFold. */
function goWatchFallback(values: string[] | undefined): boolean {
  if (!values || values.length === 0) return false;
  const lower = Buffer.from(values[0], 'latin1').toString('utf8').toLowerCase();
  return !(lower === 'false' || lower === '0');
}

const isGoInt64 = (s: string): boolean => /^[+-]?[0-9]+$/.test(s) && BigInt(s) <= 2n ** 63n - 1n && BigInt(s) >= -(2n ** 63n);

/** fields.UnescapeValue: only \\ \, \= are escapes; an unescaped , or = is an error. */
function unescapeFieldValue(s: string): string | undefined {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return inSlash ? undefined : out;
}

type FieldTerm = { field: string; op: '!=' | '==' | '='; value: string };

/** fields.ParseSelector: terms split on unescaped ',', sorted, each split at the first operator. Undefined on error. */
export function goParseFieldSelector(sel: string): FieldTerm[] | undefined {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < sel.length; i++) {
    if (sel[i] === '\\') i++;
    else if (sel[i] === ',') {
      parts.push(sel.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(sel.slice(start));
  parts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // Go sorts by bytes; these are byte strings
  const terms: FieldTerm[] = [];
  for (const part of parts) {
    if (part === '') continue;
    let found: FieldTerm | undefined;
    // splitTerm does not skip escapes: the first operator anywhere splits the term.
    outer: for (let i = 0; i < part.length; i++) {
      for (const op of ['!=', '==', '='] as const) {
        if (part.startsWith(op, i)) {
          const value = unescapeFieldValue(part.slice(i + op.length));
          if (value === undefined) return undefined;
          found = { field: part.slice(0, i), op, value };
          break outer;
        }
      }
    }
    if (!found) return undefined;
    terms.push(found);
  }
  return terms;
}

/**
 * labels.Parse is not modelled in full: a selector outside this simple
 * grammar makes the oracle refuse to answer, so a corpus entry can never
 * silently rely on a reading the oracle does not know.
 */
function labelSelectorParses(sel: string): boolean | undefined {
  if (sel === '') return true;
  const name = '[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?(/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?';
  const value = '([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?';
  const term = new RegExp(`^\\s*(!?${name}|${name}\\s*(=|==|!=)\\s*${value}|${name}\\s+(in|notin)\\s*\\(\\s*${value}(\\s*,\\s*${value})*\\s*\\))\\s*$`);
  if (sel.split(',').every((t) => term.test(t))) return true;
  return undefined;
}

export interface GoRequestInfo {
  isResourceRequest: boolean;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

/** RequestInfoFactory.NewRequestInfo over a parsed target (Path decoded, RawQuery raw). All strings are byte strings. */
export function goRequestInfo(method: string, u: { path: string; rawQuery: string }): GoRequestInfo {
  const info: GoRequestInfo = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  const trimmed = u.path.replace(/^\/+/, '').replace(/\/+$/, '');
  let parts = trimmed === '' ? [] : trimmed.split('/');
  if (parts.length < 3) return info;
  if (parts[0] !== 'api' && parts[0] !== 'apis') return info;
  const prefix = parts[0];
  parts = parts.slice(1);
  if (prefix === 'apis') {
    if (parts.length < 3) return info;
    info.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  info.isResourceRequest = true;
  info.apiVersion = parts[0]!;
  parts = parts.slice(1);
  if (parts[0] === 'proxy' || parts[0] === 'watch') {
    if (parts.length < 2) throw new Error(`the API server answers an error for ${u.path} (special verb without a resource)`);
    info.verb = parts[0];
    parts = parts.slice(1);
  } else {
    info.verb = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[method] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1]!;
      if (parts.length > 2 && parts[2] !== 'status' && parts[2] !== 'finalize') parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2]!;
  if (parts.length >= 2) info.name = parts[1]!;
  if (parts.length >= 1) info.resource = parts[0]!;

  if (info.name === '' && info.verb === 'get') {
    const q = goParseQuery(u.rawQuery);
    // DecodeParameters into ListOptions: the conversions that can fail.
    let decoded = true;
    for (const k of ['limit', 'timeoutSeconds']) {
      const v = q.get(k);
      if (v && v.length > 0 && !isGoInt64(v[0])) {
        if (v[0] === '') throw new Error(`oracle: ${k}= (empty) is not modelled`);
        decoded = false;
      }
    }
    const fsRaw = q.get('fieldSelector')?.[0];
    const fs = fsRaw === undefined ? [] : goParseFieldSelector(fsRaw);
    if (fs === undefined) decoded = false;
    const lsRaw = q.get('labelSelector')?.[0];
    if (lsRaw !== undefined) {
      const ok = labelSelectorParses(lsRaw);
      if (ok === undefined) {
        // Only the name derived from fieldSelector depends on it; refuse to guess.
        if (fs && fs.length > 0) throw new Error(`oracle: labelSelector ${JSON.stringify(lsRaw)} with a fieldSelector is not modelled`);
      }
    }
    const watch = decoded ? goBool(q.get('watch')) : goWatchFallback(q.get('watch'));
    info.verb = watch ? 'watch' : 'list';
    if (decoded && fs && fs.length > 0) {
      const exact = fs.find((t) => t.field === 'metadata.name' && (t.op === '=' || t.op === '=='));
      // RequiresExactMatch of an andTerm: the first matching term (of the sorted terms).
      if (exact && exact.value !== '.' && exact.value !== '..' && !/[/%]/.test(exact.value)) info.name = exact.value;
    }
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

/** What the API server derives from a request line: undefined when Go itself refuses the target (400 before any handler). */
export function apiServerReading(method: string, rawTarget: string): GoRequestInfo | undefined {
  const u = goParseRequestURI(rawTarget);
  if (!u.ok) return undefined;
  return goRequestInfo(method, u);
}
