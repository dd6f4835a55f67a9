// The local index read once and followed as it grows (store/local/index-follower.ts):
// appended sessions are seen, a line still being written is not until it ends,
// and a file changed at the same size or replaced is read again from its start.
import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexFollower } from '../src/store/local/index-follower.js';

const start = (id: string, user: string) => JSON.stringify({ kind: 'start', id, file: `${id}.ndjson`, start: { user } }) + '\n';
const end = (id: string) => JSON.stringify({ kind: 'end', id, end: { reason: 'idle' } }) + '\n';
const users = async (f: IndexFollower) =>
  [...((await f.sessions()) ?? new Map())].map(([id, e]) => `${id}:${(e.start?.start as { user?: string } | undefined)?.user}${e.end ? ':ended' : ''}`);

t.test('appends are read; a torn line waits; an edit in place or a new file is read again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'index-follower-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'index.ndjson');
  const f = new IndexFollower(path);
  t.same(await users(f), [], 'no index yet: no sessions');
  writeFileSync(path, start('a', 'dana'));
  t.same(await users(f), ['a:dana']);
  const line = end('a');
  appendFileSync(path, line.slice(0, 10));
  t.same(await users(f), ['a:dana'], 'a line being written is not read yet');
  appendFileSync(path, line.slice(10) + start('b', 'sam'));
  t.same(await users(f), ['a:dana:ended', 'b:sam'], 'once whole, it is');
  // Same size, other bytes (the user's name changed in place): the ctime moves, the file is read again.
  const text = readFileSync(path, 'utf8');
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(path, text.replace('"dana"', '"mall"'));
  t.same(await users(f), ['a:mall:ended', 'b:sam'], 'an edit at the same size is seen');
  // A shorter file put in its place (a new inode): read from its start.
  writeFileSync(join(dir, 'other'), start('c', 'kim'));
  renameSync(join(dir, 'other'), path);
  t.same(await users(f), ['c:kim'], 'a replaced index is read anew');
  const [x, y] = await Promise.all([f.sessions(), f.sessions()]);
  t.equal(x, y, 'concurrent callers share one read');
});
