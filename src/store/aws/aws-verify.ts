// `kubetape verify` for the AWS store. DynamoDB holds the anchors (each
// chunk's SHA-256, the session's head hash and counts); S3 holds the data.
// A recording is intact when its chunks are all there, in order, each
// matching its index item, each naming the previous one's hash, ending at the
// head that the session item and the manifest both record, with nothing else
// under the session's prefix.
import type { VerifyReport } from '../verify.js';
import { ChunkFormatError, GENESIS, decodeChunk, type Manifest } from './chunk-format.js';
import { chunkKey, manifestKey } from './keys.js';
import type { AwsReader } from './aws-reader.js';

export async function verifyAwsSession(reader: AwsReader, id: string): Promise<VerifyReport> {
  const report: VerifyReport = { id, ok: false, state: 'unknown', chunks: 0, events: 0, notes: [] };
  const fail = (problem: string): VerifyReport => ({ ...report, ok: false, problem });
  const item = await reader.sessionItem(id);
  if (!item) return fail('no session item in DynamoDB');
  const state = String(item['state'] ?? 'live');
  report.state = state;
  const prefix = String(item['s3Prefix'] ?? '');
  if (!prefix) return fail('the session item names no S3 prefix');
  const index = await reader.chunkItems(id);
  const keys = new Set(await reader.listKeys(prefix));

  let prev = GENESIS;
  let events = 0;
  for (let i = 0; i < index.length; i++) {
    const c = index[i]!;
    const where = `chunk ${i} (${c.key})`;
    if (c.seq !== i) return fail(`chunk ${i} is missing from the DynamoDB index (found chunk ${c.seq} next)`);
    if (c.key !== chunkKey(prefix, i)) return fail(`${where}: the index points at an unexpected key`);
    if (!keys.has(c.key)) return fail(`missing object ${c.key} (chunk ${i})`);
    keys.delete(c.key);
    const gz = await reader.getObject(c.key);
    if (!gz) return fail(`missing object ${c.key} (chunk ${i})`);
    let d;
    try {
      d = decodeChunk(gz);
    } catch (e) {
      if (e instanceof ChunkFormatError) return fail(`${where} is corrupt: ${e.message}`);
      throw e;
    }
    if (d.header.session !== id) return fail(`${where} belongs to session ${d.header.session} (replaced)`);
    if (d.header.seq !== i) return fail(`${where} holds chunk ${d.header.seq} (chunks reordered or replaced)`);
    if (d.sha256 !== c.sha256) return fail(`${where} was changed: its SHA-256 ${d.sha256.slice(0, 16)}… is not the ${c.sha256.slice(0, 16)}… recorded in DynamoDB`);
    if (d.header.prev !== prev || c.prev !== prev) return fail(`${where} does not follow chunk ${i - 1}: the hash chain is broken`);
    if (d.header.first !== events || d.header.events !== d.lines.length) return fail(`${where}: its events are not where the chain says (first ${d.header.first}, expected ${events})`);
    for (const [n, line] of d.lines.entries()) {
      try {
        const ev = JSON.parse(line) as { session?: string };
        if (ev.session !== id) return fail(`${where}: event ${n} belongs to another session`);
      } catch {
        return fail(`${where}: event ${n} is not JSON`);
      }
    }
    prev = d.sha256;
    events += d.lines.length;
  }
  report.chunks = index.length;
  report.events = events;

  const mKey = manifestKey(prefix);
  const manifestPresent = keys.delete(mKey);
  if (state === 'live') {
    report.notes.push('live: no manifest yet; the chunks uploaded so far are intact');
  } else {
    if (!manifestPresent) return fail(`missing object ${mKey} (manifest)`);
    const raw = await reader.getObject(mKey);
    if (!raw) return fail(`missing object ${mKey} (manifest)`);
    let m: Manifest;
    try {
      m = JSON.parse(raw.toString('utf8')) as Manifest;
    } catch {
      return fail(`the manifest ${mKey} is not JSON`);
    }
    if (m.session !== id || m.kubetape !== 'manifest') return fail(`the manifest ${mKey} is not this session's`);
    if (m.chunks !== index.length) return fail(`the manifest counts ${m.chunks} chunks, the index ${index.length}${m.chunks > index.length ? `: chunk ${index.length} is missing` : ''}`);
    if (m.events !== events) return fail(`the manifest counts ${m.events} events, the chunks hold ${events}`);
    if (m.head !== prev) return fail(`the manifest's head hash is not the last chunk's (${mKey} was changed or chunks are missing)`);
    if (item['headHash'] !== prev) return fail('the session item\'s head hash is not the last chunk\'s (chunks are missing or were changed)');
    if (item['chunks'] !== index.length) return fail(`the session item counts ${String(item['chunks'])} chunks, the index ${index.length}`);
  }
  const extra = [...keys].sort()[0];
  if (extra) return fail(`unexpected object ${extra}: not in the index (added, or a chunk the index lost)`);
  report.ok = true;
  return report;
}
