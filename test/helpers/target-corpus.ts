// Malformed and ambiguous request targets (issue 11, item 4), as they would
// stand on the HTTP request line: each is sent through kubetape to the test
// API server by test/target-differential.test.ts. A JS string is written
// as UTF-8, so raw non-ASCII characters become their UTF-8 bytes.
//
// Every entry names the Kubernetes request it aims at (what an attacker
// hopes the cluster runs) and what kubetape must do with it:
//   refuse  - 400 Status before anything is decided, recorded or forwarded:
//             issue 11 item 1 lists these (backslashes, '#', controls,
//             encoded separators, dot segments, non-ASCII, absolute-form)
//   forward - a target the API server reads one way only; kubetape must let
//             it through (kubectl or client-go could send it) and decide on
//             exactly what reaches the cluster
//   either  - refusing or forwarding are both safe; only the invariant
//             (decided == recorded == forwarded) is required
// Whatever `must` says, the differential test always checks the invariant.

export type CorpusGroup =
  'control' | 'separators' | 'encodings' | 'dots' | 'fragments' | 'unicode' | 'overlong' | 'duplicates' | 'query' | 'absolute-form' | 'asterisk';

export type Must = 'refuse' | 'forward' | 'either';

export interface CorpusEntry {
  /** Unique, stable: group-NNN. */
  id: string;
  group: CorpusGroup;
  /** The request-target exactly as on the request line. */
  target: string;
  /** Methods to send it with: GET, plus DELETE for the delete cases. */
  methods: Array<'GET' | 'DELETE'>;
  /** The Kubernetes request it aims at, e.g. "delete namespaces scratch" or "get secrets default/db". */
  aims: string;
  must: Must;
  why: string;
}

const NS = '/api/v1/namespaces';
const out: CorpusEntry[] = [];
const counters = new Map<CorpusGroup, number>();

function add(
  group: CorpusGroup,
  target: string,
  aims: string,
  must: Must,
  why: string,
  methods: Array<'GET' | 'DELETE'> = aims.startsWith('delete') ? ['DELETE', 'GET'] : ['GET'],
): void {
  const n = (counters.get(group) ?? 0) + 1;
  counters.set(group, n);
  out.push({ id: `${group}-${String(n).padStart(3, '0')}`, group, target, methods, aims, must, why });
}

// Controls: the canonical forms, which must go through untouched.
add('control', `${NS}/scratch`, 'delete namespaces scratch', 'forward', 'canonical');
add('control', `${NS}/default/secrets/db`, 'get secrets default/db', 'forward', 'canonical');
add('control', `${NS}/default/secrets`, 'list secrets default', 'forward', 'canonical');
add('control', `${NS}/prod/pods/web-0`, 'delete pods prod/web-0', 'forward', 'canonical');
add('control', `${NS}/default/configmaps?watch=true`, 'watch configmaps default', 'forward', 'canonical (ends when the test closes the socket)');
add('control', '/apis/apps/v1/namespaces/prod/deployments/web', 'get deployments.apps prod/web', 'forward', 'canonical');
add('control', '/api/v1/pods?limit=500', 'list pods', 'forward', 'canonical');
add('control', '/version', 'non-resource /version', 'forward', 'canonical');
add('control', '/apis/', 'non-resource /apis', 'forward', 'one trailing slash, as kubectl sends it');

// Control characters and spaces: raw, or escaped into a path segment.
add('control', `${NS}/default/secrets\tdb`, 'get secrets default/db', 'refuse', 'raw tab');
add('control', `${NS}/default/secrets/db\x01`, 'get secrets default/db', 'refuse', 'raw SOH');
add('control', `${NS}/default/secrets/db\x7f`, 'get secrets default/db', 'refuse', 'raw DEL');
add('control', `${NS}/default/secrets/db\x0b`, 'get secrets default/db', 'refuse', 'raw vertical tab');
add('control', `${NS}/default/secrets/db\x1b[0m`, 'get secrets default/db', 'refuse', 'raw ESC (terminal escape into logs)');
add('control', `${NS}/scratch\x00`, 'delete namespaces scratch', 'refuse', 'raw NUL');
add('control', `${NS}/default/secrets/db%00`, 'get secrets default/db', 'refuse', 'escaped NUL (C string truncation)');
add('control', `${NS}/scratch%00.json`, 'delete namespaces scratch', 'refuse', 'escaped NUL before a suffix');
add('control', `${NS}/default/secrets/db%09`, 'get secrets default/db', 'refuse', 'escaped tab');
add(
  'control',
  `${NS}/default/secrets/db%0d%0aX-Injected:%201`,
  'get secrets default/db',
  'refuse',
  'escaped CRLF (header injection for a re-serialising proxy)',
);
add('control', `${NS}/default/secrets/db%0a`, 'get secrets default/db', 'refuse', 'escaped LF');
add('control', `${NS}/default/secrets/db%7f`, 'get secrets default/db', 'refuse', 'escaped DEL');
add('control', `${NS}/default/secrets/db%1b`, 'get secrets default/db', 'refuse', 'escaped ESC');
add('control', `${NS}/default/secrets/db%20`, 'get secrets default/db', 'refuse', 'escaped space (trimmed by some readers)');
add('control', `${NS}/default/secrets/%20db`, 'get secrets default/db', 'refuse', 'escaped leading space');
add('control', `${NS}/default/secrets?watch=true%00`, 'watch secrets default', 'either', 'NUL in a query value: Go reads "true\\0", true either way');

