// The embedded store: plain files under DATA/recordings, so a recording is
// readable with `cat` while it is being written and survives kill -9.
//
//   recordings/index.ndjson                     one line per session start, end and seal, and checkpoints
//   recordings/sessions/YYYY-MM-DD/<id>.ndjson  every event of one session
//   recordings/instance.json                    which serve process owns the live sessions
//
// The index keeps `sessions list` from reading bodies; a session whose end
// line is missing is summarised from its own file and shown as live (its
// serve process is still running) or interrupted. The index is evidence too
// (index-chain.ts): its lines are hash-chained, everything they say is
// checked against the session files by `verify` (store-verify.ts), sessions
// a crash left open are sealed at the next start, and checkpoints of the
// chain heads, signed with a key kept outside the data dir, anchor it.
import { appendFileSync, closeSync, mkdirSync, openSync, readSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { AppendLog } from './append-log.js';
import { readNdjson } from './ndjson-reader.js';
import { IndexFollower, type IndexEntry } from './index-follower.js';
import { GENESIS_LINE, chainLine, lineBytesHash, lineHash, unchain } from './line-chain.js';
import { verifyLocalStore } from './store-verify.js';
import { fileIdentity } from './session-walk.js';
import {
  LINK_FIELD,
  appendAnchor,
  checkAnchorFile,
  checkpointMac,
  forEachLine,
  keyId,
  loadCheckpointKey,
  scanSessionFile,
  type AnchorEntry,
  type IndexCheckpoint,
  type IndexEnd,
  type IndexLine,
  type IndexLink,
  type IndexSeal,
  type IndexStart,
  type SessionHead,
} from './index-chain.js';
import { currentProcess, isRunning, type ProcessIdentity } from '../process-identity.js';
import { countEvent, emptyCounts, type RecordEvent, type SessionStartEvent, type SessionSummary } from '../../model/recording.js';
import { matchesGuardrailFilter, matchesSummaryFilter, type AppendOptions, type RecordingStore, type SessionFilter, type SessionWriter } from '../store.js';
import type { StoreVerifyReport, VerifyReport } from '../verify.js';

/** Bytes a live view reads of a session file at a time (a line holds at most a body of maxBodyBytes, base64). */
const TAIL_READ_BYTES = 8 * 1024 * 1024;

export interface LocalStoreOptions {
  writable: boolean;
  claim?: boolean;
  /**
   * recording.checkpointKeyFile's key (index-chain.ts loadCheckpointKey): a
   * writable store signs its checkpoints with it, `verify` checks them with it.
   */
  checkpointKey?: Buffer;
  /** Read-only stores: the key file, read only when verifying (listing works without access to it). */
  checkpointKeyFile?: string;
  /** Seconds between checkpoints of the open sessions' heads while something changes (default 60). */
  checkpointSeconds?: number;
  /** recording.checkpointAnchorFile: every checkpoint is also appended there (index-chain.ts AnchorEntry); verify checks the last. */
  checkpointAnchorFile?: string;
}

/** What a writable store knows of a session the index has no end or seal for. */
interface Unended {
  file: string;
  instance: string;
}

/** instance.json: the serve process that owns the sessions it opened (pid, start time, boot id: pid reuse does not fool it). */
interface InstanceInfo extends ProcessIdentity {
  instance: string;
}

export class LocalStore implements RecordingStore {
  private readonly root: string;
  private readonly index: AppendLog | undefined;
  private readonly instance: string = randomUUID();
  private readonly key: Buffer | undefined;
  private readonly keyId: string | undefined;
  private readonly keyFile: string | undefined;
  private readonly anchorFile: string | undefined;
  private readonly dataDir: string;
  private readonly checkpointMs: number;
  /** The index chain's head: lines in index.ndjson and the SHA-256 of the last whole one. */
  private indexLines = 0;
  private indexHead = GENESIS_LINE;
  /** An index append failed: head and count are re-read from the file before the next one. */
  private indexDirty = false;
  private lastStarted: string | undefined;
  /** Sessions the index has no end or seal for (writable stores: what claim() may seal). */
  private readonly unended = new Map<string, Unended>();
  private readonly writers = new Set<LocalSessionWriter>();
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** What the last checkpoint recorded, so an idle store writes no more of them. */
  private lastCheckpoint = '';
  /** The open sessions' heads the last periodic checkpoint recorded. */
  private lastHeads: SessionHead[] = [];

  /**
   * `writable: false` opens for reading only (the CLI), so it never claims the live sessions.
   * A writable store claims them at once unless `claim: false`: then `claim()` does, which
   * `kubetape serve` calls only once it holds the data dir and both its listeners are bound,
   * so a serve that fails to start leaves a running one's sessions alone.
   */
  constructor(dataDir: string, opts: LocalStoreOptions) {
    this.root = join(dataDir, 'recordings');
    this.dataDir = dataDir;
    this.key = opts.checkpointKey;
    this.keyFile = opts.checkpointKeyFile;
    this.anchorFile = opts.checkpointAnchorFile;
    if (this.anchorFile) checkAnchorFile(this.anchorFile, dataDir);
    this.keyId = opts.checkpointKey ? keyId(opts.checkpointKey) : undefined;
    this.checkpointMs = Math.max(1, opts.checkpointSeconds ?? 60) * 1000;
    mkdirSync(join(this.root, 'sessions'), { recursive: true, mode: 0o700 });
    if (opts.writable) {
      this.readIndexHead();
      this.index = new AppendLog(this.indexPath);
      if (opts.claim !== false) this.claim();
    }
  }

  private followerOfIndex: IndexFollower | undefined;
  private get indexFollower(): IndexFollower {
    return (this.followerOfIndex ??= new IndexFollower(this.indexPath));
  }

  private get indexPath(): string {
    return join(this.root, 'index.ndjson');
  }

  /**
   * Reads the index's chain head and line count (and the sessions it has not
   * seen end) before appending to it. A torn last line (kubetape died while
   * writing it) is ended with a newline first, so the next line starts on a
   * line of its own; the chain continues from the last whole line, as verify reads it.
   */
  private readIndexHead(): void {
    try {
      const size = statSync(this.indexPath).size;
      if (size > 0) {
        const last = Buffer.alloc(1);
        const fd = openSync(this.indexPath, 'r');
        try {
          readSync(fd, last, 0, 1, size - 1);
        } finally {
          closeSync(fd);
        }
        if (last[0] !== 0x0a) appendFileSync(this.indexPath, '\n');
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    let lines = 0;
    let head = GENESIS_LINE;
    this.unended.clear();
    try {
      lines = forEachLine(this.indexPath, (bytes) => {
        let rec: IndexLine;
        try {
          rec = JSON.parse(bytes.toString('utf8')) as IndexLine;
          if (typeof rec !== 'object' || rec === null) return;
        } catch {
          return; // torn: not part of the chain
        }
        head = lineBytesHash(bytes);
        if (rec.kind === 'start') {
          this.unended.set(rec.id, { file: rec.file, instance: rec.instance });
          this.lastStarted = rec.id;
        } else if (rec.kind === 'end' || rec.kind === 'seal') this.unended.delete(rec.id);
      }).lines;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.indexLines = lines;
    this.indexHead = head;
    this.indexDirty = false;
  }

  /** Appends one index line, chained to the one before; the write itself is synchronous (AppendLog), so lines keep call order. */
  private appendIndex(rec: IndexLine, durable: boolean): Promise<void> {
    if (!this.index) return Promise.reject(new Error('this store was opened read-only'));
    if (this.indexDirty) {
      // The file may hold a torn line, or the line may have reached it after all: read where the chain really is.
      this.readIndexHead();
    }
    const line = chainLine(JSON.stringify(rec), this.indexHead);
    let p: Promise<void>;
    try {
      p = this.index.append(line, durable);
    } catch (err) {
      // Not written (AppendLog cuts a failed line off again, or leaves a fragment on a line of its own).
      this.indexDirty = true;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.indexHead = lineHash(line);
    this.indexLines++;
    p.catch(() => {
      this.indexDirty = true;
    });
    return p;
  }

  /**
   * Writes instance.json: sessions this store opens read as live while this
   * process runs. First it seals the sessions a dead serve process left open
   * (kill -9, a crash), so their tails cannot be cut later; then it writes a
   * checkpoint and keeps writing them while sessions run.
   */
  claim(): void {
    if (!this.index) throw new Error('this store was opened read-only');
    this.sealInterrupted();
    const info: InstanceInfo = { instance: this.instance, ...currentProcess() };
    writeFileSync(join(this.root, 'instance.json'), JSON.stringify(info) + '\n', { mode: 0o600 });
    this.writeCheckpoint('start', []).catch(() => undefined); // a failing disk is reported by the first durable append
    if (!this.checkpointTimer) {
      this.checkpointTimer = setInterval(() => void this.checkpoint('periodic').catch(() => undefined), this.checkpointMs);
      this.checkpointTimer.unref();
    }
  }

  /**
   * Seals every session whose serve process is gone without ending it: an
   * index line records its last good line (count and hash) and its counts.
   * A torn last line is left out (it was never acknowledged); so is anything
   * after a line that breaks the chain (verify names that line).
   */
  private sealInterrupted(): void {
    let previous: InstanceInfo | undefined;
    try {
      previous = JSON.parse(readFileSync(join(this.root, 'instance.json'), 'utf8')) as InstanceInfo;
    } catch {
      previous = undefined;
    }
    const stillRunning = previous && previous.instance !== this.instance && isRunning(previous) ? previous.instance : undefined;
    for (const [id, u] of this.unended) {
      if (u.instance === this.instance || u.instance === stillRunning) continue;
      let scan;
      try {
        scan = scanSessionFile(join(this.root, u.file), id);
      } catch {
        continue; // no file: verify reports it missing
      }
      const seal: IndexSeal = { kind: 'seal', id, time: new Date().toISOString(), lines: scan.lines, headSha256: scan.headSha256, summary: scan.summary };
      if (scan.end) seal.end = scan.end;
      if (scan.torn) seal.torn = true;
      if (scan.brokenAt !== undefined) seal.brokenAt = scan.brokenAt;
      this.appendIndex(seal, false).catch(() => undefined);
      this.unended.delete(id);
    }
  }

  /**
   * Appends a checkpoint of the chain heads: the index's, and (periodic and
   * shutdown ones) every open session's durable head, each synced first: a
   * head that a power cut could take back must not be recorded. A session
   * end's checkpoint names only the session that ended (its final head), so
   * the index grows by one short line per session however many run at once.
   * Signed with the checkpoint key when there is one. Skipped when nothing
   * changed since the last one.
   */
  private async checkpoint(reason: IndexCheckpoint['reason'], ended?: SessionHead): Promise<void> {
    if (!this.index) return;
    if (reason === 'periodic' || reason === 'shutdown') {
      await Promise.all([...this.writers].map((w) => w.syncHead()));
      const open = [...this.writers].map((w) => w.durableHead()).filter((h): h is SessionHead => h !== undefined);
      if (this.indexDirty) this.readIndexHead();
      if (JSON.stringify([this.indexLines, open]) === this.lastCheckpoint) return; // nothing changed
      return this.writeCheckpoint(reason, open);
    }
    return this.writeCheckpoint(reason, ended ? [ended] : []);
  }

  /**
   * Appends a checkpoint now, synchronously (the MAC covers the index head at
   * this instant, and AppendLog writes before returning); resolves once durable.
   */
  private writeCheckpoint(reason: IndexCheckpoint['reason'], open: SessionHead[]): Promise<void> {
    if (this.indexDirty) this.readIndexHead();
    const cp: IndexCheckpoint = { kind: 'checkpoint', time: new Date().toISOString(), reason, lines: this.indexLines, open };
    if (this.key) {
      cp.keyId = this.keyId!;
      cp.mac = checkpointMac(this.key, this.indexHead, cp);
    }
    let p = this.appendIndex(cp, true);
    const anchorFile = this.anchorFile;
    if (anchorFile) {
      // Recorded outside the data dir only once the index holds it on disk: a crash must not leave the anchor ahead of the index.
      const entry: AnchorEntry = { time: cp.time, line: this.indexLines, sha256: this.indexHead, ...(cp.keyId ? { keyId: cp.keyId } : {}) };
      p = p.then(() => appendAnchor(anchorFile, entry));
    }
    if (reason === 'periodic' || reason === 'shutdown') this.lastHeads = open;
    this.lastCheckpoint = JSON.stringify([this.indexLines, this.lastHeads]);
    return p;
  }

  async openSession(start: SessionStartEvent): Promise<SessionWriter> {
    if (!this.index) throw new Error('this store was opened read-only');
    const day = start.time.slice(0, 10);
    const dir = join(this.root, 'sessions', day);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join('sessions', day, `${start.session}.ndjson`);
    const log = new AppendLog(join(this.root, file));
    const line: IndexStart = { kind: 'start', id: start.session, file, instance: this.instance, start };
    // The file's first line says where in the index the session starts (and which session started before it),
    // so a session deleted with its index lines, or an index rewritten, is named from the files that remain.
    if (this.indexDirty) this.readIndexHead();
    const link: IndexLink = { lines: this.indexLines, sha256: this.indexHead };
    if (this.lastStarted) link.prevSession = this.lastStarted;
    const first = chainLine(JSON.stringify({ ...start, [LINK_FIELD]: link }), GENESIS_LINE);
    // Both the session file and the index must hold the start before anything is forwarded.
    // Nothing is forwarded before the session's first durable append (the
    // recorder writes each request durably before forwarding it), and that
    // append's fdatasync covers the start line too: so the start line is only
    // written here, and the index's sync runs alongside the first request's
    // instead of one full fdatasync ahead of it (one sync less of latency on
    // every new session, which is every kubectl exec).
    await log.append(first, false);
    const indexDurable = this.appendIndex(line, true);
    this.lastStarted = start.session;
    indexDurable.catch(() => undefined); // reported by the first durable append (or close)
    const writer = new LocalSessionWriter(start.session, log, this, lineHash(first), indexDurable);
    this.writers.add(writer);
    return writer;
  }

  /** A writer's end: its index end line, then a checkpoint that covers it (both durable). */
  async sessionEnded(writer: LocalSessionWriter, line: IndexEnd | undefined): Promise<void> {
    this.writers.delete(writer);
    if (!line) return;
    const written = this.appendIndex(line, true);
    const head: SessionHead | undefined =
      line.lines !== undefined && line.headSha256 ? { id: line.id, lines: line.lines, headSha256: line.headSha256 } : undefined;
    await Promise.all([written, this.checkpoint('session-end', head)]);
  }

  /** The index's lines by session (`only`: that session's lines alone, the others not even parsed). */
  private async readIndex(only?: string): Promise<Map<string, IndexEntry>> {
    const followed = await this.indexFollower.sessions();
    if (followed) {
      if (only === undefined) return followed;
      const e = followed.get(only);
      return new Map(e ? [[only, e]] : []);
    }
    const byId = new Map<string, { start?: IndexStart; end?: IndexEnd; seal?: IndexSeal }>();
    for await (const l of readNdjson<IndexLine>(this.indexPath, only ? (line) => line.includes(only) : undefined)) {
      if (l.kind === 'checkpoint' || (only && l.id !== only)) continue;
      const e = byId.get(l.id) ?? {};
      if (l.kind === 'start') e.start = l;
      else if (l.kind === 'end') e.end = l;
      else if (l.kind === 'seal') e.seal = l;
      byId.set(l.id, e);
    }
    return byId;
  }

  private liveInstance(): string | undefined {
    try {
      const info = JSON.parse(readFileSync(join(this.root, 'instance.json'), 'utf8')) as InstanceInfo;
      if (info.instance === this.instance) return info.instance;
      return isRunning(info) ? info.instance : undefined;
    } catch {
      return undefined;
    }
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    return this.summaries(await this.readIndex(), filter);
  }

  /** One session's summary, from its own index lines (the sessions API asks for one per call). */
  async summary(id: string): Promise<SessionSummary | undefined> {
    if (!id) return undefined;
    return (await this.summaries(await this.readIndex(id), {}))[0];
  }

  private async summaries(index: Map<string, IndexEntry>, filter: SessionFilter): Promise<SessionSummary[]> {
    const live = this.liveInstance();
    const out: SessionSummary[] = [];
    for (const [id, { start, end: ended, seal }] of index) {
      if (!start) continue;
      const s = start.start;
      if (filter.user && s.user !== filter.user) continue;
      if (filter.cluster && s.cluster !== filter.cluster) continue;
      if (filter.since && Date.parse(s.time) < filter.since.getTime()) continue;
      // A session sealed after a crash reads as ended if its file held its end, else as interrupted, counted at the seal.
      const end = ended?.end ?? seal?.end;
      const counts = end ? end.summary : seal ? seal.summary : await this.countFromFile(start.file);
      if (filter.verb && !counts.verbs.includes(filter.verb)) continue;
      if (filter.namespace && !counts.namespaces.includes(filter.namespace)) continue;
      if (!matchesGuardrailFilter(counts, filter)) continue;
      const summary: SessionSummary = {
        id,
        user: s.user,
        groups: s.groups,
        cluster: s.cluster,
        source: s.source,
        startedAt: s.time,
        state: end ? 'ended' : seal ? 'interrupted' : start.instance === live ? 'live' : 'interrupted',
        ...counts,
      };
      if (s.command) summary.command = s.command;
      if (s.userAgent) summary.userAgent = s.userAgent;
      if (s.kind === 'machine') summary.kind = 'machine';
      if (s.agent) summary.agent = s.agent;
      if (s.actingFor) summary.actingFor = s.actingFor;
      if (end) summary.endedAt = end.time;
      if (!matchesSummaryFilter(summary, filter)) continue;
      out.push(summary);
    }
    out.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
    return filter.limit ? out.slice(0, filter.limit) : out;
  }

  private async countFromFile(file: string) {
    const c = emptyCounts();
    for await (const ev of readNdjson<RecordEvent>(join(this.root, file))) countEvent(c, ev);
    return c;
  }

  async resolveId(idOrPrefix: string): Promise<string | undefined> {
    const want = idOrPrefix.toUpperCase();
    const matches = [...(await this.readIndex()).keys()].filter((id) => id.startsWith(want));
    if (matches.length > 1) throw new Error(`session id prefix "${idOrPrefix}" matches ${matches.length} sessions; give more characters`);
    return matches[0];
  }

  async *readSession(id: string): AsyncIterable<RecordEvent> {
    const file = this.fileOf(id);
    if (!file) return;
    for await (const ev of readNdjson<RecordEvent>(join(this.root, file))) yield unchain(ev);
  }

  /**
   * The events written to a session's file after its first `offset` bytes
   * (whole lines only), and the offset to go on from: the console's live
   * view tails a session this way instead of reading it again from the start.
   * At most 8 MiB per call; undefined when there is no such session.
   */
  async readSessionTail(id: string, offset: number): Promise<{ events: RecordEvent[]; offset: number } | undefined> {
    const file = this.fileOf(id);
    if (!file) return undefined;
    const fd = await open(join(this.root, file), 'r');
    try {
      const { size } = await fd.stat();
      if (size <= offset) return { events: [], offset };
      const buf = Buffer.alloc(Math.min(size - offset, TAIL_READ_BYTES));
      const { bytesRead } = await fd.read(buf, 0, buf.length, offset);
      const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (end < 0) return { events: [], offset }; // a line still being written
      const events: RecordEvent[] = [];
      for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          events.push(unchain(JSON.parse(line) as RecordEvent));
        } catch {
          // a torn line (kubetape died writing it): verify reports it; the view goes on
        }
      }
      return { events, offset: offset + end + 1 };
    } finally {
      await fd.close();
    }
  }

  /**
   * What changes whenever the session's file is written (session-walk.ts fileIdentity): the
   * console keeps a built cast under it. Undefined when there is no such session.
   */
  sessionVersion(id: string): string | undefined {
    const file = this.fileOf(id);
    return file ? fileIdentity(join(this.root, file)) : undefined;
  }

  /** One session against its file, its index lines (and the index chain up to them) and the checkpoints. */
  async verify(id: string): Promise<VerifyReport> {
    const r = await verifyLocalStore(this.verifyOptions(id));
    return r.sessions[0];
  }

  /** Everything: every session file on disk, every index line, the chain, the checkpoints. */
  async verifyAll(): Promise<StoreVerifyReport> {
    return verifyLocalStore(this.verifyOptions());
  }

  private verifyOptions(only?: string): Parameters<typeof verifyLocalStore>[0] {
    const live = this.liveInstance();
    const key = this.key ?? (this.keyFile ? loadCheckpointKey(this.keyFile, this.dataDir) : undefined);
    return {
      root: this.root,
      ...(key ? { key } : {}),
      ...(live ? { liveInstance: live } : {}),
      ...(only ? { only } : {}),
      ...(this.anchorFile ? { anchorFile: this.anchorFile } : {}),
    };
  }

  /** Session files are found by id without the index: the id is in the name. */
  private fileOf(id: string): string | undefined {
    for (const day of readdirSync(join(this.root, 'sessions')).sort().reverse()) {
      const name = `${id}.ndjson`;
      try {
        if (readdirSync(join(this.root, 'sessions', day)).includes(name)) return join('sessions', day, name);
      } catch {
        // not a directory: ignore
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
    if (this.index && this.instance === this.liveInstance()) await this.checkpoint('shutdown').catch(() => undefined);
    await this.index?.close();
  }
}

class LocalSessionWriter implements SessionWriter {
  private lines = 1;
  /** Bytes the last append put in the file (the recorder's limits count them). */
  lastAppendBytes = 0;
  /** Lines known to be on disk (synced) and the hash of the last: what a checkpoint may record. */
  private durable: SessionHead | undefined;

  constructor(
    readonly id: string,
    private readonly log: AppendLog,
    private readonly store: LocalStore,
    /** SHA-256 of the last line written: the next line's prevSha256. */
    private head: string,
    /** The index's start line reaching the disk; the first durable append waits for it too. */
    private startDurable?: Promise<void>,
  ) {}

  /** `p`, joined (once) with the index's start line becoming durable. */
  private withStart(p: Promise<void>): Promise<void> {
    const start = this.startDurable;
    if (!start) return p;
    this.startDurable = undefined;
    return Promise.all([p, start]).then(() => undefined);
  }

  /**
   * Lines are written in call order (AppendLog writes synchronously), so the
   * chain follows the file. The line is encoded to UTF-8 once and hashed as
   * bytes: stream events carry up to tens of KiB each, and encoding them
   * twice (hash, then write) was a visible share of kubetape's CPU while a
   * large exec output was being recorded.
   */
  private writeChained(event: RecordEvent, durable: boolean): Promise<void> {
    const bytes = Buffer.from(chainLine(JSON.stringify(event), this.head) + '\n');
    // The head moves on only once the line is in the file: a write that fails (disk full) throws and
    // leaves nothing behind (AppendLog cuts a partial line off), so the next line chains to the last
    // one actually written and the chain still verifies.
    const p = this.log.appendEncoded(bytes, durable);
    this.head = lineBytesHash(bytes.subarray(0, bytes.length - 1));
    this.lines++;
    this.lastAppendBytes = bytes.length;
    return p;
  }

  append(event: RecordEvent, opts: AppendOptions = {}): Promise<void> {
    const durable = opts.durable ?? false;
    const p = this.writeChained(event, durable);
    return durable ? this.withStart(p) : p;
  }

  async close(end: RecordEvent): Promise<void> {
    let ended = false;
    try {
      await this.withStart(this.writeChained(end, true));
      await this.log.close();
      ended = true;
    } finally {
      // The index end line (and a checkpoint covering it) only once the file's end is on disk.
      const line: IndexEnd | undefined =
        ended && end.type === 'session.end' ? { kind: 'end', id: this.id, end, lines: this.lines, headSha256: this.head } : undefined;
      await this.store.sessionEnded(this, line);
    }
  }

  /** The durable head (undefined before anything was synced). */
  durableHead(): SessionHead | undefined {
    return this.durable;
  }

  /** Syncs what was written so far, then records it as the durable head (for a periodic checkpoint). */
  async syncHead(): Promise<void> {
    if (this.durable?.lines === this.lines) return;
    const head: SessionHead = { id: this.id, lines: this.lines, headSha256: this.head };
    try {
      await this.log.sync();
      this.durable = head;
    } catch {
      // closed meanwhile, or the disk failed: its end (or the failure) is recorded elsewhere
    }
  }
}
