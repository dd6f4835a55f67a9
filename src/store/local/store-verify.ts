// `kubetape verify` for the local store: everything the store holds, not only
// what its index names.
//
// 1. Every session file on disk is listed first (so a session started while
//    this runs has its index start line written by the time the index is read).
// 2. The index is read whole: its own chain (index-chain.ts), each line's
//    kind, each checkpoint's position and, with the key, its MAC.
// 3. Every session found anywhere (index, disk, a checkpoint, another file's
//    link) is checked: its file's chain (line-chain.ts), its first line
//    against the index start, its last line against the index end (lines,
//    head hash, the end event itself, and the end summary against a recount
//    of the events), a seal or checkpoint head against the line it names, and
//    its link to the index and to the session before it.
// Each problem names the index line, session file line or session concerned.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionSummaryCounts } from '../../model/recording.js';
import type { StoreVerifyReport, VerifyReport } from '../verify.js';
import { CHAIN_FIELD, GENESIS_LINE, lineBytesHash } from './line-chain.js';
import { fileIdentity, sessionWalkCache, walkSessionFile, type SessionWalk } from './session-walk.js';
import {
  LINK_FIELD,
  forEachLine,
  type AnchorEntry,
  keyId,
  macMatches,
  sameJson,
  withoutChainFields,
  type IndexCheckpoint,
  type IndexEnd,
  type IndexLink,
  type IndexSeal,
  type IndexStart,
  type SessionHead,
} from './index-chain.js';

export interface LocalVerifyOptions {
  /** DATA/recordings */
  root: string;
  /** The checkpoint key: checkpoints signed with it are checked, and anchor the evidence. */
  key?: Buffer;
  /** The instance of the serve process running now, if any: its open sessions are live. */
  liveInstance?: string;
  /** Check only this session's file (the index is always read whole). */
  only?: string;
  /** recording.checkpointAnchorFile: the index must still hold the last checkpoint recorded there. */
  anchorFile?: string;
}

interface At<T> {
  /** 1-based index line. */
  n: number;
  rec: T;
  prev: string | undefined;
}

interface SessionFacts {
  starts: At<IndexStart>[];
  ends: At<IndexEnd>[];
  seals: At<IndexSeal>[];
  heads: { n: number; time: string; head: SessionHead }[];
  files: string[];
  /** Sessions whose file names this one as the session started before them. */
  namedBy: string[];
}

const short = (h: string | undefined): string => (h ? `${h.slice(0, 12)}…` : 'none');

/** One session's reports, kept while nothing they were judged from changed (see onlyKey). */
const reportCache = new Map<string, { key: string; report: StoreVerifyReport }>();
const MAX_CACHED_REPORTS = 64;

/**
 * What one session's verdict depends on: the identity (dev, inode, size, mtime and ctime in ns) of
 * the index, of the anchor file and of every file named like the session's in every day, the
 * checkpoint key and the live instance. Any write to any of them changes it. The console opens the
 * same ended session again and again; the index is then not read whole each time.
 */
function onlyKey(o: LocalVerifyOptions, id: string): string | undefined {
  const parts = [fileIdentity(join(o.root, 'index.ndjson')) ?? 'no index', o.anchorFile ? (fileIdentity(o.anchorFile) ?? 'no anchor') : '-'];
  let days: string[] = [];
  try {
    days = readdirSync(join(o.root, 'sessions')).sort();
  } catch {
    // no sessions dir
  }
  parts.push(days.join('/'));
  for (const day of days) {
    const f = fileIdentity(join(o.root, 'sessions', day, `${id}.ndjson`));
    if (f) parts.push(`${day}=${f}`);
  }
  parts.push(o.key ? keyId(o.key) : '-', o.liveInstance ?? '-');
  return parts.join('|');
}

