// `kubetape verify` for the AWS store. DynamoDB holds the anchors (each
// chunk's SHA-256, the session's head hash and counts); S3 holds the data.
// A recording is intact when its chunks are all there, in order, each
// matching its index item, each naming the previous one's hash, ending at the
// head that the session item and the manifest both record, with nothing else
// under the session's prefix.
//
// The items readers trust without fetching chunks are evidence too: the
// session item (who, when, the summary and guardrail counts `sessions list`
// filters on) and the request and response items (verb, status, exit code)
// must say exactly what the chunks' events say, and the end summary must not
// count less than the events hold. A session that is still live may lag
// behind its spool: chunks in S3 not yet indexed, or the last chunks' items
// not yet written, are "pending upload" (kubetape finishes them when it runs
// again), not tampering.
import { countEvent, emptyCounts, type RecordEvent, type SessionStartEvent, type SessionSummaryCounts } from '../../model/recording.js';
import type { VerifyReport } from '../verify.js';
import { ChunkFormatError, GENESIS, decodeChunk, type Manifest } from './chunk-format.js';
import type { Plain } from './item-codec.js';
import { chunkKey, manifestKey } from './keys.js';
import type { AwsReader, PlainItem } from './aws-reader.js';
import { eventItems, finishFields, sessionStartItem } from './session-items.js';
import type { Anchor } from './checkpoint-verify.js';
import { textOf } from '../../model/text.js';

export interface AwsVerifyOptions {
  /** What the bucket holds of this session, found by listing it (verify --all): names a session whose items were deleted. */
  inBucket?: { prefix: string; objects: number };
  /** What the checkpoints recorded of it (verify --all): its chunks must still lead to those heads. */
  anchors?: Anchor[];
}

