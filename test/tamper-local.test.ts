// Issue 12 items 1, 2, 3 and 6 for the local store: every tampering an
// attacker with write access to the data dir could try is named by
// `kubetape verify --all` (exit 2), and an untampered store, a store a kill -9
// interrupted, and the same store after the restart that sealed it verify
// clean. Sessions are recorded by the real `kubetape serve` (built CLI: `npm
// run build` first) and the real kubectl; one serve is killed with SIGKILL
// while a watch is open and left a zombie (its parent does not reap it), and
// the restart must take over regardless. Each tampering is applied to a copy
// of the data dir.
import t from 'tap';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startFakeApiServer } from './fake-apiserver/index.js';
import { kubectl, spawnKubectl, writeKubeconfig } from './helpers/kubectl.js';
import { processStartTime, processState } from '../src/store/process-identity.js';
import { LocalStore } from '../src/store/local/local-store.js';
import { loadCheckpointKey } from '../src/store/local/index-chain.js';
import { newSessionId } from '../src/store/store.js';
import type { RecordEvent, SessionStartEvent } from '../src/model/recording.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../bin/kubetape.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}
async function cli(args: string[]): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kubetape-tamper-'));
const children: ChildProcess[] = [];
/** kubetape's own pids: in zombie mode it is not our child, so killing its holder would leave it running. */
const servePids: Array<{ pid: number; started: string | undefined }> = [];
t.teardown(() => {
  for (const { pid, started } of servePids) {
    if (started === undefined || processStartTime(pid) !== started) continue; // gone, or the pid is someone else's now
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (!process.env['KUBETAPE_TEST_KEEP']) rmSync(dir, { recursive: true, force: true });
});

const data = join(dir, 'data');
// The key lives outside the data dir, as the operator would keep it.
const keyFile = join(dir, 'checkpoint.key');
writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
writeFileSync(join(dir, 'tokens.csv'), 'alice-token,alice,1001,dev\nbob-token,bob,1002,dev\n', { mode: 0o600 });

interface Serve {
  pid: number;
  url: string;
  /** The process to kill to stop it (kubetape itself, or its non-reaping parent). */
  holder: ChildProcess;
}

/**
 * `kubetape serve --config cfg`. With `zombie`, kubetape runs as the child of
 * a shell that execs `sleep`: nothing reaps it, so after kill -9 its pid stays
 * a zombie (kill(pid, 0) succeeds, its start time still matches).
 */
async function serve(cfg: string, log: string, zombie = false): Promise<Serve> {
  const holder = zombie
    ? spawn('sh', ['-c', '"$0" "$1" serve --config "$2" >"$3" 2>&1 & echo $!; exec sleep 600', process.execPath, BIN, cfg, log], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
    : spawn('sh', ['-c', 'echo $$; exec "$0" "$1" serve --config "$2" >"$3" 2>&1', process.execPath, BIN, cfg, log], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(holder);
  const pid = await new Promise<number>((res) => holder.stdout.once('data', (c: Buffer) => res(Number(c.toString().trim()))));
  servePids.push({ pid, started: processStartTime(pid) });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const out = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const m = /listening on\s+(https:\/\/\S+)/.exec(out);
    if (m && /recordings in/.test(out)) return { pid, url: m[1], holder };
    if (Date.now() > deadline || (!zombie && holder.exitCode !== null)) throw new Error(`serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitFor<T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- reading and changing a data dir, as an attacker with a shell would ----

type Rec = Record<string, unknown> & { kind?: string; id?: string };
const indexPath = (d: string): string => join(d, 'recordings', 'index.ndjson');
const indexText = (d: string): string[] =>
  readFileSync(indexPath(d), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
const indexRecs = (d: string): Rec[] =>
  indexText(d).flatMap((l) => {
    try {
      return [JSON.parse(l) as Rec];
    } catch {
      return []; // torn
    }
  });
const writeIndex = (d: string, lines: string[]): void => writeFileSync(indexPath(d), lines.map((l) => l + '\n').join(''));
function sessionFile(d: string, id: string): string {
  for (const day of readdirSync(join(d, 'recordings', 'sessions'))) {
    const p = join(d, 'recordings', 'sessions', day, `${id}.ndjson`);
    if (existsSync(p)) return p;
  }
  throw new Error(`no file for ${id}`);
}
const fileLines = (p: string): string[] =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
const writeLines = (p: string, lines: string[]): void => writeFileSync(p, lines.map((l) => l + '\n').join(''));
const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
/** Recomputes a hash chain the way kubetape writes it: what an attacker without the key can do. */
function rechain(lines: string[]): string[] {
  let prev = '0'.repeat(64);
  return lines.map((l) => {
    const out = l.replace(/"prevSha256":"[0-9a-f]{64}"\}$/, `"prevSha256":"${prev}"}`);
    prev = sha(out);
    return out;
  });
}
/** Edits the JSON of a line, keeping its key order and its chain field. */
function editLine(line: string, edit: (o: Rec) => void): string {
  const o = JSON.parse(line) as Rec;
  edit(o);
  return JSON.stringify(o);
}

// ---- record: the sessions every case starts from ----

const api = await startFakeApiServer();
t.teardown(() => api.close());
api.objects.put({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'default' },
  spec: { containers: [{ name: 'app', image: 'busybox:1.36' }] },
});
api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
const upstream = writeKubeconfig(dir, { server: api.url, ca: api.ca, token: 'admin-token', name: 'dev-cluster', namespace: 'default' });
const cfg = join(dir, 'kubetape.yaml');
writeFileSync(
  cfg,
  [
    `kubeconfig: ${upstream}`,
    `dataDir: ${data}`,
    'listen: 127.0.0.1:0',
    'adminListen: 127.0.0.1:0',
    'tokenFile: tokens.csv',
    'recording:',
    '  sessionIdleSeconds: 1',
    '  checkpointKeyFile: checkpoint.key',
    '  checkpointAnchorFile: anchors.ndjson',
    '  checkpointSeconds: 1',
    'policy:',
    '  rules:',
    '    - name: no-namespace-deletion',
    '      match: {verb: delete, resource: namespaces}',
    '      action: deny',
    '      message: namespaces are deleted through GitOps',
    '',
  ].join('\n'),
);
const kc = (s: Serve, user: 'alice' | 'bob'): string =>
  writeKubeconfig(dir, { server: s.url, ca: readFileSync(join(data, 'ca.crt'), 'utf8'), token: `${user}-token`, name: `kt-${user}`, namespace: 'default' });
const starts = (): Rec[] => (existsSync(indexPath(data)) ? indexRecs(data).filter((r) => r.kind === 'start') : []);
const ended = (id: string): boolean => indexRecs(data).some((r) => r.kind === 'end' && r.id === id);
/** The id of the nth session `user` ran `command` in (kubectl's dispatcher adds sessions of its own: found by what they are, not by position). */
const sessionOf = (user: string, command: string, nth = 0): string | undefined =>
  starts().filter((r) => (r['start'] as { user: string; command?: string }).user === user && (r['start'] as { command?: string }).command === command)[nth]?.id;
const allEnded = (): boolean => starts().every((r) => ended(r.id!));

let S1 = '';
let S2 = '';
let S3 = '';
let S4 = '';
let S5 = '';
const crashed = join(dir, 'crashed');

t.test('record: five sessions, one interrupted by kill -9 and sealed by the restart', async (t) => {
  const first = await serve(cfg, join(dir, 'serve-1.log'), true);
  // S1: alice execs into web-0 (replayable); S2: alice tries to delete a namespace (refused by policy); S3: bob lists namespaces.
  let r = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo hello from web-0'], { kubeconfig: kc(first, 'alice') });
  t.equal(r.code, 0, r.stderr);
  S1 = await waitFor('S1', () => sessionOf('alice', 'kubectl exec'));
  r = await kubectl(['delete', 'namespace', 'prod'], { kubeconfig: kc(first, 'alice') });
  t.not(r.code, 0, `the policy refused the delete: ${r.stderr}`);
  t.match(r.stderr, /GitOps/);
  S2 = await waitFor('S2', () => sessionOf('alice', 'kubectl delete'));
  r = await kubectl(['get', 'namespaces'], { kubeconfig: kc(first, 'bob') });
  t.equal(r.code, 0, r.stderr);
  S3 = await waitFor('S3', () => sessionOf('bob', 'kubectl get'));
  await waitFor('every session so far ended', allEnded);
  // S4: alice watches pods; kubetape is killed (SIGKILL) with it open, after a periodic checkpoint recorded its head.
  const watch = spawnKubectl(['get', 'pods', '-w'], { kubeconfig: kc(first, 'alice'), timeoutMs: 120_000 });
  S4 = await waitFor('S4', () => sessionOf('alice', 'kubectl get'));
  const watchLine = await waitFor('the watch recorded', () => {
    const n = fileLines(sessionFile(data, S4)).findIndex((l) => l.includes('"type":"request"') && l.includes('watch=true'));
    return n >= 0 ? n + 1 : undefined;
  });
  await waitFor('a checkpoint holding the watch', () =>
    indexRecs(data).some(
      (x) => x.kind === 'checkpoint' && (x['open'] as Array<{ id: string; lines: number }>).some((o) => o.id === S4 && o.lines >= watchLine),
    ),
  );
  process.kill(first.pid, 'SIGKILL');
  await waitFor('the killed serve to be a zombie', () => processState(first.pid) === 'Z', 5000);
  watch.child.kill('SIGKILL');
  await watch.done.catch(() => undefined);
  cpSync(data, crashed, { recursive: true });

  // The restart takes over although the dead owner's pid is a zombie, and seals S4.
  const second = await serve(cfg, join(dir, 'serve-2.log'));
  t.equal(processState(first.pid), 'Z', 'the first serve is still a zombie while the second one runs');
  const seal = await waitFor('S4 sealed', () => indexRecs(data).find((x) => x.kind === 'seal' && x.id === S4));
  t.ok((seal['lines'] as number) >= watchLine, 'the seal records the lines S4 had');
  // S5: bob, after the restart, so the sealed session is not the last thing in the store.
  r = await kubectl(['get', 'pods'], { kubeconfig: kc(second, 'bob') });
  t.equal(r.code, 0, r.stderr);
  S5 = await waitFor('S5', () => sessionOf('bob', 'kubectl get', 1));
  await waitFor('S5 ended', () => ended(S5));
  await waitFor('every session since the restart ended', () =>
    starts().every((x) => ended(x.id!) || x.id === S4 || indexRecs(data).some((y) => y.kind === 'seal' && y.id === x.id)),
  );
  second.holder.kill('SIGTERM');
  await new Promise((res) => second.holder.once('exit', res));
  first.holder.kill('SIGKILL'); // the zombie's parent: the zombie is reaped with it
});

const verify = (d: string, ...more: string[]): Promise<CliResult> => cli(['verify', '--all', '--data-dir', d, '--checkpoint-key', keyFile, ...more]);
let copies = 0;
const copy = (from = data): string => {
  const to = join(dir, `copy-${++copies}`);
  cpSync(from, to, { recursive: true });
  return to;
};

t.test('untampered, the store verifies clean and says how far back it is anchored', async (t) => {
  const v = await verify(data);
  t.equal(v.code, 0, v.stdout + v.stderr);
  t.match(v.stdout, new RegExp(`all ${starts().length} recordings intact`));
  t.match(v.stdout, new RegExp(`${S4}  intact  interrupted \\(sealed\\)`));
  t.match(v.stdout, /anchor: anchored by the checkpoint signed at \S+ \(index line \d+, key [0-9a-f]{16}\)/);
  const noKey = await cli(['verify', '--all', '--data-dir', data]);
  t.equal(noKey.code, 0, 'without the key the chains still verify');
  t.match(noKey.stdout, /anchor: checkpoints are signed \(key [0-9a-f]{16}\) but no key was given.*only as strong as the data dir's protection/);
  const lists = JSON.parse((await cli(['sessions', 'list', '--json', '--data-dir', data])).stdout) as Array<{ id: string; state: string; user: string }>;
  const state = (id: string) => lists.find((s) => s.id === id)?.state;
  t.same([S1, S2, S3, S4, S5].map(state), ['ended', 'ended', 'ended', 'interrupted', 'ended']);
  t.equal(lists.length, starts().length, 'every session is listed');
  const show = await cli(['sessions', 'show', S1, '--data-dir', data]);
  t.equal(show.code, 0);
  t.notMatch(show.stderr, /WARNING/, 'nothing to warn about');
});

t.test('interrupted by kill -9 and not yet restarted, the store verifies clean; the tail is checked against the checkpoints', async (t) => {
  const v = await verify(crashed);
  t.equal(v.code, 0, v.stdout + v.stderr);
  t.match(v.stdout, new RegExp(`${S4}  intact  interrupted, \\d+ lines.*not sealed yet`));
  // Cutting the interrupted session's tail below the last checkpoint's head is named even before any restart.
  const c = copy(crashed);
  const f = sessionFile(c, S4);
  const cps = indexRecs(c)
    .filter((x) => x.kind === 'checkpoint')
    .flatMap((x) => (x['open'] as Array<{ id: string; lines: number }>).filter((o) => o.id === S4));
  const recorded = Math.max(...cps.map((o) => o.lines));
  writeLines(f, fileLines(f).slice(0, recorded - 1));
  const cut = await verify(c);
  t.equal(cut.code, 2);
  t.match(
    cut.stdout,
    new RegExp(
      `${S4}  BROKEN  .*has ${recorded - 1} lines; the checkpoint of \\S+ \\(index.ndjson line \\d+\\) recorded ${recorded}: line ${recorded} on were cut`,
    ),
  );
});

interface Case {
  name: string;
  tamper: (d: string) => void;
  /** What verify must say (each must match its stdout); a function, as the session ids are known only once recorded. */
  says: () => RegExp[];
}

const CASES: Case[] = [
  {
    name: "a session's user rewritten in index.ndjson (alice becomes mallory)",
    tamper: (d) =>
      writeIndex(
        d,
        indexText(d).map((l) => (l.includes(`"kind":"start","id":"${S1}"`) ? l.replace('"user":"alice"', '"user":"mallory"') : l)),
      ),
    says: () => [
      new RegExp(
        `${S1}  BROKEN  index.ndjson line \\d+ \\(its start\\) differs from its file's first line: user is "mallory" in the index, "alice" in the file`,
      ),
      /index {2}BROKEN {2}index.ndjson line \d+ does not follow line \d+/,
    ],
  },
  {
    name: 'the end summary edited in the index (the refused delete disappears from --refused)',
    tamper: (d) =>
      writeIndex(
        d,
        indexText(d).map((l) =>
          l.includes(`"kind":"end","id":"${S2}"`)
            ? editLine(l, (o) => {
                const s = (o['end'] as { summary: Record<string, unknown> }).summary;
                delete s['guardrails'];
                s['errors'] = 0;
              })
            : l,
        ),
      ),
    says: () => [
      new RegExp(`${S2}  BROKEN  index.ndjson line \\d+ \\(its end\\) differs from \\S+ line \\d+: summary\\.errors is 0 in the index, \\d+ in the file`),
      /index {2}BROKEN {2}index.ndjson line \d+ does not follow/,
    ],
  },
  {
    name: 'the end summary edited in the file and the index, both chains recomputed (no key)',
    tamper: (d) => {
      const unrefuse = (o: Rec): void => {
        const s = ((o['end'] as Rec | undefined) ?? o)['summary'] as Record<string, unknown>;
        delete s['guardrails'];
      };
      const f = sessionFile(d, S2);
      const lines = fileLines(f);
      lines[lines.length - 1] = editLine(lines[lines.length - 1], unrefuse);
      const rechained = rechain(lines);
      writeLines(f, rechained);
      const head = sha(rechained[rechained.length - 1]);
      writeIndex(
        d,
        rechain(indexText(d).map((l) => (l.includes(`"kind":"end","id":"${S2}"`) ? editLine(l, (o) => (unrefuse(o), (o['headSha256'] = head))) : l))),
      );
    },
    says: () => [
      new RegExp(`${S2}  BROKEN  .*the end summary \\(\\S+ line \\d+\\) counts 0 denied by guardrails, its events hold 1: the summary was changed`),
      /index {2}BROKEN {2}index.ndjson line \d+ \(checkpoint of \S+\) does not verify with the checkpoint key/,
    ],
  },
  {
    name: "a session's end line removed from the index, then lines cut from its file",
    tamper: (d) => {
      writeIndex(
        d,
        indexText(d).filter((l) => !l.includes(`"kind":"end","id":"${S1}"`)),
      );
      const f = sessionFile(d, S1);
      writeLines(f, fileLines(f).slice(0, -2));
    },
    says: () => [
      new RegExp(
        `${S1}  BROKEN  kubetape started again at \\S+ \\(index.ndjson line \\d+\\) and would have sealed it, but the index holds no end or seal line for it: removed`,
      ),
      new RegExp(`${S1}  BROKEN  .*line \\d+ on were cut`),
      /index {2}BROKEN {2}index.ndjson line \d+ does not follow line \d+: index lines were removed/,
    ],
  },
  {
    name: "a session's lines and headSha256 removed from its index end line, then lines cut from its file",
    tamper: (d) => {
      writeIndex(
        d,
        indexText(d).map((l) => (l.includes(`"kind":"end","id":"${S3}"`) ? editLine(l, (o) => (delete o['lines'], delete o['headSha256'])) : l)),
      );
      const f = sessionFile(d, S3);
      writeLines(f, fileLines(f).slice(0, -1));
    },
    says: () => [new RegExp(`${S3}  BROKEN  .*does not end with its end event`), /index {2}BROKEN {2}index.ndjson line \d+ does not follow/],
  },
  {
    name: 'the tail of the session interrupted by kill -9 cut after it was sealed',
    tamper: (d) => {
      const f = sessionFile(d, S4);
      writeLines(f, fileLines(f).slice(0, -1));
    },
    says: () => [new RegExp(`${S4}  BROKEN  \\S+ has \\d+ lines; it was sealed after a crash at \\d+ \\(index.ndjson line \\d+\\): line \\d+ on were cut`)],
  },
  {
    name: 'a whole session deleted (its file and its index lines)',
    tamper: (d) => {
      unlinkSync(sessionFile(d, S3));
      writeIndex(
        d,
        indexText(d).filter((l) => !l.includes(`"id":"${S3}"`)),
      );
    },
    says: () => [
      new RegExp(`${S3}  BROKEN  session ${S3} is missing: session \\S+'s file names it as the session started before it`),
      /index {2}BROKEN {2}index.ndjson line \d+ does not follow/,
    ],
  },
  {
    name: 'a whole session deleted, and the index chain recomputed without the key',
    tamper: (d) => {
      unlinkSync(sessionFile(d, S3));
      writeIndex(d, rechain(indexText(d).filter((l) => !l.includes(`"id":"${S3}"`) && !l.includes('"kind":"checkpoint"'))));
    },
    says: () => [
      new RegExp(`${S3}  BROKEN  session ${S3} is missing`),
      /\S+ {2}BROKEN {2}its file's first line says it started after index.ndjson line \d+ \(hash [0-9a-f]{12}…\); the index has (another line there|no such line)/,
      /index {2}BROKEN {2}the index holds no checkpoint, though kubetape writes one whenever it starts: they were removed/,
    ],
  },
  {
    name: 'index.ndjson deleted',
    tamper: (d) => unlinkSync(indexPath(d)),
    says: () => [
      /index {2}BROKEN {2}index.ndjson is missing, and \d+ session files are on disk: the index was deleted/,
      new RegExp(`${S1}  BROKEN  not in the index`),
      new RegExp(`${S5}  BROKEN  not in the index`),
    ],
  },
  {
    name: 'a line in the middle of a session file edited',
    tamper: (d) => {
      const f = sessionFile(d, S3);
      const lines = fileLines(f);
      lines[1] = lines[1].replace('"method":"GET"', '"method":"DELETE"');
      writeLines(f, lines);
    },
    says: () => [new RegExp(`${S3}  BROKEN  \\S+ line 3 does not follow line 2: line 2 was changed`)],
  },
  {
    name: 'a line appended after a session ended',
    tamper: (d) =>
      appendFileSync(
        sessionFile(d, S5),
        fileLines(sessionFile(d, S5))
          .slice(-1)[0]
          .replace(/"prevSha256":"[0-9a-f]{64}"/, `"prevSha256":"${sha(fileLines(sessionFile(d, S5)).slice(-1)[0])}"`) + '\n',
      ),
    says: () => [new RegExp(`${S5}  BROKEN  \\S+ line \\d+ follows the session's end \\(added\\)`)],
  },
];