export async function verifyLocalStore(o: LocalVerifyOptions): Promise<StoreVerifyReport> {
  if (!o.only || !sessionWalkCache.enabled) return verifyStore(o);
  const key = onlyKey(o, o.only);
  const hit = reportCache.get(o.only);
  if (key && hit?.key === key) {
    sessionWalkCache.reportHits++;
    return structuredClone(hit.report);
  }
  const report = await verifyStore(o);
  // Kept only when nothing changed while it was judged (a live session, a new index line).
  if (key && onlyKey(o, o.only) === key) {
    reportCache.delete(o.only);
    reportCache.set(o.only, { key, report: structuredClone(report) });
    while (reportCache.size > MAX_CACHED_REPORTS) reportCache.delete(reportCache.keys().next().value!);
  }
  return report;
}

async function verifyStore(o: LocalVerifyOptions): Promise<StoreVerifyReport> {
  const facts = new Map<string, SessionFacts>();
  const of = (id: string): SessionFacts => {
    let f = facts.get(id);
    if (!f) facts.set(id, (f = { starts: [], ends: [], seals: [], heads: [], files: [], namedBy: [] }));
    return f;
  };
  const problems: string[] = [];
  const notes: string[] = [];

  // 1. What is on disk.
  let fileCount = 0;
  let days: string[] = [];
  try {
    days = readdirSync(join(o.root, 'sessions')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const day of days) {
    if (o.only) {
      // One session: look for its file by name in each day, not through every name on disk.
      const rel = join('sessions', day, `${o.only}.ndjson`);
      if (existsSync(join(o.root, rel))) {
        of(o.only).files.push(rel);
        fileCount++;
      }
      continue;
    }
    let names: string[];
    try {
      names = readdirSync(join(o.root, 'sessions', day));
    } catch {
      continue; // not a directory
    }
    for (const name of names.sort()) {
      if (!name.endsWith('.ndjson')) continue;
      of(name.slice(0, -'.ndjson'.length)).files.push(join('sessions', day, name));
      fileCount++;
    }
  }

  // 2. The index and its chain.
  const indexPath = join(o.root, 'index.ndjson');
  let head = GENESIS_LINE;
  let lastGood = 0;
  let chained = false;
  let legacy = 0;
  const breaks: number[] = [];
  const torn: number[] = [];
  const hashAt = new Map<number, string>();
  const checkpoints: At<IndexCheckpoint>[] = [];
  let indexLines = 0;
  let indexTornTail = 0;
  let indexMissing = false;
  try {
    const r = forEachLine(indexPath, (bytes, n) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
        if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new Error('not an object');
      } catch {
        torn.push(n);
        return;
      }
      const hash = lineBytesHash(bytes);
      const prev = rec[CHAIN_FIELD];
      if (prev === undefined) {
        if (chained) problems.push(`index.ndjson line ${n} carries no ${CHAIN_FIELD} after chained lines: it was added or changed`);
        else legacy++;
      } else {
        chained = true;
        if (prev !== head) {
          breaks.push(n);
          problems.push(
            `index.ndjson line ${n} does not follow ${lastGood ? `line ${lastGood}` : 'the start of the index'}: index lines were removed, changed or moved before it`,
          );
        }
      }
      head = hash;
      lastGood = n;
      hashAt.set(n, hash);
      const p = typeof prev === 'string' ? prev : undefined;
      const id = typeof rec['id'] === 'string' ? rec['id'] : undefined;
      switch (rec['kind']) {
        case 'start':
          if (id) of(id).starts.push({ n, rec: withoutChainFields(rec) as unknown as IndexStart, prev: p });
          break;
        case 'end':
          if (id) of(id).ends.push({ n, rec: withoutChainFields(rec) as unknown as IndexEnd, prev: p });
          break;
        case 'seal':
          if (id) of(id).seals.push({ n, rec: withoutChainFields(rec) as unknown as IndexSeal, prev: p });
          break;
        case 'checkpoint': {
          const cp = withoutChainFields(rec) as unknown as IndexCheckpoint;
          checkpoints.push({ n, rec: cp, prev: p });
          for (const h of Array.isArray(cp.open) ? cp.open : []) if (h && typeof h.id === 'string') of(h.id).heads.push({ n, time: String(cp.time), head: h });
          break;
        }
        default:
          problems.push(`index.ndjson line ${n} is not a start, end, seal or checkpoint line (added or changed)`);
      }
      if (rec['kind'] !== 'checkpoint' && !id) problems.push(`index.ndjson line ${n} names no session (changed)`);
    });
    indexLines = r.lines;
    indexTornTail = r.torn;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    indexMissing = true;
  }
  if (indexMissing) {
    if (fileCount > 0)
      problems.push(`index.ndjson is missing, and ${fileCount} session file${fileCount === 1 ? ' is' : 's are'} on disk: the index was deleted`);
    else notes.push('no recordings yet');
  }
  if (torn.length)
    notes.push(
      `index.ndjson line${torn.length === 1 ? '' : 's'} ${torn.join(', ')} ${torn.length === 1 ? 'is' : 'are'} torn (kubetape stopped while writing), not part of the index`,
    );
  if (indexTornTail) notes.push('index.ndjson ends in an unfinished line (being written, or torn by a crash)');
  if (legacy) notes.push(`index.ndjson lines 1 to ${legacy} predate the index chain: they are checked against the session files, not chained`);

  // Checkpoints: their place in the index and, with the key, their signatures.
  let anchor = judgeCheckpoints(checkpoints, indexLines, chained, o.key, problems, notes);
  // The anchor file, outside the data dir: the index must not have gone back before its last entry.
  // Every entry, not only the last: after a rollback kubetape may have run again and anchored the older copy's new lines.
  if (o.anchorFile) {
    let last: AnchorEntry | undefined;
    let wrong: string | undefined;
    try {
      forEachLine(o.anchorFile, (bytes) => {
        let e: AnchorEntry;
        try {
          e = JSON.parse(bytes.toString('utf8')) as AnchorEntry;
        } catch {
          return; // torn
        }
        if (typeof e?.line !== 'number' || typeof e.sha256 !== 'string') return;
        last = e;
        if (indexLines < e.line)
          wrong = `index.ndjson has ${indexLines} lines; the anchor file ${o.anchorFile} recorded a checkpoint at line ${e.line} (${e.time}): the data dir was put back to an older copy, or the index was cut`;
        else if (hashAt.get(e.line) !== e.sha256)
          wrong = `index.ndjson line ${e.line} is not the checkpoint the anchor file ${o.anchorFile} recorded there (${e.time}): the index was rewritten or put back to an older copy`;
        return wrong === undefined;
      });
    } catch (e) {
      wrong = `the anchor file ${o.anchorFile} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    if (wrong) problems.push(wrong);
    else if (last)
      anchor += `; the anchor file ${o.anchorFile} confirms the index reached line ${last.line} at ${last.time} (putting an older copy of the data dir back would be named)`;
    else notes.push(`the anchor file ${o.anchorFile} holds no checkpoint yet`);
  }

  // 3. Sessions.
  for (const [id, f] of facts)
    for (const s of f.starts) if (s.rec.file === undefined) problems.push(`index.ndjson line ${s.n} (start of ${id}) names no file (changed)`);
  const ids = o.only ? [o.only] : [...facts.keys()].sort();
  const reports = new Map<string, VerifyReport>();
  const links = new Map<string, IndexLink>();
  // Where the chain breaks, the break names the change; a session's own link to the index adds
  // something only where the chain holds (then the index was rewritten with its chain recomputed).
  const chainHolds = breaks.length === 0;
  // Every start of kubetape seals the sessions left open before it writes its start checkpoint.
  const restarts = checkpoints.filter((c) => c.rec.reason === 'start');
  for (const id of ids) reports.set(id, await verifySession(o, id, facts.get(id) ?? of(id), hashAt, links, chainHolds, restarts));
  // A session named as the one before another, found nowhere: deleted with its index lines.
  for (const [id, link] of links) {
    const prev = link.prevSession;
    if (!prev || facts.get(prev)?.starts.length || facts.get(prev)?.files.length) continue;
    if (o.only && o.only !== id) continue;
    const r = reports.get(prev) ?? { id: prev, ok: false, state: 'missing', chunks: 0, events: 0, notes: [] };
    addProblem(
      r,
      `session ${prev} is missing: session ${id}'s file names it as the session started before it, and neither its index lines nor its file remain (deleted)`,
    );
    reports.set(prev, r);
  }
  const sessions = [...reports.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  if (o.only) {
    // One session: the index matters up to its own last line.
    const f = facts.get(o.only);
    const last = Math.max(0, ...(f ? [...f.starts, ...f.ends, ...f.seals].map((x) => x.n) : []));
    const r = sessions.find((s) => s.id === o.only)!;
    const b = breaks.find((n) => n <= last);
    if (b !== undefined) addProblem(r, `index.ndjson is broken at line ${b}, before this session's own index lines (see kubetape verify --all)`);
    if (indexMissing && fileCount > 0) addProblem(r, 'index.ndjson is missing (deleted)');
    return { ok: r.ok, sessions: [r], problems: [], notes, ...(anchor ? { anchor } : {}) };
  }
  const ok = problems.length === 0 && sessions.every((s) => s.ok);
  return { ok, sessions, problems, notes, ...(anchor ? { anchor } : {}) };
}

