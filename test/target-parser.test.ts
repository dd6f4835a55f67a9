// The request-target parser (issue 11): explicit cases, then a bounded,
// seeded fuzz run checking that every target it accepts is read the same
// by everything on the way: itself again, WHATWG URL (the exec dialer),
// Node's legacy url.parse (http-proxy) and Go (the API server).
import t from 'tap';
import { parse as legacyParse } from 'node:url';
import { dropSegments, parseRequestTarget, queryBool, MAX_SEGMENTS, MAX_TARGET_BYTES, type RequestTarget } from '../src/model/request-target.js';
import { goBool, goParseQuery, goParseRequestURI } from './helpers/apiserver-reading.js';
import { CORPUS } from './helpers/target-corpus.js';

function accept(raw: string): RequestTarget {
  const r = parseRequestTarget(raw);
  if (!r.ok) throw new Error(`${JSON.stringify(raw)} was refused: ${r.reason}`);
  return r.target;
}

t.test('the issue table: every row is refused', async (t) => {
  for (const raw of [
    '/api/v1/namespaces\\scratch',
    '/api/v1/namespaces\\prod/pods/web-0',
    '/api/v1/namespaces/default\\secrets/db',
    '/api/v1/namespaces/default/secrets#x',
    '/api/v1/namespaces/default\\..\\prod/pods/web-0/exec?command=sh&stdout=1',
  ]) {
    const r = parseRequestTarget(raw);
    t.equal(r.ok, false, raw);
    if (!r.ok) t.ok(r.reason.length > 0, `${raw}: ${r.reason}`);
  }
});

t.test('canonical targets come back as they are', async (t) => {
  const x = accept('/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&stdout=1');
  t.same(x.segments, ['api', 'v1', 'namespaces', 'default', 'pods', 'web-0', 'exec']);
  t.equal(x.path, '/api/v1/namespaces/default/pods/web-0/exec');
  t.equal(x.query, 'command=sh&command=-c&stdout=1');
  t.same(x.params.getAll('command'), ['sh', '-c']);
  t.equal(x.uri, '/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&stdout=1');
  t.equal(accept('/').uri, '/');
  t.same(accept('/').segments, []);
  const slash = accept('/apis/');
  t.same(slash.segments, ['apis'], 'a trailing slash is not a segment');
  t.equal(slash.uri, '/apis/', 'but it is kept');
  t.equal(accept('/version?').uri, '/version', 'an empty query is dropped');
});

t.test('escapes of ordinary characters are decoded and the path re-serialised', async (t) => {
  const x = accept('/%61pi/v1/namespaces/default/%73ecrets/%64b?x=%2f');
  t.same(x.segments, ['api', 'v1', 'namespaces', 'default', 'secrets', 'db']);
  t.equal(x.path, '/api/v1/namespaces/default/secrets/db');
  t.equal(x.uri, '/api/v1/namespaces/default/secrets/db?x=%2f', 'the query is forwarded raw');
  t.equal(accept('/a/b%2bc').path, '/a/b+c');
});

t.test('refusals', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['', /origin-form/],
    ['*', /origin-form/],
    ['http://evil/api/v1/pods', /origin-form/],
    ['api/v1/pods', /origin-form/],
    ['/a b', /control, space or non-ASCII/],
    ['/a\tb', /control/],
    ['/a\x7f', /control/],
    ['/caf\u00e9', /non-ASCII/],
    ['/a\\b', /backslash/],
    ['/a#b', /fragment/],
    ['/a?b#c', /fragment/],
    ['/a//b', /empty segment/],
    ['//a', /empty segment/],
    ['/a/b//', /empty segment/],
    ['/a/./b', /\. or \.\./],
    ['/a/../b', /\. or \.\./],
    ['/a/%2e%2E/b', /\. or \.\./],
    ['/a/.%2e/b', /\. or \.\./],
    ['/a%2fb', /encoded slash/],
    ['/a%2Fb', /encoded slash/],
    ['/a%5cb', /encoded backslash/],
    ['/a%25', /encoded percent/],
    ['/a%252f', /encoded percent/],
    ['/a%00', /encoded character/],
    ['/a%20', /encoded character/],
    ['/a%3f', /encoded character/],
    ['/a%23', /encoded character/],
    ['/a%c0%af', /encoded character/],
    ['/a%ef%bc%8f', /encoded character/],
    ['/a%zz', /invalid percent-encoding/],
    ['/a%2', /invalid percent-encoding/],
    ['/a%', /invalid percent-encoding/],
    ['/a?b=%zz', /invalid percent-encoding/],
    ['/a?b=%', /invalid percent-encoding/],
    ['/a?watch=false;watch=true', /";"/],
    ['/a?x="y"', /must be percent-encoded/],
    ['/a?x=a|b', /must be percent-encoded/],
    ['/a?watch=0&watch=1', /repeats the parameter "watch"/],
    ['/a?%77atch=0&watch=1', /repeats the parameter "watch"/],
    ['/a?labelSelector=a&labelSelector=b', /repeats/],
    ['/a?=x', /empty parameter name/],
    [`/${'a'.repeat(MAX_TARGET_BYTES)}`, /longer than/],
    ['/a'.repeat(MAX_SEGMENTS + 1), /more than 64 path segments/],
  ];
  for (const [raw, why] of refused) {
    const r = parseRequestTarget(raw);
    t.equal(r.ok, false, `${JSON.stringify(raw.slice(0, 60))} is refused`);
    if (!r.ok) t.match(r.reason, why, JSON.stringify(raw.slice(0, 60)));
  }
  t.ok(parseRequestTarget('/a'.repeat(MAX_SEGMENTS)).ok, `${MAX_SEGMENTS} segments are fine`);
  t.ok(parseRequestTarget('/a?command=sh&command=-c&ports=1&ports=2').ok, 'command and ports repeat by design');
  t.ok(parseRequestTarget('/a?&&watch=1').ok, 'empty pairs are fine (Go skips them too)');
});