// Separators: backslashes (issue rows 1-3), encoded slashes and backslashes, empty segments.
add('separators', `${NS}\\scratch`, 'delete namespaces scratch', 'refuse', 'issue row 1: url.parse turns \\ into /');
add('separators', `${NS}\\prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'issue row 2');
add('separators', `${NS}/default\\secrets/db`, 'get secrets default/db', 'refuse', 'issue row 3: decided "list db", Secret sent unmasked');
add('separators', `${NS}/default\\secrets`, 'list secrets default', 'refuse', 'backslash before the resource');
add('separators', `${NS}/default/secrets\\db`, 'get secrets default/db', 'refuse', 'backslash before the name');
add('separators', '\\api\\v1\\namespaces\\scratch', 'delete namespaces scratch', 'refuse', 'backslashes only, no leading /');
add('separators', '/api\\v1/namespaces/default/secrets/db', 'get secrets default/db', 'refuse', 'backslash after the prefix');
add('separators', `${NS}/prod/pods\\web-0`, 'delete pods prod/web-0', 'refuse', 'backslash before a pod name');
add('separators', `${NS}/default/secrets/db\\`, 'get secrets default/db', 'refuse', 'trailing backslash');
add('separators', `${NS}\\\\scratch`, 'delete namespaces scratch', 'refuse', 'double backslash');
add('separators', `${NS}%5cscratch`, 'delete namespaces scratch', 'refuse', 'encoded backslash, lower case');
add('separators', `${NS}%5Cscratch`, 'delete namespaces scratch', 'refuse', 'encoded backslash, upper case');
add('separators', `${NS}/default%5csecrets/db`, 'get secrets default/db', 'refuse', 'encoded backslash in the namespace');
add('separators', `${NS}/default%5Csecrets/db`, 'get secrets default/db', 'refuse', 'encoded backslash, upper case');
add('separators', `${NS}%2fscratch`, 'delete namespaces scratch', 'refuse', 'encoded slash: Go decodes it into a separator');
add('separators', `${NS}%2Fscratch`, 'delete namespaces scratch', 'refuse', 'encoded slash, upper case');
add('separators', `${NS}/default%2fsecrets/db`, 'get secrets default/db', 'refuse', 'encoded slash in the namespace');
add('separators', `${NS}/default%2Fsecrets%2Fdb`, 'get secrets default/db', 'refuse', 'every separator encoded');
add('separators', `${NS}/prod%2Fpods%2Fweb-0`, 'delete pods prod/web-0', 'refuse', 'encoded slashes into a pod');
add('separators', `${NS}/default/secrets/db%2f`, 'get secrets default/db', 'refuse', 'encoded trailing slash');
add('separators', '/api%2fv1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'encoded slash in the prefix');
add('separators', '/api/v1//namespaces/scratch', 'delete namespaces scratch', 'refuse', 'empty segment after the version');
add('separators', '//api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'leading //: WHATWG URL reads "api" as a host');
add('separators', '///api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'leading ///');
add(
  'separators',
  '//evil.example/api/v1/namespaces/scratch',
  'delete namespaces scratch',
  'refuse',
  'network-path reference: WHATWG URL sends it to evil.example',
);
add('separators', `${NS}//scratch`, 'delete namespaces scratch', 'refuse', 'empty segment before the name');
add('separators', `${NS}/default/secrets//db`, 'get secrets default/db', 'refuse', 'empty segment: Go keeps it, a cleaning proxy drops it');
add('separators', `${NS}/default//secrets/db`, 'get secrets default/db', 'refuse', 'empty segment after the namespace');
add('separators', `${NS}/scratch/`, 'delete namespaces scratch', 'either', 'one trailing slash: Go trims it, same request');
add('separators', `${NS}/scratch//`, 'delete namespaces scratch', 'refuse', 'two trailing slashes');
add('separators', `${NS}/default/secrets/db/`, 'get secrets default/db', 'either', 'one trailing slash after a name');
add('separators', `${NS}/default/secrets/`, 'list secrets default', 'either', 'one trailing slash after a collection');
add('separators', `${NS}/default/secrets/db;x`, 'get secrets default/db', 'either', 'path parameter: Go keeps ";x" in the name, Java proxies drop it');
add('separators', `${NS}/default/secrets;/db`, 'get secrets default/db', 'either', 'path parameter on the resource');
add('separators', `${NS}/default/secrets/db%3bx`, 'get secrets default/db', 'either', 'encoded ;');
add('separators', `${NS}/default/%5c../prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'encoded backslash then ..');
add('separators', `${NS}/default/secrets/db%5c..%5c..%5cconfigmaps`, 'get secrets default/db', 'refuse', 'encoded backslash traversal');

// Encodings: escapes of ordinary characters (harmless once decoded), of
// separators and dots, double encoding, overlong UTF-8, invalid escapes.
add('encodings', `${NS}/default/secrets/%64b`, 'get secrets default/db', 'forward', '%64 is "d": the API server reads db');
add('encodings', `${NS}/default/%73ecrets/db`, 'get secrets default/db', 'forward', '%73 is "s": must be decided (and masked) as a Secret');
add('encodings', `${NS}/default/%73%65%63%72%65%74%73/db`, 'get secrets default/db', 'forward', 'the whole resource escaped');
add('encodings', `${NS}/default/%73%65%63%72%65%74%73`, 'list secrets default', 'forward', 'escaped resource, list');
add('encodings', '/%61pi/v1/namespaces/scratch', 'delete namespaces scratch', 'forward', 'escaped prefix');
add('encodings', `${NS}/%73cratch`, 'delete namespaces scratch', 'forward', 'escaped namespace name');
add('encodings', `${NS}/default/%53ecrets/db`, 'get Secrets default/db', 'forward', '%53 is "S": a different (unknown) resource, not secrets');
add('encodings', `${NS}/default/configmaps/a%2bb`, 'get configmaps default/a+b', 'forward', 'escaped +: stays + in a path');
add('encodings', `${NS}/default/configmaps/a+b`, 'get configmaps default/a+b', 'forward', 'raw + in a path is not a space');
add('encodings', `${NS}/default/configmaps/a%7eb`, 'get configmaps default/a~b', 'forward', 'escaped ~');
add('encodings', `${NS}/default/configmaps/a%3ab`, 'get configmaps default/a:b', 'forward', 'escaped :');
add('encodings', `${NS}/default/configmaps/%41%42`, 'get configmaps default/AB', 'forward', 'escaped upper-case letters');
add('encodings', `${NS}/default%252fsecrets/db`, 'get secrets default/db', 'refuse', 'double-encoded slash: a second decode makes it a separator');
add('encodings', `${NS}/default%255csecrets/db`, 'get secrets default/db', 'refuse', 'double-encoded backslash');
add('encodings', `${NS}/default/secrets/%252e%252e`, 'get secrets default/db', 'refuse', 'double-encoded ..');
add('encodings', `${NS}/default/secrets/db%25`, 'get secrets default/db', 'refuse', 'escaped %');
add('encodings', `${NS}/default/secrets/db%2500`, 'get secrets default/db', 'refuse', 'escaped % then 00: NUL after a second decode');
add('encodings', `${NS}/default/%2e%2e/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'escaped .. (WHATWG URL resolves it)');
add('encodings', `${NS}/default/%2E%2E/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'escaped .., upper case');
add('encodings', `${NS}/default/%2e%2E/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'escaped .., mixed case');
add('encodings', `${NS}/default/secrets/%2e`, 'list secrets default', 'refuse', 'escaped .');
add('encodings', `${NS}/default%c0%afsecrets/db`, 'get secrets default/db', 'refuse', 'overlong UTF-8 for / (%c0%af)');
add('encodings', `${NS}/default%C0%AFsecrets/db`, 'get secrets default/db', 'refuse', 'overlong /, upper case');
add('encodings', `${NS}/default/%c0%ae%c0%ae/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'overlong UTF-8 dots');
add('encodings', `${NS}/default%e0%80%afsecrets/db`, 'get secrets default/db', 'refuse', 'three-byte overlong /');
add('encodings', `${NS}/default%c1%9csecrets/db`, 'get secrets default/db', 'refuse', 'overlong UTF-8 for \\');
add('encodings', `${NS}/default/secrets/db%ff`, 'get secrets default/db', 'refuse', 'a byte that is never UTF-8');
add('encodings', `${NS}/default/secrets/db%zz`, 'get secrets default/db', 'refuse', 'invalid escape %zz');
add('encodings', `${NS}/default/secrets/db%2`, 'get secrets default/db', 'refuse', 'truncated escape %2');
add('encodings', `${NS}/default/secrets/db%`, 'get secrets default/db', 'refuse', 'lone %');
add('encodings', `${NS}/default/secrets/db%2g`, 'get secrets default/db', 'refuse', 'invalid hex digit');
add('encodings', `${NS}/default/secrets/%%32%66`, 'get secrets default/db', 'refuse', '%%32%66: % followed by an escaped "2f"');
add('encodings', `${NS}/default%u002fsecrets/db`, 'get secrets default/db', 'refuse', 'IIS %u escape of /');
add('encodings', `${NS}/default/secrets%3fwatch=true`, 'list secrets default', 'refuse', 'escaped ? in the path');
add('encodings', `${NS}/default/secrets%3Fwatch=true`, 'list secrets default', 'refuse', 'escaped ?, upper case');
add('encodings', `${NS}/default/secrets/db?x=%2f`, 'get secrets default/db', 'forward', 'escaped / in the query is just data');
add('encodings', `${NS}/default/secrets/db?x=%5c`, 'get secrets default/db', 'forward', 'escaped \\ in the query is just data');

// Dots.
add('dots', `${NS}/default/./secrets/db`, 'get secrets default/db', 'refuse', '. segment');
add('dots', `${NS}/default/../prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', '.. segment into another namespace');
add('dots', `${NS}/./scratch`, 'delete namespaces scratch', 'refuse', '. before the name');
add('dots', `${NS}/scratch/.`, 'delete namespaces scratch', 'refuse', 'trailing .');
add('dots', `${NS}/scratch/..`, 'delete namespaces scratch', 'refuse', 'trailing ..');
add('dots', `${NS}/scratch/./`, 'delete namespaces scratch', 'refuse', 'trailing ./');
add('dots', `${NS}/default/secrets/db/..`, 'list secrets default', 'refuse', '.. after a name');
add('dots', `${NS}/default/secrets/./db`, 'get secrets default/db', 'refuse', './ before a name');
add('dots', '/./api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'leading /./');
add('dots', '/../api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'leading /../');
add('dots', `${NS}/default/configmaps/../secrets/db`, 'get secrets default/db', 'refuse', 'configmaps/../secrets');
add('dots', `${NS}/default/secrets/...`, 'get secrets default/...', 'either', 'three dots is an ordinary segment');
add('dots', `${NS}/.../pods`, 'list pods in namespace ...', 'either', 'three dots as a namespace');
add('dots', `${NS}/default/secrets/.db`, 'get secrets default/.db', 'either', 'a name starting with a dot');
add('dots', `${NS}/default/secrets/db.`, 'get secrets default/db.', 'either', 'a name ending with a dot');
add('dots', `${NS}/default/pods/web-0/..;/exec`, 'delete pods default/web-0', 'either', 'Tomcat ..; trick: Go reads the segment "..;" literally');
add('dots', `${NS}/default/.%2e/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', '.%2e');
add('dots', `${NS}/default/%2e./prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', '%2e.');
add('dots', `${NS}/default/..%2fprod/pods/web-0`, 'delete pods prod/web-0', 'refuse', '..%2f');
add('dots', `${NS}/default/..\\prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', '..\\');
add('dots', `${NS}/default/.\\secrets/db`, 'get secrets default/db', 'refuse', '.\\');
add('dots', `${NS}/default/%2e%2e%5cprod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'escaped ..\\');
add('dots', `${NS}/default/./`, 'get namespaces default', 'refuse', 'trailing ./ after a namespace');
add('dots', '/api/v1/./namespaces/scratch', 'delete namespaces scratch', 'refuse', '. after the version');
add(
  'dots',
  '/apis/apps/v1/namespaces/prod/deployments/web/../../../../../../api/v1/namespaces/scratch',
  'delete namespaces scratch',
  'refuse',
  'climb out of an apps path',
);

// Fragments (issue row 4).
add('fragments', `${NS}/default/secrets#x`, 'list secrets default', 'refuse', 'issue row 4: url.parse drops #x');
add('fragments', `${NS}/default/secrets/db#`, 'get secrets default/db', 'refuse', 'empty fragment');
add('fragments', `${NS}/scratch#/../prod`, 'delete namespaces scratch', 'refuse', 'fragment hiding a climb');
add('fragments', `${NS}/default/configmaps#/../secrets`, 'list secrets default', 'refuse', 'fragment with another resource');
add('fragments', `${NS}/default/secrets?watch=true#`, 'watch secrets default', 'refuse', 'fragment after the query');
add('fragments', `${NS}/default/secrets?watch=false#&watch=true`, 'watch secrets default', 'refuse', 'fragment splitting the query');
add('fragments', `/#${NS}/default/secrets`, 'list secrets default', 'refuse', 'everything after / in a fragment');
add('fragments', `#${NS}/default/secrets`, 'list secrets default', 'refuse', 'fragment-only target');
add('fragments', `${NS}/default/secrets%23x`, 'list secrets default', 'refuse', 'escaped # in the path');
add('fragments', `${NS}/default/secrets?x=%23`, 'list secrets default', 'forward', 'escaped # in the query is just data');
add('fragments', `${NS}/default/secr#ets/db`, 'get secrets default/db', 'refuse', '# inside a resource');
add('fragments', `${NS}/prod/pods/web-0#/exec`, 'delete pods prod/web-0', 'refuse', 'fragment after a pod');

// Unicode look-alikes, raw (sent as UTF-8) and escaped.
add('unicode', `${NS}/default\uff0fsecrets/db`, 'get secrets default/db', 'refuse', 'fullwidth solidus U+FF0F, raw');
add('unicode', `${NS}/default%ef%bc%8fsecrets/db`, 'get secrets default/db', 'refuse', 'fullwidth solidus, escaped');
add('unicode', `${NS}/default%EF%BC%8Fsecrets/db`, 'get secrets default/db', 'refuse', 'fullwidth solidus, escaped upper case');
add('unicode', `${NS}\uff0fscratch`, 'delete namespaces scratch', 'refuse', 'fullwidth solidus before a namespace');
add('unicode', `${NS}/default\uff3csecrets/db`, 'get secrets default/db', 'refuse', 'fullwidth reverse solidus U+FF3C');
add('unicode', `${NS}/default%ef%bc%bcsecrets/db`, 'get secrets default/db', 'refuse', 'fullwidth reverse solidus, escaped');
add('unicode', `${NS}/default/\u2024\u2024/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'one-dot leaders U+2024 as ..');
add('unicode', `${NS}/default/%e2%80%a4%e2%80%a4/prod/pods/web-0`, 'delete pods prod/web-0', 'refuse', 'one-dot leaders, escaped');
add('unicode', `${NS}/default\u2215secrets/db`, 'get secrets default/db', 'refuse', 'division slash U+2215');
add('unicode', `${NS}/default%e2%88%95secrets/db`, 'get secrets default/db', 'refuse', 'division slash, escaped');
add('unicode', `${NS}/default\u2044secrets/db`, 'get secrets default/db', 'refuse', 'fraction slash U+2044');
add('unicode', `${NS}/default/\u0455\u0435\u0441r\u0435t\u0455/db`, 'get secrets default/db', 'refuse', 'Cyrillic s, e, c in "secrets", raw');
add('unicode', `${NS}/default/%d1%95%d0%b5%d1%81r%d0%b5t%d1%95/db`, 'get secrets default/db', 'refuse', 'Cyrillic "secrets", escaped');
add('unicode', `${NS}/default/s%d0%b5crets/db`, 'get secrets default/db', 'refuse', 'one Cyrillic e');
add('unicode', `${NS}/default/\uff53\uff45\uff43\uff52\uff45\uff54\uff53/db`, 'get secrets default/db', 'refuse', 'fullwidth letters');
add('unicode', `${NS}/default/\u017fecrets/db`, 'get secrets default/db', 'refuse', 'long s U+017F (case-folds to s)');
add('unicode', `${NS}/default/secrets%e2%80%8b/db`, 'get secrets default/db', 'refuse', 'zero-width space after secrets');
add('unicode', `${NS}/default/%ef%bb%bfsecrets/db`, 'get secrets default/db', 'refuse', 'byte order mark');
add('unicode', `${NS}/default/secrets/d%e2%80%aeb`, 'get secrets default/db', 'refuse', 'right-to-left override');
add('unicode', `${NS}/default/secrets/d\u00e9`, 'get secrets default/dé', 'refuse', 'raw é');
add('unicode', `${NS}/default/configmaps/caf%c3%a9`, 'get configmaps default/café', 'refuse', 'escaped é (non-ASCII after decoding)');
add('unicode', `${NS}/default/secrets/s\u0307`, 'get secrets default/ṡ', 'refuse', 'combining dot above');
add(
  'unicode',
  `${NS}/default/secrets?watch=fal%c5%bfe`,
  'list secrets default',
  'either',
  'Go EqualFold reads "falſe" as false (a list); toLowerCase does not',
);
add('unicode', `${NS}/default/secrets?watch=FAL%C5%BFE`, 'list secrets default', 'either', 'upper-case "FALſE": EqualFold false');
add(
  'unicode',
  `${NS}/default/secrets?watch=%ef%bc%a6%ef%bc%a1%ef%bc%ac%ef%bc%b3%ef%bc%a5`,
  'watch secrets default',
  'either',
  'fullwidth FALSE is not false in Go',
);
add('unicode', `${NS}/default/secrets?fieldSelector=metadata.name%3D%ff`, 'list secrets default', 'either', 'a non-UTF-8 name in a field selector');
add('unicode', `${NS}/default/secrets?labelSelector=app%3D%d0%b0`, 'list secrets default', 'either', 'a Cyrillic label value');

// Overlong.
add('overlong', `${NS}/default/configmaps/${'a'.repeat(10_000)}`, 'get configmaps default/a...', 'either', '10 kB path');
add('overlong', `${NS}/default/configmaps/${'a'.repeat(4_000)}`, 'get configmaps default/a...', 'either', 'one 4000-byte segment');
add('overlong', `${NS}/default/pods/web-0/proxy/${'a/'.repeat(95)}a`, 'get pods/proxy default/web-0', 'either', '100 segments');
add('overlong', `${NS}/default/pods/web-0/proxy/${'a/'.repeat(57)}a`, 'get pods/proxy default/web-0', 'either', '64 segments (the parser limit)');
add('overlong', `${NS}/default/pods/web-0/proxy/${'a/'.repeat(58)}a`, 'get pods/proxy default/web-0', 'either', '65 segments');
add('overlong', `${NS}/default/configmaps?labelSelector=${'a'.repeat(9_000)}`, 'list configmaps default', 'either', '9 kB query');
add('overlong', `${NS}/default/configmaps/${'%61'.repeat(3_000)}`, 'get configmaps default/a...', 'either', '9 kB of escapes, 3000 bytes decoded');
add('overlong', `${'/..'.repeat(50)}${NS}/scratch`, 'delete namespaces scratch', 'refuse', '50 .. segments first');
add('overlong', `${NS}/${'x'.repeat(300)}/secrets/db`, 'get secrets x.../db', 'either', 'a 300-byte namespace (longer than any valid name)');

// Duplicate segments: the API server reads position, not names.
add(
  'duplicates',
  `${NS}/default/namespaces/prod/pods`,
  'list pods prod',
  'forward',
  'read as namespaces default, resource namespaces, name prod, subresource pods',
);
add('duplicates', `${NS}/default/namespaces/prod/pods/web-0`, 'delete pods prod/web-0', 'forward', 'decided on default/namespaces/prod');
add('duplicates', `${NS}/prod/namespaces/prod/pods/web-0`, 'delete pods prod/web-0', 'forward', 'prod twice');
add('duplicates', '/api/v1/api/v1/namespaces/scratch', 'delete namespaces scratch', 'forward', 'prefix twice');
add('duplicates', '/apis/apps/v1/apis/apps/v1/namespaces/prod/deployments/web', 'delete deployments.apps prod/web', 'forward', 'group prefix twice');
add('duplicates', `${NS}/default/secrets/db/secrets/db`, 'get secrets default/db', 'forward', 'resource and name twice');
add('duplicates', `${NS}/default/pods/web-0/exec/exec`, 'get pods/exec default/web-0', 'forward', 'subresource twice');
add('duplicates', `${NS}/namespaces/secrets`, 'list secrets in namespace "namespaces"', 'forward', 'namespace named namespaces');
add('duplicates', `${NS}/secrets/secrets`, 'list secrets in namespace "secrets"', 'forward', 'namespace named secrets');
add('duplicates', `${NS}/default/status`, 'get namespaces/status default', 'forward', 'namespace subresource status');
add('duplicates', `${NS}/default/finalize`, 'get namespaces/finalize default', 'forward', 'namespace subresource finalize');
add('duplicates', '/api/v1/watch/namespaces/default/secrets', 'watch secrets default', 'forward', 'deprecated /watch/ prefix');
add('duplicates', '/api/v1/watch/namespaces/default/secrets/db', 'watch secrets default/db', 'forward', '/watch/ on a name');
add(
  'duplicates',
  '/api/v1/watch/namespaces/scratch',
  'delete namespaces scratch',
  'either',
  'DELETE under /watch/: the API server authorizes it as verb watch',
);
add(
  'duplicates',
  '/api/v1/proxy/namespaces/default/pods/web-0',
  'proxy pods default/web-0',
  'either',
  'deprecated /proxy/ prefix: the API server reads verb proxy on pods web-0',
);
add('duplicates', '/api/v1/watch', 'watch (nothing)', 'either', '/watch/ without a resource: the API server errors');
add(
  'duplicates',
  `${NS}/default/pods/web-0/proxy/api/v1/namespaces/kube-system/secrets`,
  'get pods/proxy default/web-0',
  'forward',
  'an API path inside a proxy path',
);

// Query tricks: what the API server reads as a watch, a follow or a name.
const SECRETS = `${NS}/default/secrets`;
const q = (query: string, aims: string, must: Must, why: string, base = SECRETS) => add('query', `${base}?${query}`, aims, must, why);
q('watch=yes', 'watch secrets default', 'forward', '"yes" is true to the API server');
q('watch=', 'watch secrets default', 'forward', 'an empty value is true');
q('watch', 'watch secrets default', 'forward', 'a bare key is true');
q('watch=TRUE', 'watch secrets default', 'forward', 'case does not matter');
q('watch=True', 'watch secrets default', 'forward', 'case does not matter');
q('watch=FALSE', 'list secrets default', 'forward', 'any case of false is false');
q('watch=fAlSe', 'list secrets default', 'forward', 'any case of false is false');
q('watch=0', 'list secrets default', 'forward', '"0" is false');
q('watch=00', 'watch secrets default', 'forward', '"00" is true');
q('watch=%30', 'list secrets default', 'forward', 'escaped "0"');
q('watch=fal%73e', 'list secrets default', 'forward', 'escaped "false"');
q('watch=no', 'watch secrets default', 'forward', '"no" is true');
q('watch=off', 'watch secrets default', 'forward', '"off" is true');
q('watch=+0', 'watch secrets default', 'forward', '"+0" reads " 0": true');
q('watch=0+', 'watch secrets default', 'forward', '"0 " is true');
q('watch=false+', 'watch secrets default', 'forward', '"false " is true');
q('watch=%20false', 'watch secrets default', 'forward', '" false" is true');
q('watch=0&watch=1', 'list secrets default', 'either', 'the API server reads the first value');
q('watch=1&watch=0', 'watch secrets default', 'either', 'the API server reads the first value');
q('watch=false&watch=true', 'list secrets default', 'either', 'repeated watch');
q('watch=false;watch=true', 'list secrets default', 'refuse', 'Go drops a pair with ";" (list); URLSearchParams reads watch="false;watch=true" (watch)');
q('watch=true;', 'list secrets default', 'refuse', 'trailing ; drops the pair in Go');
q('a=1;watch=true', 'list secrets default', 'refuse', '; as a separator');
q('%77atch=true', 'watch secrets default', 'forward', 'escaped key: Go decodes keys');
q('w%61tch=1', 'watch secrets default', 'forward', 'escaped key');
q('Watch=true', 'list secrets default', 'forward', 'keys are case-sensitive');
q('WATCH=1', 'list secrets default', 'forward', 'keys are case-sensitive');
q('watch%3Dtrue', 'list secrets default', 'forward', 'escaped =: the key is "watch=true"');
q('watch[]=true', 'list secrets default', 'either', 'PHP-style key is another key ([ ] are not pchar)');
q('watch=%zz', 'list secrets default', 'refuse', 'Go drops a pair with a bad escape (list); URLSearchParams keeps "%zz" (watch)');
q('watch=true%', 'list secrets default', 'refuse', 'truncated escape');
q('%zz=1&watch=true', 'watch secrets default', 'refuse', 'bad escape in another key');
q('watch=tr%75e', 'watch secrets default', 'forward', 'escaped "true"');
q('watch=1%00', 'watch secrets default', 'either', 'NUL in a value (refused: decided values are printable ASCII)');
q('watch=true?watch=false', 'watch secrets default', 'forward', 'a second ? is data');
q('&&watch=true', 'watch secrets default', 'forward', 'empty pairs are skipped');
q('&&', 'list secrets default', 'either', 'only empty pairs');
q('&', 'list secrets default', 'either', 'one empty pair');
q('', 'list secrets default', 'either', 'empty query after ?');
q('=x', 'list secrets default', 'either', 'empty key');
q('=', 'list secrets default', 'either', 'empty key and value');
q('watch=true&=x', 'watch secrets default', 'either', 'empty key after watch');
q('labelSelector=a&labelSelector=b', 'list secrets default', 'either', 'repeated labelSelector: the API server reads a');
q('labelSelector=a%3Db,c', 'list secrets default', 'forward', 'raw comma in a selector');
q('labelSelector=a+in+(b,c)', 'list secrets default', 'forward', '+ as space in a selector');
q('fieldSelector=metadata.name%3Ddb', 'list secrets default/db', 'forward', 'the API server authorizes this list as name db');
q('fieldSelector=metadata.name%3D%3Ddb', 'list secrets default/db', 'forward', '== also pins the name');
q('fieldSelector=metadata.name=db', 'list secrets default/db', 'forward', 'raw = inside the value');
q('fieldSelector=metadata.name%21%3Ddb', 'list secrets default', 'forward', '!= does not pin a name');
q('fieldSelector=metadata.name%3Dzz,metadata.name%3Ddb', 'list secrets default/db', 'either', 'two names: Go sorts the terms and takes db');
q('fieldSelector=metadata.name%3Ddb,metadata.namespace%3Ddefault', 'list secrets default/db', 'forward', 'name and namespace');
q('fieldSelector=metadata.namespace%3Ddefault,metadata.name%3Ddb', 'list secrets default/db', 'forward', 'namespace first');
q('fieldSelector=metadata.name%3Ddb&fieldSelector=metadata.name%3Dother', 'list secrets default/db', 'either', 'repeated fieldSelector');
q('fieldSelector=metadata.name%3D..', 'list secrets default', 'forward', '.. is not a valid name: no name');
q('fieldSelector=metadata.name%3Dd%252fb', 'list secrets default', 'forward', '% in the name: no name');
q('fieldSelector=metadata.name%3Dd%5C%2Cb', 'list secrets default/d,b', 'either', 'escaped comma in a field selector value');
q('fieldSelector=metadata.name%3Dd%5Cb', 'list secrets default', 'either', 'invalid \\ escape: the selector does not parse');
q('fieldSelector=metadata.name%3Ddb&limit=x', 'list secrets default', 'either', 'limit does not decode: the API server drops the name');
q('watch=fal%c5%bfe&limit=x', 'watch secrets default', 'either', 'decode error: the fallback lower-cases instead of EqualFold');
q('watch=0&limit=x', 'list secrets default', 'either', 'decode error keeps watch=0 a list (refused: limit must be an integer)');
q('fieldSelector=metadata.name%3Ddb&watch=1', 'watch secrets default/db', 'forward', 'a watch pinned to one name');
q('dryRun=All&dryRun=', 'delete secrets default/db', 'either', 'repeated dryRun', `${SECRETS}/db`);
q('gracePeriodSeconds=0&gracePeriodSeconds=30', 'delete pods prod/web-0', 'either', 'repeated grace period', `${NS}/prod/pods/web-0`);
q('follow=t', 'get pods/log prod/web-0 (follow)', 'forward', '"t" is true: a followed log stream', `${NS}/prod/pods/web-0/log`);
q('follow=', 'get pods/log prod/web-0 (follow)', 'forward', 'an empty follow is true', `${NS}/prod/pods/web-0/log`);
q('follow=0', 'get pods/log prod/web-0', 'forward', 'follow=0 is false', `${NS}/prod/pods/web-0/log`);
q('follow=false&follow=true', 'get pods/log prod/web-0', 'either', 'repeated follow', `${NS}/prod/pods/web-0/log`);
q('container=web&container=sidecar', 'get pods/log prod/web-0', 'either', 'repeated container', `${NS}/prod/pods/web-0/log`);
q("x='y'", 'list secrets default', 'either', "quotes in the query (WHATWG URL escapes ' in a query)");
q('x="y"', 'list secrets default', 'refuse', 'double quote must be escaped');
q('x=<y>', 'list secrets default', 'refuse', 'angle brackets must be escaped');
q('x={y}', 'list secrets default', 'refuse', 'braces must be escaped');
q('x=a|b', 'list secrets default', 'refuse', 'pipe must be escaped');
q('x=a^b', 'list secrets default', 'refuse', 'caret must be escaped');
q('x=`y`', 'list secrets default', 'refuse', 'backtick must be escaped');
q('x=a[0]', 'list secrets default', 'either', 'brackets in the query');
q("x='y'&z=@", 'list secrets default', 'either', "' and @ in the query: url.parse escapes ' on its slow path");
add(
  'encodings',
  `${NS}/default/configmaps/a'b@c`,
  "get configmaps default/a'b@c",
  'either',
  "' and @ in the path: url.parse (http-proxy) escapes ' when @ is present",
);
add('encodings', `${NS}/default/configmaps/a%27b`, "get configmaps default/a'b", 'either', "escaped ' is decoded and re-serialised raw");
add('encodings', `${NS}/default/configmaps/x@y%27z`, "get configmaps default/x@y'z", 'either', "@ then escaped '");

// Absolute-form, authority-form, asterisk-form, and no leading slash.
add('absolute-form', 'http://evil/api/v1/pods', 'list pods', 'refuse', "absolute-form: the host is the client's choice");
add('absolute-form', 'https://127.0.0.1/api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'absolute-form to loopback');
add('absolute-form', 'http://evil/api/v1/namespaces/default/secrets/db', 'get secrets default/db', 'refuse', 'absolute-form to a Secret');
add('absolute-form', 'HTTP://EVIL/api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'upper-case scheme');
add('absolute-form', 'http://evil', 'non-resource /', 'refuse', 'absolute-form without a path');
add('absolute-form', 'http:/api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'scheme with a path, no authority');
add('absolute-form', 'evil:443', 'nothing', 'refuse', 'authority-form (CONNECT only)');
add('absolute-form', 'api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'no leading slash');
add('absolute-form', 'x/../api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'relative reference');
add('asterisk', '*', 'nothing', 'refuse', 'asterisk-form (OPTIONS only)');
add('asterisk', '*/api/v1/namespaces/scratch', 'delete namespaces scratch', 'refuse', 'asterisk before a path');
add('asterisk', '/api/v1/namespaces/*', 'delete namespaces *', 'either', '* as a name (no wildcard in the API)');
add('asterisk', `${NS}/default/secrets/*`, 'get secrets default/*', 'either', '* as a Secret name');

export const CORPUS: readonly CorpusEntry[] = out;

/**
 * Upgrades: exec, attach and port-forward paths built from the corpus's
 * separator, dot, encoding, fragment and Unicode tricks, each aimed at a pod
 * in prod; plus WebSocket watches (the tunnel).
 */
export interface UpgradeEntry {
  id: string;
  target: string;
  kind: 'exec' | 'attach' | 'portforward' | 'watch';
  aims: string;
  must: Must;
  why: string;
}

const EXEC_Q = 'command=sh&stdout=1';
const upgrades: UpgradeEntry[] = [];
let u = 0;
const up = (kind: UpgradeEntry['kind'], target: string, aims: string, must: Must, why: string): void => {
  u++;
  upgrades.push({ id: `upgrade-${String(u).padStart(3, '0')}`, kind, target, aims, must, why });
};
const subQuery = { exec: EXEC_Q, attach: 'stdout=1', portforward: 'ports=8080' } as const;
for (const kind of ['exec', 'attach', 'portforward'] as const) {
  const qs = subQuery[kind];
  const aims = `${kind} pods prod/web-0`;
  up(kind, `${NS}/prod/pods/web-0/${kind}?${qs}`, aims, 'forward', 'canonical');
  up(kind, `${NS}/default\\..\\prod/pods/web-0/${kind}?${qs}`, aims, 'refuse', 'issue row 5: WHATWG URL resolves \\..\\');
  up(kind, `${NS}/default/../prod/pods/web-0/${kind}?${qs}`, aims, 'refuse', '.. segment');
  up(kind, `${NS}/default/%2e%2e/prod/pods/web-0/${kind}?${qs}`, aims, 'refuse', 'escaped .. (WHATWG URL resolves it)');
  up(kind, `${NS}/default%2f..%2fprod/pods/web-0/${kind}?${qs}`, aims, 'refuse', 'encoded slashes around ..');
  up(kind, `${NS}\\prod/pods/web-0/${kind}?${qs}`, aims, 'refuse', 'backslash');
  up(kind, `${NS}/prod/pods/web-0/${kind}#?${qs}`, aims, 'refuse', 'fragment before the query');
  up(kind, `${NS}/prod/pods/web-0%2f${kind}?${qs}`, aims, 'refuse', 'encoded slash before the subresource');
  up(kind, `${NS}/prod/pods/web-0/${kind}/?${qs}`, aims, 'either', 'one trailing slash');
  up(kind, `//evil.example${NS}/prod/pods/web-0/${kind}?${qs}`, aims, 'refuse', 'network-path reference');
}
up('exec', `${NS}/prod/pods/web-0/%65xec?${EXEC_Q}`, 'exec pods prod/web-0', 'forward', 'escaped subresource');
up('exec', `${NS}/prod/pods/web-0/\uff45xec?${EXEC_Q}`, 'exec pods prod/web-0', 'refuse', 'fullwidth e');
up('exec', `${NS}/prod/pods/web-0/exec?command=sh&stdout=1&container=web&container=sidecar`, 'exec pods prod/web-0', 'either', 'repeated container');
up('exec', `${NS}/prod/pods/web-0/exec?command=sh;stdout=1`, 'exec pods prod/web-0', 'refuse', '; in the query');
up('exec', `${NS}/prod/pods/web-0/exec?command=sh&stdout=1&x='y'`, 'exec pods prod/web-0', 'either', "' in the query (WHATWG URL escapes it)");
up('exec', `${NS}/prod/pods/web-0/exec?command=sh&stdout=1&tty=%zz`, 'exec pods prod/web-0', 'refuse', 'bad escape in the query');
up('exec', `http://evil${NS}/prod/pods/web-0/exec?${EXEC_Q}`, 'exec pods prod/web-0', 'refuse', 'absolute-form');
const WATCH = `${NS}/default/configmaps`;
up('watch', `${WATCH}?watch=true`, 'watch configmaps default', 'forward', 'canonical WebSocket watch');
up('watch', `${WATCH}?watch=yes`, 'watch configmaps default', 'forward', '"yes" is a watch');
up('watch', `${NS}/default\\secrets?watch=true`, 'watch secrets default', 'refuse', 'backslash (a tunnel cannot be masked)');
up('watch', `${NS}/default/%73ecrets?watch=true`, 'watch secrets default', 'either', 'escaped s: must be decided as secrets');
up('watch', `${NS}/default/configmaps/../secrets?watch=true`, 'watch secrets default', 'refuse', '.. into secrets');
up('watch', `${NS}/default/configmaps#/../secrets?watch=true`, 'watch secrets default', 'refuse', 'fragment');
up('watch', `${WATCH}?watch=false;watch=true`, 'watch configmaps default', 'refuse', '; in the query');
up('watch', `${WATCH}?watch=fal%c5%bfe`, 'list configmaps default', 'either', 'EqualFold false');
up('watch', `/api/v1/watch/namespaces/default/configmaps`, 'watch configmaps default', 'forward', '/watch/ prefix');

export const UPGRADE_CORPUS: readonly UpgradeEntry[] = upgrades;