t.test('every tampering makes verify --all exit 2 naming what changed', async (t) => {
  for (const c of CASES) {
    const d = copy();
    c.tamper(d);
    const v = await verify(d);
    t.equal(v.code, 2, `${c.name}: exit 2\n${v.stdout}${v.stderr}`);
    for (const re of c.says()) t.match(v.stdout, re, `${c.name}: says ${re.source}`);
    t.match(v.stderr, /^kubetape: .*failed verification|^kubetape: .*problem/, `${c.name}: one line on stderr`);
  }
});

t.test('the user rewrite fools sessions list, and show, replay and export warn about it', async (t) => {
  const d = copy();
  CASES[0].tamper(d);
  const alice = JSON.parse((await cli(['sessions', 'list', '--json', '--user', 'alice', '--data-dir', d])).stdout) as Array<{ id: string }>;
  t.notOk(
    alice.some((s) => s.id === S1),
    'the index is the read path: --user alice no longer finds S1 (so verify must)',
  );
  for (const args of [
    ['sessions', 'show', S1],
    ['replay', S1, '--no-wait'],
    ['export', S1, '--format', 'asciicast'],
  ]) {
    const out = await cli([...args, '--data-dir', d]);
    t.equal(out.code, 0, `${args[0]}: still shows what is there`);
    t.match(
      out.stderr,
      new RegExp(
        `^kubetape: WARNING: session ${S1} does not verify: index.ndjson line \\d+ \\(its start\\) differs from its file's first line: user is "mallory"`,
        'm',
      ),
      `${args[0]} warns`,
    );
  }
  const clean = await cli(['replay', S1, '--no-wait', '--data-dir', data]);
  t.equal(clean.code, 0);
  t.match(clean.stdout, /hello from web-0/);
  t.equal(clean.stderr, '', 'no warning for an intact session');
});

