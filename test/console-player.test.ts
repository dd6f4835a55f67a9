// The console's player reads an exec cut into segments that each open on a
// snapshot of the screen (src/console/cast-segments.ts), so a seek replays
// one segment. A recording long enough for several segments, with an idle
// gap, a resize and an alternate screen open across a segment boundary, is
// written into the store; then:
//  - the index and segments keep every rule asciinema-player checks, and a
//    snapshot plus the events after it gives the screen a replay from the
//    start gives;
//  - in chromium, a seek into each segment (forwards and back) shows the
//    rows recorded up to that instant and none after, the alternate screen
//    while it is open and the restored screen once it is left;
//  - every typed command is listed, the progress bar draws at most 200;
//  - hostile sizes are clamped, bad parameters get a Status, someone else's
//    session is 404, and reading the player is recorded as an access.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xtermHeadless from '@xterm/headless';
import xtermSerialize from '@xterm/addon-serialize';
import type { Browser } from 'playwright-core';
import type { Harness } from './helpers/harness.js';
import { httpsCall } from './helpers/https-call.js';
import { writeExecRecording, type Frame } from './helpers/recorded-exec.js';
import { startConsoleHarness, watchedPage } from './helpers/console-browser.js';
import { consoleLogin } from './helpers/console-login.js';
import { playerCuts } from '../src/console/sessions-routes.js';

const STEP_MS = 20;
const FRAMES = 6500;
/** After this frame the recording goes quiet for 100 s (compressed to the 2 s idle limit). */
const GAP_AFTER = 3000;
const GAP_MS = 100_000;
const ALT_FROM = 1901;
const ALT_TO = 2301;
const RESIZE_AT = 4500;
const TYPED_EVERY = 20;

const offsetOf = (i: number) => i * STEP_MS + (i > GAP_AFTER ? GAP_MS : 0);
/** Where frame i sits on the player's clock, once the gap is compressed to 2 s. */
const playerMsOf = (i: number) => (i > GAP_AFTER ? i * STEP_MS + (2000 - STEP_MS) : i * STEP_MS);
const isTyped = (i: number) => i % TYPED_EVERY === 0;

function* frames(): Generator<Frame> {
  yield { offsetMs: 0, channel: 'resize', data: '{"Width":100,"Height":30}' };
  for (let i = 0; i < FRAMES; i++) {
    const offsetMs = offsetOf(i);
    if (i === RESIZE_AT) yield { offsetMs, channel: 'resize', data: '{"Width":90,"Height":25}' };
    if (isTyped(i)) {
      yield { offsetMs, channel: 'stdin', data: `echo cmd-${i}\r` };
      continue;
    }
    let data = `\x1b[3${i % 8}m[row ${i}]\x1b[0m\r\n`;
    // A full-screen program: on the alternate screen, each row overwrites the first line under a fixed banner.
    if (i >= ALT_FROM && i < ALT_TO) data = `\x1b[H\x1b[2K[row ${i}]\x1b[2;1HALT-SCREEN`;
    if (i === ALT_FROM) data = `\x1b[?1049h\x1b[H\x1b[2J${data}`;
    if (i === ALT_TO) data = `\x1b[?1049l${data}`;
    yield { offsetMs, channel: 'stdout', data };
  }
}

let h: Harness;
let browser: Browser;
let long = '';
let huge = '';
const dir = mkdtempSync(join(tmpdir(), 'console-player-'));

t.before(async () => {
  ({ h, browser } = await startConsoleHarness(dir, 'dana-token,dana@example.com,,"dev"\nsam-token,sam,,"dev"\nvic-token,vic,,"auditors"\n'));
  long = await writeExecRecording(h.kt.store, frames());
  huge = await writeExecRecording(h.kt.store, [
    { offsetMs: 0, channel: 'resize', data: '{"Width":65535,"Height":2}' },
    { offsetMs: 5, channel: 'stdout', data: 'wide\r\n' },
    { offsetMs: 10, channel: 'resize', data: '{"Width":65535,"Height":65535}' },
    { offsetMs: 15, channel: 'stdout', data: 'huge\r\n' },
  ]);
});

