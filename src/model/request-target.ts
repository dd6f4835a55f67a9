// The request target (RFC 9112 §3.2: path and query of the request line),
// parsed once. Everything kubetape decides on (request attributes, policy,
// masking) and everything it records and sends upstream is built from the
// one RequestTarget this module returns, never from the raw URL again: a
// second parser (http-proxy's url.parse turns `\` into `/` and drops
// `#...`; WHATWG URL also resolves `\..\`) is how a request decided as one
// thing reaches the cluster as another.
//
// The API server is a Go net/http server: it reads the path percent-decoded
// and splits it on `/`; it reads the query with url.ParseQuery. Rather than
// imitate every reading of every proxy on the way, the parser accepts only
// what all of them read the same, and kubectl and client-go never send
// anything else:
//   - origin-form only ("/..."): no absolute-form, authority-form or "*";
//   - printable ASCII only: no controls, spaces, DEL or non-ASCII bytes;
//   - no `\` and no `#` anywhere;
//   - path segments decode (percent escapes) to RFC 3986 pchar characters
//     other than `%`, so no encoded `/`, `\`, `?`, `#`, `%`, controls or
//     Unicode look-alikes; no empty segment but one trailing `/`; no `.` or
//     `..` segment, written plainly or encoded;
//   - the query is pairs of pchar/`/`/`?` characters and valid escapes, no
//     `;` (Go drops such pairs, URLSearchParams keeps them), and the
//     parameters kubetape decides on appear at most once.
// The path forwarded is re-serialised from the decoded segments, so
// `%61pi` is decided on, recorded and sent as `api`.

/** A request target kubetape accepted: the only form of the URL anything past the listener uses. */
export interface RequestTarget {
  /** Decoded path segments, without the leading empty one; a trailing slash is not a segment. */
  readonly segments: readonly string[];
  /** The path as decided on, recorded and forwarded: "/" + segments joined (+ "/" when sent with one). */
  readonly path: string;
  /** The raw query without "?", as forwarded ("" when there was none). */
  readonly query: string;
  /** The query's parameters (read with the same rules as Go's url.ParseQuery for what was accepted). */
  readonly params: URLSearchParams;
  /** path + "?" + query: the request target as recorded and as sent upstream (after any server prefix). */
  readonly uri: string;
}

export type TargetResult = { ok: true; target: RequestTarget } | { ok: false; reason: string };

/** Longest request target accepted (Node's own header limit is 16 KiB for the whole head). */
export const MAX_TARGET_BYTES = 8192;
/** Most path segments accepted (the deepest API path is about 10; proxy paths go further). */
export const MAX_SEGMENTS = 64;

/**
 * Parameters kubetape decides on (verb, stream follow, label rules, exec
 * options): a second copy could be read by the API server in place of the
 * first one kubetape read, so a repeat is refused. `command` and `ports`
 * repeat by design and are read as lists on both sides.
 */
export const SINGLE_VALUED_PARAMS: ReadonlySet<string> = new Set([
  'watch',
  'follow',
  'labelSelector',
  'fieldSelector',
  'container',
  'stdin',
  'stdout',
  'stderr',
  'tty',
  'dryRun',
]);

// RFC 3986 pchar without pct-encoded: unreserved / sub-delims / ":" / "@", less "'" (WHATWG
// URL and url.parse escape it, Go clients always send it escaped; no Kubernetes name has one).
const PCHAR = /^[A-Za-z0-9\-._~!$&()*+,;=:@]*$/;
// What may stand raw in a path: pchar plus "%" (validated separately) and "/".
const RAW_PATH = /^[A-Za-z0-9\-._~!$&()*+,;=:@%/]*$/;
// What may stand raw in the query: pchar (without ";") plus "/", "?" and "%".
const RAW_QUERY = /^[A-Za-z0-9\-._~!$&()*+,=:@%/?]*$/;
const ESCAPES = /%([0-9A-Fa-f]{2})?/g;

function refuse(reason: string): TargetResult {
  return { ok: false, reason };
}