function addProblem(r: VerifyReport, p: string): void {
  (r.problems ??= []).push(p);
  r.problem ??= p;
  r.ok = false;
}

/** Checks every checkpoint's place and signature; returns what the evidence is anchored by. */
function judgeCheckpoints(
  cps: At<IndexCheckpoint>[],
  indexLines: number,
  chained: boolean,
  key: Buffer | undefined,
  problems: string[],
  notes: string[],
): string {
  // Where lines were removed or added, every checkpoint after says so: name the first.
  const misplaced = cps.filter((c) => c.rec.lines !== c.n - 1);
  if (misplaced[0]) {
    const c = misplaced[0];
    const more = misplaced.length > 1 ? ` (and ${misplaced.length - 1} checkpoint${misplaced.length === 2 ? '' : 's'} after it)` : '';
    problems.push(
      `index.ndjson line ${c.n} (checkpoint of ${c.rec.time}) says ${c.rec.lines} index lines came before it, there are ${c.n - 1}: lines were removed or added before it${more}`,
    );
  }
  const unsigned =
    "the evidence is only as strong as the data dir's protection: whoever can write it can rewrite a recording, its index lines and the checkpoints consistently";
  if (cps.length === 0) {
    if (chained) problems.push('the index holds no checkpoint, though kubetape writes one whenever it starts: they were removed');
    return indexLines ? `no checkpoints in the index: ${unsigned}` : '';
  }
  const kid = key ? keyId(key) : undefined;
  let lastSigned: At<IndexCheckpoint> | undefined;
  const foreign = new Set<string>();
  for (const c of cps) {
    const signed = kid !== undefined && c.rec.keyId === kid;
    if (signed) {
      if (!c.prev || !macMatches(key!, c.prev, c.rec)) {
        problems.push(
          `index.ndjson line ${c.n} (checkpoint of ${c.rec.time}) does not verify with the checkpoint key: it, or an index line before it, was changed without the key`,
        );
        continue;
      }
      lastSigned = c;
    } else if (kid !== undefined && lastSigned) {
      problems.push(
        `index.ndjson line ${c.n} (checkpoint of ${c.rec.time}) is ${c.rec.keyId ? `signed with another key (${c.rec.keyId})` : 'not signed'}, after checkpoints signed with the key: it was written without the key`,
      );
    } else if (c.rec.keyId) foreign.add(c.rec.keyId);
  }
  const last = cps[cps.length - 1];
  if (!key) {
    const signedIds = [...new Set(cps.map((c) => c.rec.keyId).filter((k): k is string => !!k))];
    if (signedIds.length)
      return `checkpoints are signed (key ${signedIds.join(', ')}) but no key was given (--checkpoint-key, or recording.checkpointKeyFile in --config): they were not checked, so ${unsigned}`;
    return `checkpoints are not signed (recording.checkpointKeyFile is not set): ${unsigned}`;
  }
  if (foreign.size) notes.push(`checkpoints signed with another key (${[...foreign].join(', ')}) were not checked`);
  if (!lastSigned) {
    problems.push(
      `none of the ${cps.length} checkpoints in the index is signed with the checkpoint key (key ${kid}): the index was rewritten, or kubetape never ran with this key`,
    );
    return `nothing is anchored by the checkpoint key: ${unsigned}`;
  }
  const after = indexLines - lastSigned.n;
  const open = lastSigned.rec.open.length;
  return (
    `anchored by the checkpoint signed at ${lastSigned.rec.time} (index line ${lastSigned.n}, key ${kid}): the ${lastSigned.n - 1} index lines before it` +
    `${open ? ` and the first lines of the ${open} session${open === 1 ? '' : 's'} open then` : ''} cannot be changed, nor sessions ended before it removed, without the key` +
    (after > 0
      ? `; the ${after} index line${after === 1 ? '' : 's'} after it ${last === lastSigned ? '' : '(up to the next signed checkpoint) '}are chained but not yet anchored`
      : '')
  );
}