t.test('queryBool follows Convert_Slice_string_To_bool', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['', false],
    ['?x=1', false],
    ['?watch', true],
    ['?watch=', true],
    ['?watch=1', true],
    ['?watch=true', true],
    ['?watch=yes', true],
    ['?watch=no', true],
    ['?watch=00', true],
    ['?watch=+0', true],
    ['?watch=0', false],
    ['?watch=%30', false],
    ['?watch=false', false],
    ['?watch=FALSE', false],
    ['?watch=fAlSe', false],
    ['?watch=fal%73e', false],
    ['?watch=false+', true],
    ['?Watch=false', false],
    ['?%77atch=0', false],
    ['?%77atch=1', true],
  ];
  for (const [query, want] of cases) {
    const target = accept(`/api/v1/pods${query}`);
    t.equal(queryBool(target, 'watch'), want, `watch in ${JSON.stringify(query)}`);
    t.equal(goBool(goParseQuery(target.query).get('watch')), want, `the Go model agrees on ${JSON.stringify(query)}`);
  }
  // strings.EqualFold folds U+017F (long s) to "s": Go reads "falſe" as false, toLowerCase does not.
  // kubetape does not imitate Unicode folding: a decided parameter must be printable ASCII.
  const longS = parseRequestTarget('/api/v1/pods?watch=fal%c5%bfe');
  t.equal(longS.ok, false, 'a non-ASCII value of a decided parameter is refused');
});

t.test('dropSegments removes a prefix without re-parsing', async (t) => {
  const x = accept('/clusters/prod/api/v1/namespaces/default/pods?watch=1');
  const d = dropSegments(x, 2);
  t.same(d.segments, ['api', 'v1', 'namespaces', 'default', 'pods']);
  t.equal(d.path, '/api/v1/namespaces/default/pods');
  t.equal(d.uri, '/api/v1/namespaces/default/pods?watch=1');
  t.equal(d.params, x.params, 'the same params');
  const slash = dropSegments(accept('/clusters/prod/apis/'), 2);
  t.equal(slash.uri, '/apis/');
  t.same(dropSegments(accept('/clusters/prod'), 2).segments, []);
  t.equal(dropSegments(accept('/clusters/prod'), 2).uri, '/');
  t.equal(dropSegments(accept('/clusters/prod/'), 2).uri, '/', 'nothing left: "/" (never "//")');
  t.equal(dropSegments(accept('/clusters/prod?x=1'), 2).uri, '/?x=1');
  const again = parseRequestTarget(d.uri);
  t.ok(again.ok && again.target.uri === d.uri, 'what is left parses to itself');
});

// ---- fuzz ----------------------------------------------------------------