/** Parse `raw` (req.url as Node received it) into the one RequestTarget, or say why it is refused. */
export function parseRequestTarget(raw: string): TargetResult {
  if (raw.length > MAX_TARGET_BYTES) return refuse(`it is longer than ${MAX_TARGET_BYTES} bytes`);
  if (!raw.startsWith('/')) return refuse('it is not an absolute path (origin-form)');
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return refuse('it has a control, space or non-ASCII character');
  }
  if (raw.includes('\\')) return refuse('it has a backslash');
  if (raw.includes('#')) return refuse('it has a fragment (#)');

  const q = raw.indexOf('?');
  const rawPath = q >= 0 ? raw.slice(0, q) : raw;
  const query = q >= 0 ? raw.slice(q + 1) : '';
  if (!RAW_PATH.test(rawPath)) return refuse('its path has a character that must be percent-encoded');

  const parts = rawPath.slice(1).split('/');
  const trailingSlash = parts.length > 1 && parts[parts.length - 1] === '';
  if (trailingSlash) parts.pop();
  if (parts.length === 1 && parts[0] === '') parts.pop(); // "/"
  if (parts.length > MAX_SEGMENTS) return refuse(`it has more than ${MAX_SEGMENTS} path segments`);
  const segments: string[] = [];
  for (const part of parts) {
    if (part === '') return refuse('it has an empty segment (//)');
    const decoded = decodeSegment(part);
    if (decoded === undefined) return refuse('its path has an invalid percent-encoding');
    if (!PCHAR.test(decoded)) return refuse(`its path has ${describeEncoded(decoded)}`);
    if (decoded === '.' || decoded === '..') return refuse('it has a . or .. segment');
    segments.push(decoded);
  }

  if (query !== '') {
    if (!RAW_QUERY.test(query))
      return refuse(
        query.includes(';') ? 'its query has a ";" (read as a separator by some servers)' : 'its query has a character that must be percent-encoded',
      );
    if (!validEscapes(query)) return refuse('its query has an invalid percent-encoding');
    // URLSearchParams turns bytes that are not UTF-8 into U+FFFD where Go keeps them: refuse instead.
    for (const pair of query.split('&')) {
      try {
        decodeURIComponent(pair.replace(/\+/g, ' '));
      } catch {
        return refuse('its query has an escape that is not UTF-8');
      }
    }
  }
  const params = new URLSearchParams(query);
  for (const name of SINGLE_VALUED_PARAMS) {
    const values = params.getAll(name);
    if (values.length > 1) return refuse(`its query repeats the parameter ${JSON.stringify(name)}`);
    // Go compares some of these with Unicode folding ("falſe" is false there): decided values are plain ASCII.
    if (values.length === 1 && !/^[\x20-\x7e]*$/.test(values[0]))
      return refuse(`its query parameter ${JSON.stringify(name)} has a character that is not printable ASCII`);
  }
  // List options the API server fails to decode make it drop what it read from the rest of the
  // query (a field selector's name among it) for authorization: kubetape refuses them instead.
  for (const name of ['limit', 'timeoutSeconds']) {
    const v = params.get(name);
    if (v !== null && !/^-?\d{1,18}$/.test(v)) return refuse(`its query parameter ${JSON.stringify(name)} is not an integer`);
  }
  const fieldSelector = params.get('fieldSelector');
  if (fieldSelector !== null) {
    // Escapes in a field selector, or two names in one, are read by the API server in ways
    // that decide which object a list is authorized for; kubectl never sends either.
    if (fieldSelector.includes('\\')) return refuse('its fieldSelector has a backslash escape');
    if (fieldSelector.split(',').filter((term) => /^metadata\.name\s*!?==?/.test(term.trim())).length > 1)
      return refuse('its fieldSelector names metadata.name more than once');
  }
  // A decoded key kubetape decides on, written with escapes ("w%61tch"), would be missed by a
  // reader that compares raw keys; decoded, it must still be named the way it is read here.
  for (const key of params.keys()) {
    if (key === '') return refuse('its query has an empty parameter name');
  }

  const path = '/' + segments.join('/') + (trailingSlash && segments.length > 0 ? '/' : '');
  return { ok: true, target: { segments, path, query, params, uri: query === '' ? path : `${path}?${query}` } };
}

/** The same target without its first `n` segments (a /clusters/NAME prefix), nothing re-parsed. */
export function dropSegments(t: RequestTarget, n: number): RequestTarget {
  const segments = t.segments.slice(n);
  const trailing = t.path.endsWith('/') && t.segments.length > 0;
  const path = '/' + segments.join('/') + (trailing && segments.length > 0 ? '/' : '');
  return { segments, path, query: t.query, params: t.params, uri: t.query === '' ? path : `${path}?${t.query}` };
}

/** One query parameter as the API server reads it (the first value), or null. */
export function param(t: RequestTarget, name: string): string | null {
  return t.params.get(name);
}

function describeEncoded(decoded: string): string {
  if (decoded.includes('/')) return 'an encoded slash (%2F)';
  if (decoded.includes('\\')) return 'an encoded backslash (%5C)';
  if (decoded.includes('%')) return 'an encoded percent sign (%25)';
  return 'an encoded character that is not allowed in a path segment (?, #, quote, control or non-ASCII)';
}

function decodeSegment(s: string): string | undefined {
  if (!s.includes('%')) return s;
  if (!validEscapes(s)) return undefined;
  // Escapes decode to single bytes; a byte >= 0x80 is non-ASCII and refused by the caller's PCHAR test.
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function validEscapes(s: string): boolean {
  for (const m of s.matchAll(ESCAPES)) if (m[1] === undefined) return false;
  return true;
}

/**
 * A boolean query parameter as the API server reads it (apimachinery's
 * Convert_Slice_string_To_bool): absent is false, "0" and any case of
 * "false" are false, anything else, the empty string included, is true.
 * So `?watch=yes` and `?watch=` are watches, and must be decided as such.
 */
export function queryBool(t: RequestTarget, name: string): boolean {
  const v = t.params.get(name);
  if (v === null) return false;
  return !(v === '0' || v.toLowerCase() === 'false');
}