async function verifySession(
  o: LocalVerifyOptions,
  id: string,
  f: SessionFacts,
  hashAt: Map<number, string>,
  links: Map<string, IndexLink>,
  chainHolds: boolean,
  restarts: At<IndexCheckpoint>[],
): Promise<VerifyReport> {
  const start = f.starts[0];
  const end = f.ends[0];
  const seal = f.seals[0];
  const state = end
    ? 'ended'
    : seal
      ? seal.rec.end
        ? 'ended (sealed after a crash)'
        : 'interrupted (sealed)'
      : start
        ? o.liveInstance && start.rec.instance === o.liveInstance
          ? 'live'
          : 'interrupted'
        : 'unknown';
  const r: VerifyReport = { id, ok: true, state, chunks: 0, events: 0, notes: [] };
  const fail = (p: string): VerifyReport => {
    addProblem(r, p);
    return r;
  };
  if (f.starts.length > 1) fail(`the index holds ${f.starts.length} start lines for it (index.ndjson lines ${f.starts.map((s) => s.n).join(', ')})`);
  if (f.ends.length > 1) fail(`the index holds ${f.ends.length} end lines for it (index.ndjson lines ${f.ends.map((s) => s.n).join(', ')})`);
  if (f.seals.length > 1) fail(`the index holds ${f.seals.length} seal lines for it (index.ndjson lines ${f.seals.map((s) => s.n).join(', ')})`);
  if (end && seal) fail(`the index holds both an end (line ${end.n}) and a seal (line ${seal.n}) for it`);
  if (!start) {
    if (f.files.length) fail(`not in the index: no start line for it in index.ndjson (its index lines were removed, or the index was deleted)`);
    else if (f.ends.length || f.seals.length || f.heads.length)
      fail(
        `its session file and index start line are missing (deleted); index.ndjson line ${[...f.ends, ...f.seals].map((x) => x.n)[0] ?? f.heads[0].n} still names it`,
      );
    else return r;
  }
  const want = start?.rec.file;
  // A session opened after the files were listed (and before the index was read) has its file by now.
  if (want && !f.files.includes(want) && f.files.length === 0 && existsSync(join(o.root, want))) f.files.push(want);
  if (f.files.length > 1) fail(`more than one file holds it: ${f.files.join(', ')}`);
  const file = want && f.files.includes(want) ? want : f.files[0];
  if (!file) return fail(`its session file ${want ?? `${id}.ndjson`} is missing (deleted)`);
  if (want && file !== want) fail(`its session file is ${file}; the index says ${want} (moved)`);
  const path = join(o.root, file);

  // Which lines' hashes later checks need.
  const wanted = new Set<number>();
  for (const h of f.heads) wanted.add(h.head.lines);
  if (seal) wanted.add(seal.rec.lines);
  // The file's own chain and counts (session-walk.ts; cached while the file is unchanged).
  let w: SessionWalk;
  try {
    w = await walkSessionFile(path, file, id, wanted, seal?.rec.lines);
  } catch (e) {
    return fail(`its session file ${file} cannot be read: ${(e as Error).message}`);
  }
  const { hashes, counts, sealCounts, sealEvent, first, last, lastLine, broken, head: prev } = w;
  if (w.walked.torn) r.notes.push('the last line is torn (kubetape stopped while writing it); it is not part of the recording');
  r.chunks = r.events = lastLine;

  // Its place in the index, as its first line recorded it.
  const link = first?.[LINK_FIELD] as IndexLink | undefined;
  if (link && typeof link === 'object') {
    links.set(id, link);
    if (start && chainHolds) {
      const at = link.lines === 0 ? GENESIS_LINE : hashAt.get(link.lines);
      if (at !== link.sha256) {
        fail(
          `its file's first line says it started after index.ndjson line ${link.lines} (hash ${short(link.sha256)}); the index has ${at ? `another line there (${short(at)})` : 'no such line'}: index lines before its start were removed, changed or added`,
        );
      } else if (start.n <= link.lines) {
        fail(`its index start line (${start.n}) comes before index.ndjson line ${link.lines}, which its file says preceded it (moved)`);
      }
    }
  }
  if (broken) return fail(broken);

  // The index start against the file's first line.
  if (start && first) {
    const d = firstDifference(start.rec.start, withoutChainFields(first));
    if (d) fail(`index.ndjson line ${start.n} (its start) differs from its file's first line: ${d}`);
  }
  if (end) {
    const e = end.rec;
    if (e.lines !== undefined) {
      if (lastLine < e.lines)
        fail(`${file} has ${lastLine} lines, the index recorded ${e.lines} at its end (index.ndjson line ${end.n}): line ${lastLine + 1} on are missing`);
      else if (lastLine > e.lines) fail(`${file} line ${e.lines + 1} follows the session's end (added)`);
      else if (e.headSha256 !== prev) fail(`${file} line ${lastLine} was changed (its hash is not the one index.ndjson line ${end.n} recorded at its end)`);
    } else r.notes.push('the index end line has no head hash (recorded before hash chains)');
    if (last?.['type'] !== 'session.end')
      fail(`${file} does not end with its end event (line ${lastLine} is a ${String(last?.['type'])}): its end was cut off`);
    else {
      const d = firstDifference(e.end, last);
      if (d) fail(`index.ndjson line ${end.n} (its end) differs from ${file} line ${lastLine}: ${d}`);
    }
  } else if (seal) {
    const s = seal.rec;
    if (lastLine < s.lines)
      fail(`${file} has ${lastLine} lines; it was sealed after a crash at ${s.lines} (index.ndjson line ${seal.n}): line ${lastLine + 1} on were cut`);
    else if (hashes.get(s.lines) !== s.headSha256 && s.lines > 0)
      fail(`${file} line ${s.lines} was changed after the session was sealed (index.ndjson line ${seal.n})`);
    else if (lastLine > s.lines) fail(`${file} line ${s.lines + 1} was added after the session was sealed at ${s.lines} lines (index.ndjson line ${seal.n})`);
    if (sealCounts && !sameJson(sealCounts, s.summary))
      fail(
        `the counts in the seal (index.ndjson line ${seal.n}) differ from its events: ${firstDifference(s.summary, sealCounts, ['in the seal', 'in the events']) ?? 'changed'}`,
      );
    if (s.end && !(sealEvent && sameJson(s.end, sealEvent))) fail(`the end event in the seal (index.ndjson line ${seal.n}) is not ${file} line ${s.lines}`);
    if (s.brokenAt) r.notes.push(`when sealed, its chain broke at line ${s.brokenAt}`);
  } else if (!start) {
    // not in the index at all: said above
  } else if (restarts.some((c) => c.n > start.n && start.rec.instance !== o.liveInstance)) {
    const c = restarts.find((x) => x.n > start.n)!;
    fail(
      `kubetape started again at ${c.rec.time} (index.ndjson line ${c.n}) and would have sealed it, but the index holds no end or seal line for it: removed`,
    );
  } else if (last?.['type'] === 'session.end') {
    if (state === 'live') r.notes.push('its end is being recorded');
    else fail(`${file} ends with its end event (line ${lastLine}), but the index has no end line for it: the index end line was removed`);
  } else if (state === 'live') {
    r.notes.push('live: lines after the last one cannot be checked for removal yet');
  } else {
    r.notes.push('interrupted and not sealed yet (kubetape has not started on this data dir since): its tail is checked only against the checkpoints');
  }

  // The end summary against the events it summarises.
  if (last?.['type'] === 'session.end') {
    const summary = (last as { summary?: SessionSummaryCounts }).summary;
    const events = structuredClone(counts);
    // The end event itself counts nothing.
    if (summary) {
      const hidden = underCounted(summary, events);
      if (hidden) fail(`the end summary (${file} line ${lastLine}) ${hidden}: the summary was changed`);
      else if (!sameJson(summary, events))
        r.notes.push(
          `the end summary counts more than the events hold (${firstDifference(summary, events, ['in the summary', 'in the events']) ?? ''}): an append failed while recording`,
        );
    }
  }

  // Every checkpoint that recorded this session's head.
  for (const h of f.heads) {
    const n = h.head.lines;
    if (lastLine < n)
      fail(`${file} has ${lastLine} lines; the checkpoint of ${h.time} (index.ndjson line ${h.n}) recorded ${n}: line ${lastLine + 1} on were cut`);
    else if (hashes.get(n) !== h.head.headSha256)
      fail(`${file} line ${n} was changed after the checkpoint of ${h.time} (index.ndjson line ${h.n}) recorded it`);
    else continue;
    break; // the first checkpoint that disagrees says it
  }
  return r;
}