/** mulberry32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SAFE = [
  'a',
  'b',
  'z',
  'api',
  'apis',
  'v1',
  'namespaces',
  'default',
  'prod',
  'pods',
  'secrets',
  'web-0',
  'exec',
  '/',
  '/',
  '/',
  '-',
  '_',
  '~',
  '.',
  '0',
  '9',
  'A',
  'Z',
];
const SUB = ['!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=', ':', '@'];
const NASTY = [
  '/',
  '\\',
  '%',
  '.',
  '..',
  '#',
  '?',
  ';',
  ':',
  '@',
  '+',
  ' ',
  '//',
  '/./',
  '/../',
  '&',
  '=',
  '"',
  '<',
  '>',
  '{',
  '}',
  '|',
  '^',
  '`',
  '[',
  ']',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '%2e',
  '%2E',
  '%25',
  '%00',
  '%20',
  '%23',
  '%3f',
  '%3b',
  '%26',
  '%3d',
  '%2b',
  '%41',
  '%61',
  '%7e',
  '%7f',
  '%ef%bc%8f',
  '%c0%af',
  '%c0%ae',
  '%e2%80%a4',
  '%e2%88%95',
  '%c5%bf',
  '%ff',
  '%zz',
  '%2',
  '%2g',
  '\uff0f',
  '\u2024',
  '\u2215',
  '\u0455',
  '\u00e9',
  '\u017f',
  '\t',
  '\n',
  '\r',
  '\x00',
  '\x01',
  '\x7f',
  '\u200b',
  '\ud83d\ude00',
  'watch=',
  'watch=true',
  'watch=0',
  'watch=fal%c5%bfe',
  'follow=',
  'labelSelector=a',
  'command=sh',
];

function randomTarget(r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  let s = r() < 0.92 ? '/' : pick(['', 'http://x', '*', 'a', '\\', '#']);
  const n = 1 + Math.floor(r() * 14);
  let inQuery = false;
  for (let i = 0; i < n; i++) {
    const x = r();
    if (!inQuery && x < 0.04) {
      s += '?';
      inQuery = true;
    } else if (x < 0.62) s += pick(SAFE);
    else if (x < 0.72) s += pick(SUB);
    else s += pick(NASTY);
    if (s.includes('?')) inQuery = true;
  }
  return s;
}

/** Go's reading of the segments of a (raw) target: net/url decodes the path; RequestInfo splits it on "/". */
function goSegments(raw: string): string[] | undefined {
  const u = goParseRequestURI(Buffer.from(raw, 'utf8').toString('latin1'));
  if (!u.ok) return undefined;
  const trimmed = u.path.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

const PRINTABLE_ASCII_PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$/;

t.test('fuzz: every accepted target is read the same by every reader on the way', async (t) => {
  const SEED = 0x6b756265; // "kube"
  const N = 20_000;
  const r = prng(SEED);
  const started = Date.now();
  let accepted = 0;
  let withQuery = 0;
  let withEscapes = 0;
  const failures = new Map<string, string[]>();
  const fail = (property: string, raw: string, detail: string): void => {
    const list = failures.get(property) ?? [];
    if (list.length < 5) list.push(`${JSON.stringify(raw)}: ${detail}`);
    failures.set(property, list);
  };
  for (let i = 0; i < N; i++) {
    const raw = randomTarget(r);
    let res;
    try {
      res = parseRequestTarget(raw);
    } catch (err) {
      fail('never throws', raw, String(err));
      continue;
    }
    if (!res.ok) {
      if (typeof res.reason !== 'string' || res.reason === '') fail('a refusal says why', raw, JSON.stringify(res));
      continue;
    }
    const x = res.target;
    accepted++;
    if (x.query) withQuery++;
    if (raw.includes('%')) withEscapes++;

    // (a) idempotent and canonical
    const again = parseRequestTarget(x.uri);
    if (!again.ok) fail('(a) uri re-parses', raw, `uri ${JSON.stringify(x.uri)} refused: ${again.reason}`);
    else {
      const y = again.target;
      if (
        y.uri !== x.uri ||
        y.path !== x.path ||
        y.query !== x.query ||
        JSON.stringify(y.segments) !== JSON.stringify(x.segments) ||
        y.params.toString() !== x.params.toString()
      ) {
        fail('(a) uri re-parses to the identical target', raw, `${x.uri} -> ${y.uri}`);
      }
    }
    if (x.uri !== (x.query === '' ? x.path : `${x.path}?${x.query}`)) fail('uri is path?query', raw, x.uri);

    // (b) WHATWG URL (ws, fetch, the exec dialer) reads the same path and query
    let w: URL | undefined;
    try {
      w = new URL(x.uri, 'https://x');
    } catch (err) {
      fail('(b) WHATWG URL reads uri at all', raw, String(err));
    }
    if (w) {
      if (w.pathname !== x.path) fail('(b) WHATWG pathname === path', raw, `${w.pathname} vs ${x.path}`);
      if (w.search !== (x.query === '' ? '' : `?${x.query}`)) fail('(b) WHATWG search === ?query', raw, `${w.search} vs ?${x.query}`);
      if (w.host !== 'x') fail('(b) WHATWG keeps the host', raw, w.host);
    }

    // (c) Node's legacy url.parse (http-proxy) leaves it alone
    try {
      const legacy = legacyParse(x.uri);
      if (legacy.path !== x.uri) fail('(c) url.parse(uri).path === uri', raw, `${legacy.path} vs ${x.uri}`);
      if (legacy.host) fail('(c) url.parse finds no host', raw, String(legacy.host));
    } catch (err) {
      fail('(c) url.parse reads uri at all', raw, String(err));
    }

    // (d) decoding each segment of path gives the segments (Go decodes the path)
    const pathSegs = x.path.replace(/^\//, '').replace(/\/$/, '');
    const decoded = pathSegs === '' ? [] : pathSegs.split('/').map((s) => decodeURIComponent(s));
    if (JSON.stringify(decoded) !== JSON.stringify(x.segments))
      fail('(d) decoded path segments === segments', raw, `${JSON.stringify(decoded)} vs ${JSON.stringify(x.segments)}`);
    const goUri = goSegments(x.uri);
    if (JSON.stringify(goUri) !== JSON.stringify(x.segments)) fail('(d) Go reads uri as the segments', raw, JSON.stringify(goUri));
    // ... and Go reads what the client sent (before canonicalisation) the same way
    const goRaw = goSegments(raw);
    if (JSON.stringify(goRaw) !== JSON.stringify(x.segments)) fail('(d) Go reads the raw target as the segments', raw, JSON.stringify(goRaw));

    // (e) no segment is empty, . or .., or holds / \ % # ? or a non-printable or non-ASCII character
    for (const seg of x.segments) {
      if (seg === '' || seg === '.' || seg === '..' || !PRINTABLE_ASCII_PCHAR.test(seg)) fail('(e) segments are plain pchar', raw, JSON.stringify(seg));
    }

    // Go and URLSearchParams read the parameters kubetape decides on the same way
    const goQ = goParseQuery(Buffer.from(x.query, 'utf8').toString('latin1'));
    for (const name of ['watch', 'follow', 'labelSelector', 'fieldSelector', 'container', 'stdin', 'stdout', 'stderr', 'tty', 'command']) {
      const mine = x.params.getAll(name).map((v) => Buffer.from(v, 'utf8').toString('latin1'));
      const go = goQ.get(name) ?? [];
      if (JSON.stringify(mine) !== JSON.stringify(go))
        fail(`extra: Go reads the query parameter ${name} as the same bytes`, raw, `${JSON.stringify(mine)} vs ${JSON.stringify(go)}`);
    }
    if (queryBool(x, 'watch') !== goBool(goQ.get('watch'))) fail('extra: Go reads watch as the same boolean', raw, String(queryBool(x, 'watch')));
  }
  const ms = Date.now() - started;
  t.comment(`fuzz seed ${SEED.toString(16)}: ${N} targets, ${accepted} accepted (${withQuery} with a query, ${withEscapes} with escapes), ${ms} ms`);
  t.ok(accepted >= N / 10, `enough targets were accepted to mean something (${accepted})`);
  t.ok(withQuery >= 200 && withEscapes >= 200, 'queries and escapes were exercised');
  for (const [property, examples] of failures) t.fail(`${property}\n  ${examples.join('\n  ')}`);
  t.equal(failures.size, 0, 'every property held for every accepted target');
  t.ok(ms < 5_000, `bounded (${ms} ms)`);
});

t.test('the differential corpus: refuse entries are refused by the parser, forward entries accepted', async (t) => {
  t.ok(CORPUS.length >= 200, `at least 200 entries (${CORPUS.length})`);
  t.equal(new Set(CORPUS.map((e) => e.id)).size, CORPUS.length, 'ids are unique');
  for (const e of CORPUS) {
    // Node's HTTP layer hands kubetape the request-target as latin1 (one char per byte).
    const asReceived = Buffer.from(e.target, 'utf8').toString('latin1');
    const r = parseRequestTarget(asReceived);
    if (e.must === 'refuse') t.equal(r.ok, false, `${e.id} ${e.why}: refused`);
    if (e.must === 'forward') t.ok(r.ok, `${e.id} ${e.why}: accepted${r.ok ? '' : ` (refused: ${r.reason})`}`);
  }
});