export async function verifyAwsSession(reader: AwsReader, id: string, o: AwsVerifyOptions = {}): Promise<VerifyReport> {
  const report: VerifyReport = { id, ok: false, state: 'unknown', chunks: 0, events: 0, notes: [] };
  const fail = (problem: string): VerifyReport => ({ ...report, ok: false, problem, problems: [...(report.problems ?? []), problem] });
  const item = await reader.sessionItem(id);
  if (!item) {
    if (o.inBucket)
      return fail(
        `its session item is missing from DynamoDB (deleted): S3 holds ${o.inBucket.objects} object${o.inBucket.objects === 1 ? '' : 's'} of it under ${o.inBucket.prefix}`,
      );
    return fail('no session item in DynamoDB');
  }
  const state = textOf(item['state'] ?? 'live');
  report.state = state;
  const prefix = textOf(item['s3Prefix'] ?? '');
  if (!prefix) return fail('the session item names no S3 prefix');
  const index = await reader.chunkItems(id);
  const keys = new Set(await reader.listKeys(prefix));
  const expiresAt = typeof item['expiresAt'] === 'number' ? item['expiresAt'] : undefined;

  let prev = GENESIS;
  let events = 0;
  let bytes = 0;
  let start: SessionStartEvent | undefined;
  let last: RecordEvent | undefined;
  const counts = emptyCounts();
  /** The request and response items the events call for, by sort key, with the chunk they came in. */
  const expected = new Map<string, { fields: Record<string, Plain | undefined>; chunk: number }>();
  /** Each chunk's SHA-256, for the checkpoints' heads. */
  const hashes: string[] = [];
  for (let i = 0; i < index.length; i++) {
    const c = index[i];
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
    if (d.sha256 !== c.sha256)
      return fail(`${where} was changed: its SHA-256 ${d.sha256.slice(0, 16)}… is not the ${c.sha256.slice(0, 16)}… recorded in DynamoDB`);
    if (d.header.prev !== prev || c.prev !== prev) return fail(`${where} does not follow chunk ${i - 1}: the hash chain is broken`);
    if (d.header.first !== events || d.header.events !== d.lines.length)
      return fail(`${where}: its events are not where the chain says (first ${d.header.first}, expected ${events})`);
    for (const [n, line] of d.lines.entries()) {
      let ev: RecordEvent;
      try {
        ev = JSON.parse(line) as RecordEvent;
      } catch {
        return fail(`${where}: event ${n} is not JSON`);
      }
      if (ev.session !== id) return fail(`${where}: event ${n} belongs to another session`);
      if (i === 0 && n === 0) {
        if (ev.type !== 'session.start') return fail(`${where}: the recording does not begin with its session start`);
        start = ev;
      }
      countEvent(counts, ev);
      for (const f of eventItems(ev, i, expiresAt)) expected.set(textOf(f['sk']), { fields: f, chunk: i });
      last = ev;
    }
    prev = d.sha256;
    hashes.push(d.sha256);
    events += d.lines.length;
    bytes += d.bytes;
  }
  report.chunks = index.length;
  report.events = events;

  // What the checkpoints recorded: the chunks must still reach each head, and a finished session end there.
  for (const a of o.anchors ?? []) {
    if (a.chunks > index.length)
      return fail(
        `checkpoint ${a.where} recorded ${a.chunks} chunks of it, the index holds ${index.length}: chunk ${index.length} on were removed (the chunks and items a checkpoint anchors cannot be removed without its key)`,
      );
    if (a.chunks > 0 && hashes[a.chunks - 1] !== a.head)
      return fail(`chunk ${a.chunks - 1} is not the one checkpoint ${a.where} recorded (its hash differs): the recording was rewritten, its chain recomputed`);
    if (a.state !== 'live' && index.length > a.chunks)
      return fail(`checkpoint ${a.where} recorded it ${a.state} with ${a.chunks} chunks; the index holds ${index.length}: chunks were added`);
    if (a.state !== 'live' && state !== a.state) return fail(`checkpoint ${a.where} recorded it ${a.state}; its session item says ${state}`);
  }
  const live = state === 'live';
  const pending: string[] = [];

  // The session item: who and when, as the session start has them.
  if (start) {
    const want = sessionStartItem(start, { s3Prefix: prefix, bucket: textOf(item['bucket'] ?? ''), ...(expiresAt !== undefined ? { expiresAt } : {}) });
    const d = itemDifference(want, item, ['state', 'expiresAt']);
    if (d) return fail(`the session item differs from the recording's session start: ${d}`);
  } else if (!live || index.length > 0) {
    return fail('the recording has no session start');
  }

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
    if (m.chunks !== index.length)
      return fail(`the manifest counts ${m.chunks} chunks, the index ${index.length}${m.chunks > index.length ? `: chunk ${index.length} is missing` : ''}`);
    if (m.events !== events) return fail(`the manifest counts ${m.events} events, the chunks hold ${events}`);
    if (m.head !== prev) return fail(`the manifest's head hash is not the last chunk's (${mKey} was changed or chunks are missing)`);
    if (item['headHash'] !== prev) return fail("the session item's head hash is not the last chunk's (chunks are missing or were changed)");
    if (item['chunks'] !== index.length) return fail(`the session item counts ${textOf(item['chunks'])} chunks, the index ${index.length}`);
    // The summary `sessions list` and its filters read: what the end event says (or, interrupted, the events' counts).
    const end = last?.type === 'session.end' ? last : undefined;
    if (state === 'ended' && !end) return fail('the session item says it ended, but the recording does not end with its session end (cut)');
    if (state === 'interrupted' && end) return fail('the session item says it was interrupted, but the recording ends with its session end');
    const want = finishFields({
      state: state === 'ended' ? 'ended' : 'interrupted',
      counts,
      chunks: index.length,
      events,
      bytes,
      head: prev,
      manifestKey: mKey,
      ...(end ? { end } : {}),
    });
    const d = itemDifference(want, item, ['finishedAt']);
    if (d) return fail(`the session item's summary differs from the recording: ${d}`);
    if (end) {
      const hidden = underCounted(end.summary, counts);
      if (hidden) return fail(`the end summary in the recording ${hidden}: the summary was changed`);
    }
  }

  // The request and response items, against the events.
  const actual = await reader.eventIndexItems(id);
  const seen = new Set<string>();
  for (const it of actual) {
    const sk = textOf(it['sk']);
    seen.add(sk);
    const e = expected.get(sk);
    if (!e) {
      if (live) pending.push(`item ${sk} is ahead of the indexed chunks`);
      else return fail(`DynamoDB item ${sk} is not in the recording (added)`);
      continue;
    }
    const d = itemDifference(e.fields, it, ['expiresAt'], true);
    if (d) return fail(`DynamoDB item ${sk} differs from the recording (chunk ${e.chunk}): ${d}`);
  }
  const missing = [...expected].filter(([sk]) => !seen.has(sk));
  if (missing.length > 0) {
    // A crash between indexing a chunk and writing its items leaves the last chunks without items; the restart writes them.
    const firstChunk = Math.min(...missing.map(([, e]) => e.chunk));
    const trailing = [...expected].filter(([, e]) => e.chunk >= firstChunk).every(([sk]) => !seen.has(sk));
    if (live && trailing)
      pending.push(
        `the items of chunk${firstChunk === index.length - 1 ? '' : 's'} ${firstChunk}${firstChunk === index.length - 1 ? '' : `-${index.length - 1}`} are not written yet`,
      );
    else return fail(`DynamoDB item ${missing[0][0]} is missing (deleted): the recording holds it in chunk ${missing[0][1].chunk}`);
  }

  // Objects beyond the index: the next chunks put to S3 before a crash, not indexed yet (live), or added.
  const extras = [...keys].sort();
  if (extras.length > 0) {
    const next = extras.every((k, n) => k === chunkKey(prefix, index.length + n));
    if (live && next)
      pending.push(
        `chunk${extras.length === 1 ? '' : 's'} ${index.length}${extras.length === 1 ? '' : `-${index.length + extras.length - 1}`} in S3, not yet indexed`,
      );
    else return fail(`unexpected object ${extras[0]}: not in the index (added, or a chunk the index lost)`);
  }
  if (pending.length > 0) {
    report.state = 'live, pending upload';
    report.notes.push(
      `pending upload: ${pending.join('; ')} (the kubetape that recorded it finishes this when it runs again; if none will, that part is lost)`,
    );
  }
  report.ok = true;
  return report;
}