t.test('an older copy of the data dir put back in place is named from the anchor file kept outside it', async (t) => {
  const anchors = join(dir, 'anchors.ndjson');
  t.ok(fileLines(anchors).length >= 2, 'both serves appended their checkpoints to the anchor file');
  const now = await verify(data, '--anchor-file', anchors);
  t.equal(now.code, 0, now.stdout + now.stderr);
  t.match(now.stdout, /anchor: .*; the anchor file \S+ confirms the index reached line \d+ at \S+/);
  // The copy taken after the kill -9 is consistent in itself (it verifies clean without the anchor file): a rollback.
  const back = copy(crashed);
  t.equal((await verify(back)).code, 0, 'on its own the older copy verifies');
  const v = await verify(back, '--anchor-file', anchors);
  t.equal(v.code, 2, v.stdout + v.stderr);
  t.match(
    v.stdout,
    /index {2}BROKEN {2}index.ndjson has \d+ lines; the anchor file \S+ recorded a checkpoint at line \d+ \(\S+\): the data dir was put back to an older copy, or the index was cut/,
  );
  // kubetape started again on the older copy and anchored its own new checkpoints: the earlier entries still name the rollback.
  const anchorsAfter = join(dir, 'anchors-after-rollback.ndjson');
  cpSync(anchors, anchorsAfter);
  const again = new LocalStore(back, { writable: true, checkpointKey: loadCheckpointKey(keyFile), checkpointAnchorFile: anchorsAfter });
  await again.close();
  t.ok(fileLines(anchorsAfter).length > fileLines(anchors).length, 'the restart on the older copy appended to the anchor file');
  const later = await verify(back, '--anchor-file', anchorsAfter);
  t.equal(later.code, 2, later.stdout + later.stderr);
  t.match(later.stdout, /index {2}BROKEN {2}index.ndjson line \d+ is not the checkpoint the anchor file \S+ recorded there/);
  // The same length, other lines (an older index padded out, or rewritten): named too.
  const d = copy();
  const last = fileLines(anchors)
    .map((l) => JSON.parse(l) as { line: number })
    .pop()!;
  const lines = indexText(d);
  lines[last.line - 1] = lines[last.line - 1].replace(/"time":"[^"]+"/, '"time":"2000-01-01T00:00:00.000Z"');
  writeIndex(d, lines);
  const w = await verify(d, '--anchor-file', anchors);
  t.equal(w.code, 2);
  t.match(w.stdout, new RegExp(`index.ndjson line ${last.line} is not the checkpoint the anchor file \\S+ recorded there`));
  const inside = await verify(back, '--anchor-file', join(back, 'anchors.ndjson'));
  t.equal(inside.code, 1);
  t.match(inside.stderr, /the checkpoint anchor file .* is inside the data dir/);
});