t.teardown(async () => {
  await browser?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const api = (token: string, path: string) => httpsCall(`${h.kt.url}${path}`, { ca: h.kt.ca, headers: { Authorization: `Bearer ${token}` } });

interface Index {
  version: number;
  duration: number;
  term: { cols: number; rows: number };
  markers: [number, string][];
  typed: [number, string][];
  segments: { start: number; url: string }[];
}
type Event = [number, string, string];
interface Segment {
  snapshot: { cols: number; rows: number; init: string };
  events: Event[];
}

async function json<T>(token: string, path: string): Promise<T> {
  const r = await api(token, path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

async function load(id: string): Promise<{ index: Index; segments: Segment[] }> {
  const base = `/kubetape/v1/sessions/${id}/player?stdin=true&idle=2`;
  const index = await json<Index>('dana-token', base);
  const segments: Segment[] = [];
  for (const s of index.segments) {
    const u = new URL(s.url, `https://x${base}`);
    segments.push(await json<Segment>('dana-token', u.pathname + u.search));
  }
  return { index, segments };
}

/** The screen after feeding `init` then these events, as xterm.js serializes it. */
async function screenOf(cols: number, rows: number, init: string, events: Event[]): Promise<string> {
  const term = new xtermHeadless.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
  const ser = new xtermSerialize.SerializeAddon();
  term.loadAddon(ser);
  const write = (d: string) => new Promise<void>((r) => term.write(d, r));
  await write(init);
  let output = '';
  for (const [, code, data] of events) {
    if (code === 'o') output += data;
    else if (code === 'r') {
      await write(output);
      output = '';
      const [w, hh] = data.split('x').map(Number);
      term.resize(w, hh);
    }
  }
  await write(output);
  const b = term.buffer.active;
  const out = `${ser.serialize({ scrollback: 0 })}|${b.type} ${b.cursorX},${b.cursorY} ${term.cols}x${term.rows}`;
  term.dispose();
  return out;
}

t.test('the index and segments keep the player rules; snapshots give the screen a replay gives', async (t) => {
  const { index, segments } = await load(long);
  t.equal(index.version, 1);
  t.same(index.term, { cols: 100, rows: 30 });
  t.ok(segments.length >= 3, `several segments (${segments.length})`);
  t.equal(index.duration, playerMsOf(FRAMES - 1) / 1000, 'the 100 s gap is compressed to the 2 s idle limit');
  t.equal(index.segments[0].start, 0, 'the first segment starts at 0');
  let problems = 0;
  index.segments.forEach((s, i) => {
    const next = index.segments[i + 1]?.start;
    const evs = segments[i].events;
    if (next !== undefined && !(next > s.start && next < index.duration)) problems++;
    if (i > 0 && evs[0][0] !== s.start) problems++;
    for (let k = 0; k < evs.length; k++) {
      const [time] = evs[k];
      if (k > 0 && time < evs[k - 1][0]) problems++;
      if (time < s.start || (next !== undefined ? time >= next : time > index.duration)) problems++;
      if (evs[k][1] === 'm') problems++;
    }
  });
  t.equal(problems, 0, 'starts increase and stay before the end; each event inside its segment, in order; markers only in the index');
  const lastEvents = segments[segments.length - 1].events;
  t.equal(lastEvents[lastEvents.length - 1][0], index.duration, 'the last event is at the end');

  const typedCount = Array.from({ length: FRAMES }, (_, i) => i).filter(isTyped).length;
  t.equal(index.typed.length, typedCount, 'every typed command is listed');
  t.equal(index.typed[1][1], `echo cmd-${TYPED_EVERY}`);
  t.ok(index.markers.length <= 200 && index.markers.length > 100, `the bar gets at most 200 markers (${index.markers.length})`);
  t.ok(
    index.markers.every(([time]) => time <= index.duration),
    'no marker past the end',
  );

  const all = segments.flatMap((s) => s.events);
  const full = await screenOf(100, 30, '', all);
  for (let i = 1; i < segments.length; i++) {
    const snap = segments[i].snapshot;
    const rest = segments.slice(i).flatMap((s) => s.events);
    t.equal(await screenOf(snap.cols, snap.rows, snap.init, rest), full, `segment ${i}'s snapshot and what follows give the replayed screen`);
  }
  const openAlt = index.segments.findIndex((s) => s.start * 1000 > playerMsOf(ALT_FROM) && s.start * 1000 < playerMsOf(ALT_TO));
  t.ok(openAlt > 0, 'a segment starts while the alternate screen is open');
  t.match(segments[openAlt].snapshot.init, /\x1b\[\?1049h/, 'its snapshot opens the alternate screen');
  const resized = segments.find((s) => s.snapshot.cols === 90);
  t.ok(resized && resized.snapshot.rows === 25, 'a snapshot after the resize has the new size');
});

t.test('hostile sizes are clamped; bad parameters get a Status; others see 404; a read is an access', async (t) => {
  const { index, segments } = await load(huge);
  t.equal(index.term.cols, 1000, 'a 65535-column terminal is drawn 1000 wide');
  t.equal(index.term.rows, 2);
  const sizes = segments.flatMap((s) => s.events.filter((e) => e[1] === 'r').map((e) => e[2]));
  t.same(sizes, ['1000x2', '1000x500'], 'resizes are clamped to 1000x500');
  const cast = await api('dana-token', `/kubetape/v1/sessions/${huge}/cast`);
  t.match(cast.body.split('\n')[0], /"width":1000,"height":2/, 'the downloadable cast too');

  const base = `/kubetape/v1/sessions/${long}/player`;
  for (const [path, code, why] of [
    [`${base}?idle=abc`, 400, /idle must be a number of seconds/],
    [`${base}?idle=99999`, 400, /idle must be/],
    [`${base}?idle=0`, 400, /idle must be a number of seconds from 0\.001/],
    [`${base}?idle=0.000`, 400, /idle must be/],
    [`${base}?idle=1&idle=2`, 400, /idle must be/],
    [`${base}?color=red`, 400, /unknown parameter "color"/],
    [`${base}/x1`, 400, /a segment is a number/],
    [`${base}/999`, 404, /there is no segment 999/],
  ] as const) {
    const r = await api('dana-token', path);
    t.equal(r.status, code, path);
    const status = JSON.parse(r.body) as { kind: string; message: string };
    t.equal(status.kind, 'Status', `${path}: a Status`);
    t.match(status.message, why);
  }
  t.equal((await api('sam-token', base)).status, 404, "another developer's exec is not found");
  t.equal((await api('sam-token', `${base}/0`)).status, 404, 'nor its segments');
  t.equal((await api('vic-token', base)).status, 200, 'a viewer may play it');

  type Access = { user: string; action: string };
  const seen = await json<{ items: Access[] }>('vic-token', `/kubetape/v1/accesses?session=${long}`);
  t.ok(
    seen.items.some((a) => a.user === 'vic' && a.action === 'cast'),
    "the viewer's play is recorded as a read of the cast",
  );
});

t.test('viewers opening a recording at once wait for one cut', async (t) => {
  const id = await writeExecRecording(
    h.kt.store,
    Array.from({ length: 3000 }, (_, i) => ({ offsetMs: i * 10, channel: 'stdout' as const, data: `[at once ${i}]\r\n` })),
  );
  const before = playerCuts.made;
  const answers = await Promise.all(Array.from({ length: 5 }, () => api('vic-token', `/kubetape/v1/sessions/${id}/player?stdin=true&idle=2`)));
  t.same(
    answers.map((r) => r.status),
    [200, 200, 200, 200, 200],
  );
  t.equal(new Set(answers.map((r) => r.body)).size, 1, 'the same index for all');
  t.equal(playerCuts.made - before, 1, 'cut once');
});

t.test('in chromium, a seek into each segment shows the screen of that instant', async (t) => {
  const w = await watchedPage(browser, h.kt.url);
  const { page } = w;
  await consoleLogin(page, h.kt.url, h.dataDir, { user: 'vic', groups: ['auditors'] });
  await page.goto(`${h.kt.url}/kubetape/ui/sessions/${long}`);
  await page.waitForSelector('.player[data-ready="true"], .player-error');
  t.equal(await page.locator('.player-error').count(), 0);
  t.match(await page.textContent('.typed summary'), /typed commands \(325\)/, 'the list has every typed command');
  const bar = await page.locator('.ap-marker-container').count();
  t.ok(bar > 0 && bar <= 200, `the progress bar draws at most 200 markers (${bar})`);

  const lastRowBefore = (ms: number) => {
    let k = -1;
    for (let i = 0; i < FRAMES; i++) if (!isTyped(i) && playerMsOf(i) <= ms) k = i;
    return k;
  };
  const nextRow = (k: number) => {
    let i = k + 1;
    while (isTyped(i)) i++;
    return i;
  };
  const screen = async () => (await page.locator('.ap-term .ap-line').allTextContents()).join('\n');
  // Forwards through every segment, then back: each seek lands between two frames.
  for (const frame of [150, 2100, 2305, 2900, 4700, 6300, 2600, 1200]) {
    const ms = playerMsOf(frame) + STEP_MS / 2;
    const at = ms / 1000;
    await page.fill('input.seek', String(at));
    await page.press('input.seek', 'Enter');
    await page.locator(`.player[data-seeked-to="${at}"]`).waitFor();
    const k = lastRowBefore(ms);
    const text = await screen();
    t.match(text, `[row ${k}]`, `at ${at} s the last row recorded by then is on screen`);
    t.notMatch(text, `[row ${nextRow(k)}]`, `at ${at} s the next one is not`);
    const inAlt = frame >= ALT_FROM && frame < ALT_TO;
    t.equal(text.includes('ALT-SCREEN'), inAlt, `at ${at} s the alternate screen is ${inAlt ? '' : 'not '}shown`);
    if (inAlt) t.notMatch(text, `[row ${ALT_FROM - 2}]`, 'nothing of the screen from before shows on it');
    if (frame >= ALT_TO && frame < ALT_TO + 10) t.match(text, `[row ${ALT_FROM - 2}]`, 'leaving it brings back the screen from before');
  }
  t.same(w.errors, []);
  t.same(await w.cspViolations(), []);
  await w.context.close();
});