/**
 * The first field where an item differs from what the recording says it must
 * hold, in words. Only `want`'s fields are compared (a session item holds its
 * start fields and, once finished, its finish fields), and with `strict` also
 * fields the item has and `want` does not (added to a request item).
 */
function itemDifference(want: Record<string, Plain | undefined>, item: PlainItem, ignore: string[], strict = false): string | undefined {
  const keys = new Set([...Object.keys(want), ...(strict ? Object.keys(item) : [])]);
  for (const k of keys) {
    if (ignore.includes(k) || k === 'pk' || k === 'sk') continue;
    if (same(want[k], item[k])) continue;
    const show = (v: Plain | undefined): string => (v === undefined ? 'absent' : JSON.stringify(v));
    return `${k} is ${show(item[k])} in DynamoDB, ${show(want[k])} in the recording`;
  }
  return undefined;
}

/** Deep equality of item values, whatever the order of a map's keys (DynamoDB keeps none). */
function same(a: Plain | undefined, b: Plain | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => same(a[k], b[k]));
}

/** What a summary counts fewer of than the events hold (hiding something), in words. */
function underCounted(summary: SessionSummaryCounts, events: SessionSummaryCounts): string | undefined {
  for (const k of ['requests', 'bytesIn', 'bytesOut', 'errors'] as const)
    if ((summary[k] ?? 0) < events[k]) return `counts ${summary[k] ?? 0} ${k}, its events hold ${events[k]}`;
  for (const k of ['verbs', 'namespaces', 'resources'] as const) {
    const missing = events[k].filter((v) => !(summary[k] ?? []).includes(v));
    if (missing.length) return `leaves out ${k} ${missing.join(', ')}`;
  }
  const g = events.guardrails;
  if (g) {
    for (const k of ['denied', 'approvalRefused', 'masked', 'allowed', 'granted', 'typedRefused'] as const) {
      if ((summary.guardrails?.[k] ?? 0) < g[k]) return `counts ${summary.guardrails?.[k] ?? 0} ${k} by guardrails, its events hold ${g[k]}`;
    }
  }
  return undefined;
}