t.test('a checkpoint key inside the data dir is refused', async (t) => {
  const d = copy();
  writeFileSync(join(d, 'key'), randomBytes(32).toString('hex'));
  const v = await cli(['verify', '--all', '--data-dir', d, '--checkpoint-key', join(d, 'key')]);
  t.equal(v.code, 1);
  t.match(v.stderr, /is inside the data dir/);
  const short = join(dir, 'short.key');
  writeFileSync(short, 'too short');
  const s = await cli(['verify', '--all', '--data-dir', d, '--checkpoint-key', short]);
  t.match(s.stderr, /holds 9 bytes; give at least 32/);
  const wrong = join(dir, 'wrong.key');
  writeFileSync(wrong, randomBytes(32).toString('hex'));
  const w = await cli(['verify', '--all', '--data-dir', d, '--checkpoint-key', wrong]);
  t.equal(w.code, 2, 'a store none of whose checkpoints the given key signed does not pass');
  t.match(w.stdout, /none of the \d+ checkpoints in the index is signed with the checkpoint key/);
});

t.test('what a crash leaves is not tampering: a torn index line and a torn session line, sealed at the next start', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'kubetape-torn-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const key = randomBytes(32);
  const a = new LocalStore(d, { writable: true, checkpointKey: key });
  const start = (user: string): SessionStartEvent => ({
    type: 'session.start',
    session: newSessionId(),
    time: new Date().toISOString(),
    user,
    groups: [],
    authMethod: 'token-file',
    cluster: 'c',
    source: '127.0.0.1',
  });
  const w = await a.openSession(start('carol'));
  const request = (seq: number): RecordEvent => ({
    type: 'request',
    session: w.id,
    seq,
    time: new Date().toISOString(),
    method: 'GET',
    uri: '/api/v1/pods',
    attrs: { isResourceRequest: true, verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: '', namespace: '', name: '' },
    headers: {},
    streaming: false,
  });
  await w.append(request(1), { durable: true });
  await w.append(request(2), { durable: true });
  // kubetape dies mid-write: half a line in the session file and half a line in the index, and its process is gone.
  appendFileSync(sessionFile(d, w.id), '{"type":"request","session":"' + w.id + '","seq":3,"ti');
  appendFileSync(indexPath(d), '{"kind":"end","id":"' + w.id + '","end":{"ty');
  writeFileSync(
    join(d, 'recordings', 'instance.json'),
    JSON.stringify({ instance: (indexRecs(d).find((x) => x.kind === 'start') as { instance: string }).instance, pid: 2 ** 22 + 1 }) + '\n',
  );

  const crashed = await new LocalStore(d, { writable: false, checkpointKey: key }).verifyAll();
  t.ok(crashed.ok, `before the restart it verifies: ${JSON.stringify(crashed.problems)} ${crashed.sessions.map((s) => s.problem).join(' ')}`);
  t.match(crashed.notes.join('\n'), /ends in an unfinished line/);

  const b = new LocalStore(d, { writable: true, checkpointKey: key }); // the restart: seals carol's session
  const seal = indexRecs(d).find((x) => x.kind === 'seal');
  t.match(seal, { id: w.id, lines: 3, torn: true, summary: { requests: 2, verbs: ['list'] } }, 'sealed at the last whole line, its counts recounted');
  const listed = await b.listSessions();
  t.match(listed, [{ id: w.id, state: 'interrupted', requests: 2 }]);
  const w2 = await b.openSession(start('dave'));
  await w2.close({
    type: 'session.end',
    session: w2.id,
    time: new Date().toISOString(),
    reason: 'idle',
    summary: { requests: 0, bytesIn: 0, bytesOut: 0, verbs: [], namespaces: [], resources: [], errors: 0 },
  });
  await b.close();
  await a.close().catch(() => undefined);

  const after = await new LocalStore(d, { writable: false, checkpointKey: key }).verifyAll();
  t.ok(after.ok, `after the restart it verifies: ${JSON.stringify(after.problems)} ${after.sessions.map((s) => s.problem ?? '').join(' ')}`);
  t.match(after.notes.join('\n'), /index.ndjson line \d+ is torn/, 'the torn index line is noted, not counted');
  t.match(
    after.sessions.find((s) => s.id === w.id),
    { ok: true, state: 'interrupted (sealed)', notes: [/the last line is torn/] },
  );
  t.match(after.anchor, /anchored by the checkpoint signed at/);

  // And the torn-line allowance hides nothing: the sealed session's last whole line cut is named.
  const f = sessionFile(d, w.id);
  writeLines(f, fileLines(f).slice(0, 2));
  const cut = await new LocalStore(d, { writable: false, checkpointKey: key }).verify(w.id);
  t.notOk(cut.ok);
  t.match(cut.problem, /has 2 lines; it was sealed after a crash at 3/);
});