/** What the summary counts fewer of than the events hold, in words; undefined when nothing is hidden. */
function underCounted(summary: SessionSummaryCounts, events: SessionSummaryCounts): string | undefined {
  for (const k of ['requests', 'bytesIn', 'bytesOut', 'errors'] as const) {
    if ((summary[k] ?? 0) < events[k]) return `counts ${summary[k] ?? 0} ${k}, its events hold ${events[k]}`;
  }
  for (const k of ['verbs', 'namespaces', 'resources'] as const) {
    const missing = events[k].filter((v) => !(summary[k] ?? []).includes(v));
    if (missing.length) return `leaves out ${k} ${missing.join(', ')}, which its events hold`;
  }
  const g = events.guardrails;
  if (g) {
    const s = summary.guardrails;
    for (const k of ['denied', 'approvalRefused', 'masked', 'allowed', 'granted', 'typedRefused'] as const) {
      if ((s?.[k] ?? 0) < g[k]) return `counts ${s?.[k] ?? 0} ${k} by guardrails, its events hold ${g[k]}`;
    }
    for (const k of ['refusedBy', 'rules'] as const) {
      const missing = g[k].filter((v) => !(s?.[k] ?? []).includes(v));
      if (missing.length) return `leaves out guardrail ${k} ${missing.join(', ')}, which its events hold`;
    }
  }
  return undefined;
}

/** The first field where two JSON values differ, in words: `user is "mallory" in the index, "alice" in the file`. */
function firstDifference(index: unknown, file: unknown, labels: [string, string] = ['in the index', 'in the file'], path = ''): string | undefined {
  if (sameJson(index, file)) return undefined;
  if (index && file && typeof index === 'object' && typeof file === 'object' && !Array.isArray(index) && !Array.isArray(file)) {
    const a = index as Record<string, unknown>;
    const b = file as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      const d = firstDifference(a[k], b[k], labels, path ? `${path}.${k}` : k);
      if (d) return d;
    }
  }
  const show = (v: unknown): string => (v === undefined ? 'absent' : JSON.stringify(v));
  return `${path || 'the record'} is ${show(index)} ${labels[0]}, ${show(file)} ${labels[1]}`;
}
