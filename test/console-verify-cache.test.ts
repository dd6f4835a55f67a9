// The console verifies a session on every open; the local store keeps the
// walk of an unchanged session file (store/local/session-walk.ts) so a long
// exec is not hashed again each time. A security property: any change to the
// file must miss that cache, even one that keeps its size and puts its
// modification time back, and the problem must be reported on the next open.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../src/store/local/local-store.js';
import { writeExecRecording, type Frame } from './helpers/recorded-exec.js';
import { sessionWalkCache } from '../src/store/local/session-walk.js';

/** A data dir in a temp dir (removed after the test) holding one recording of these frames, and a reader of it. */
async function recorded(t: Test, frames: Frame[]): Promise<{ dir: string; id: string; reader: LocalStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-verify-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir, { writable: true });
  const id = await writeExecRecording(store, frames, { at: Date.now() - 60_000 });
  await store.close();
  return { dir, id, reader: new LocalStore(dir, { writable: false }) };
}

const fifty = (): Frame[] => Array.from({ length: 50 }, (_, i) => ({ offsetMs: i * 10, channel: 'stdout' as const, data: `line ${i} total 0\r\n` }));

function fileOf(dir: string, id: string): string {
  const days = join(dir, 'recordings', 'sessions');
  for (const day of readdirSync(days)) if (readdirSync(join(days, day)).includes(`${id}.ndjson`)) return join(days, day, `${id}.ndjson`);
  throw new Error('no file');
}

t.test('an unchanged session is verified from the cache; a byte changed (same size, mtime put back) is reported', async (t) => {
  const { dir, id, reader } = await recorded(t, fifty());
  // A whole-second mtime, so the tamper below can put it back exactly.
  const path = fileOf(dir, id);
  const mtime = new Date(1_700_000_000_000);
  utimesSync(path, mtime, mtime);

  const first = await reader.verify(id);
  t.equal(first.ok, true, 'verifies when first opened');
  const cached = () => sessionWalkCache.hits + sessionWalkCache.reportHits;
  const hits = cached();
  const second = await reader.verify(id);
  t.equal(second.ok, true, 'verifies when opened again');
  t.equal(cached(), hits + 1, 'the second open used the cache');

  // Rewrite one output byte in the middle (`total 0` -> `total 9`), keep the size, put the mtime back.
  const before = statSync(path);
  const text = readFileSync(path, 'utf8');
  const at = text.indexOf('line 25 total 0') + 'line 25 total '.length;
  writeFileSync(path, text.slice(0, at) + '9' + text.slice(at + 1));
  utimesSync(path, mtime, mtime);
  t.equal(statSync(path).size, before.size, 'same size');
  t.equal(statSync(path).mtimeMs, before.mtimeMs, 'same mtime');

  const tampered = await reader.verify(id);
  t.equal(tampered.ok, false, 'the change is reported on the next open');
  t.match(tampered.problems?.join('\n') ?? '', /line \d+ does not follow line \d+/, 'it names the changed line');
  t.equal(cached(), hits + 1, 'the tampered file was walked again, not taken from the cache');

  // Put the byte back: the chain holds again (the cache never makes a verdict stick).
  writeFileSync(path, text);
  t.equal((await reader.verify(id)).ok, true, 'restored: verifies again');
});

t.test('an index line changed after an open is reported though the file is unchanged', async (t) => {
  const { dir, id, reader } = await recorded(t, fifty());
  t.equal((await reader.verify(id)).ok, true, 'verifies');
  const reportHits = sessionWalkCache.reportHits;
  t.equal((await reader.verify(id)).ok, true, 'verifies again');
  t.equal(sessionWalkCache.reportHits, reportHits + 1, 'from the cached report');
  const index = join(dir, 'recordings', 'index.ndjson');
  const text = readFileSync(index, 'utf8');
  // The end line's user is a claim the index makes about the session: change it.
  writeFileSync(index, text.replace('"user":"dana@example.com"', '"user":"mallory@example.com"'));
  const r = await reader.verify(id);
  t.equal(r.ok, false, 'the index change is reported on the next open');
  t.equal(sessionWalkCache.reportHits, reportHits + 1, 'the changed index missed the cached report');
});

t.test('verifying a large session gives the event loop turns while it reads (kubetape forwards on the same thread)', async (t) => {
  const line = 'x'.repeat(120);
  const { dir, id, reader } = await recorded(
    t,
    Array.from({ length: 40_000 }, (_, i) => ({ offsetMs: i, channel: 'stdout' as const, data: `${i} ${line}\r\n` })),
  );
  const size = statSync(fileOf(dir, id)).size;
  // Other work, as the proxy's would be: a callback that runs whenever the loop gets a turn.
  let turns = 0;
  let verifying = true;
  const other = () => {
    turns++;
    if (verifying) setImmediate(other);
  };
  setImmediate(other);
  const r = await reader.verify(id);
  verifying = false;
  t.equal(r.ok, true);
  const chunks = Math.floor(size / (256 * 1024));
  t.ok(chunks >= 20, `the file is large (${size} bytes)`);
  t.ok(turns >= chunks / 2, `other work ran ${turns} times during the walk of ${chunks} chunks of 256 KiB`);
});
