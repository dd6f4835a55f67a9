// Drains the spool into S3 and DynamoDB. Each cycle it reads what was
// spooled since the last one, sorts it by session, and uploads a session's
// events as a chunk once they fill `chunkBytes`, once the oldest has waited
// `flushMs`, or when the session ends. In order, per cycle:
//
//   1. new sessions: their item in DynamoDB (conditional: created once)
//   2. the chunks to upload are noted in the state file (fsync'd) ...
//   3. ... put to S3 (Content-MD5), indexed in DynamoDB (chunk items,
//      conditional; request/response items, BatchWrite of <= 25) ...
//   4. ... and marked uploaded in the state file
//   5. sessions whose last event is uploaded: manifest to S3, session item
//      finished (conditional: only a live item is finished)
//   6. spool segments nobody needs any more are deleted.
//   7. a checkpoint of the chain heads (checkpoints.ts): the sessions
//      finished since the last one, soon after they finish, and the live
//      ones' heads every `checkpointMs` while they grow; MAC'd with the KMS
//      key when one is configured, put into the (Object Lock) bucket.
//
// Every remote call is retried until it succeeds (retry.ts); the spool holds
// the events meanwhile. A crash at any point repeats at most the current
// cycle, producing identical objects and items.
import { randomBytes } from 'node:crypto';
import type { Metrics } from '../../admin/metrics.js';
import type { AwsStoreSettings } from '../settings.js';
import { countEvent, emptyCounts, type RecordEvent, type SessionStartEvent } from '../../model/recording.js';
import type { Spool, SpoolPosition } from '../spool/spool.js';
import { comparePositions } from '../spool/spool.js';
import { SpoolCursor, type SpoolLine } from '../spool/spool-cursor.js';
import { GENESIS, encodeChunk, type EncodedChunk, type Manifest } from './chunk-format.js';
import type { DynamoWrites } from './dynamo-writes.js';
import { toItem } from './item-codec.js';
import { chunkKey, expiresAt, manifestKey, monthOf, sessionPrefix } from './keys.js';
import { backoffMs, mapLimit, sleep, UploadStopped } from './retry.js';
import type { S3Writes } from './s3-writes.js';
import { chunkItem, eventItems, finishFields, monthItem, progressFields, sessionStartItem } from './session-items.js';
import {
  checkpointKey,
  encodeCheckpoint,
  newCheckpointState,
  objectSha,
  signedBytes,
  type Checkpoint,
  type CheckpointHead,
  type CheckpointState,
} from './checkpoints.js';
import type { KmsMac } from './kms-mac.js';
import type { SessionProgress, UploadState, UploadStateFile } from './upload-state.js';

const TICK_MS = 100;
/** Spool bytes read per cycle: bounds the memory a backlog can take. */
const READ_BUDGET = 4 * 1024 * 1024;
const PARALLEL = 8;
/** Sessions that finished wait at most this long to be named by a checkpoint (they share one when many end together). */
const CHECKPOINT_GAP_MS = 1000;

interface BufferedLine {
  pos: SpoolPosition;
  line: string;
  /** The event, without stream data (only its type, seq and counts are needed here). */
  ev: RecordEvent;
  /** When the uploader read it. */
  at: number;
}

interface SessionBuffer {
  progress: SessionProgress;
  /** The session.start event, until the session item is written. */
  start?: SessionStartEvent;
  lines: BufferedLine[];
  bytes: number;
  /** The session.end line has been read. */
  endRead: boolean;
  /** Started by an earlier kubetape process. */
  fromEarlierRun: boolean;
  /** From an earlier run and never ended: finish it as interrupted once all of it is uploaded. */
  interrupted: boolean;
  /** What the live item was last told (progressFields without the byte counts), to write only changes. */
  liveFields?: string;
}

interface PlannedChunk {
  b: SessionBuffer;
  seq: number;
  key: string;
  lines: BufferedLine[];
  enc: EncodedChunk;
}

export interface UploaderOptions {
  spool: Spool;
  stateFile: UploadStateFile;
  dynamo: DynamoWrites;
  s3: S3Writes;
  settings: AwsStoreSettings;
  metrics: Metrics | undefined;
  log: (line: string) => void;
  /** The KMS key checkpoints are MAC'd with; without one they are written unsigned. */
  kms?: KmsMac;
  /** Between checkpoints of the live sessions' heads while they grow (default 60 s). */
  checkpointMs?: number;
}

export interface UploaderStats {
  /** Events read from the spool and not yet uploaded. */
  pendingEvents: number;
  /** Spool bytes not yet read by the uploader. */
  unreadBytes: number;
  /** Age in seconds of the oldest event not yet uploaded (0 when none). */
  oldestAgeSeconds: number;
}

export class Uploader {
  private readonly state: UploadState;
  private readonly cursor: SpoolCursor;
  private readonly buffers = new Map<string, SessionBuffer>();
  private readonly monthsWritten = new Set<string>();
  private readonly orphansLogged = new Set<string>();
  private recoveryDone = false;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** Checkpoints a crash may have written after the state was last saved have been looked for. */
  private checkpointsRecovered = false;
  private checkpointFailedAt = 0;

  constructor(private readonly o: UploaderOptions) {
    this.state = o.stateFile.load();
    this.state.checkpoint ??= newCheckpointState(randomBytes(8).toString('hex'));
    this.cursor = new SpoolCursor(o.spool);
    for (const p of Object.values(this.state.sessions)) {
      this.buffers.set(p.id, { progress: p, lines: [], bytes: 0, endRead: p.end !== undefined, fromEarlierRun: true, interrupted: false });
    }
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Run a cycle soon (a session ended). */
  nudge(): void {
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let busy = false;
      try {
        busy = await this.cycle();
        failures = 0;
      } catch (e) {
        if (e instanceof UploadStopped || this.stopped) break;
        failures++;
        this.o.log(`kubetape: recording upload cycle failed: ${(e as Error).message}; retrying`);
        await sleep(backoffMs(failures)).catch(() => undefined);
      }
      if (!busy && !this.stopped)
        await new Promise<void>((r) => {
          // Unref'd: the uploader alone never keeps the process running (what it has not uploaded stays in the spool).
          const t = setTimeout(r, TICK_MS).unref();
          this.wakeUp = () => {
            clearTimeout(t);
            r();
          };
        });
      this.wakeUp = undefined;
    }
  }

  /** Everything spooled so far is uploaded and every ended session finished. */
  isIdle(): boolean {
    if (this.cursor.behind() > 0) return false;
    for (const b of this.buffers.values()) if (b.lines.length > 0 || b.progress.end || b.interrupted) return false;
    return !this.state.checkpoint?.finished.length;
  }

  /** Wait until idle; false when `timeoutMs` passed first. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isIdle()) {
      if (Date.now() > deadline) return false;
      this.nudge();
      await new Promise((r) => setTimeout(r, 50)); // a ref'd timer: whoever waits for the drain keeps the process up
    }
    return true;
  }

  /** Stop after the current cycle (abort its calls through the store's signal first to stop at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loopDone;
  }

  stats(): UploaderStats {
    let pendingEvents = 0;
    let oldest: number | undefined;
    for (const b of this.buffers.values()) {
      pendingEvents += b.lines.length;
      const first = b.lines[0];
      if (first) {
        const t = this.o.spool.writtenBy(first.pos) ?? first.at;
        oldest = oldest === undefined ? t : Math.min(oldest, t);
      }
    }
    const unreadBytes = this.cursor.behind();
    if (unreadBytes > 0) {
      const t = this.o.spool.writtenBy(this.cursor.pos);
      if (t !== undefined) oldest = oldest === undefined ? t : Math.min(oldest, t);
    }
    return { pendingEvents, unreadBytes, oldestAgeSeconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000) };
  }

  /** One pass; true when it did something (so the next one starts at once). */
  async cycle(): Promise<boolean> {
    const now = Date.now();
    const lines = await this.cursor.next(READ_BUDGET);
    for (const l of lines) this.take(l, now);
    if (!this.recoveryDone && this.cursor.pos.segment >= this.o.spool.firstSegmentOfRun) {
      this.recoveryDone = true;
      for (const [id, b] of this.buffers) {
        if (!b.fromEarlierRun || b.endRead) continue;
        b.interrupted = true;
        this.o.log(`kubetape: session ${id} was interrupted (an earlier kubetape stopped without closing it); uploading what it recorded`);
      }
    }
    await this.writeSessionStarts();
    const planned = [...this.buffers.values()].flatMap((b) => this.plan(b, now));
    if (planned.length > 0) await this.upload(planned);
    const finishing = [...this.buffers.values()].filter((b) => (b.progress.end || b.interrupted) && b.lines.length === 0 && !b.progress.pending);
    await mapLimit(finishing, PARALLEL, (b) => this.finish(b));
    if (planned.length > 0 || finishing.length > 0) await this.o.stateFile.save(this.state);
    this.release();
    const checkpointed = await this.checkpoint(now);
    return lines.length > 0 || planned.length > 0 || finishing.length > 0 || checkpointed;
  }

  /**
   * Writes a checkpoint when one is due: sessions finished since the last
   * (CHECKPOINT_GAP_MS after it), or live heads that moved (checkpointMs).
   * A KMS or S3 failure is logged and tried again later; uploads go on.
   */
  private async checkpoint(now: number): Promise<boolean> {
    const c = this.state.checkpoint!;
    const live: CheckpointHead[] = [...this.buffers.values()]
      .filter((b) => b.progress.nextChunk > 0)
      .map((b) => ({ id: b.progress.id, state: 'live' as const, chunks: b.progress.nextChunk, events: b.progress.events, head: b.progress.prevHash }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const liveJson = JSON.stringify(live);
    const since = now - Math.max(c.lastAt ?? 0, this.checkpointFailedAt);
    const due =
      c.finished.length > 0
        ? since >= Math.min(CHECKPOINT_GAP_MS, this.o.checkpointMs ?? 60_000)
        : live.length > 0 && liveJson !== c.lastLive && since >= (this.o.checkpointMs ?? 60_000);
    if (!due) return false;
    try {
      await this.recoverCheckpoints(c);
      const cp: Checkpoint = {
        kubetape: 'checkpoint',
        version: 1,
        writer: c.writer,
        seq: c.seq,
        prev: c.prev,
        time: new Date(now).toISOString(),
        reason: c.finished.length > 0 ? 'session-end' : 'periodic',
        sessions: [...c.finished, ...live.filter((l) => !c.finished.some((f) => f.id === l.id))],
      };
      if (this.o.kms) {
        cp.keyId = this.o.kms.keyId;
        cp.mac = await this.o.kms.generate(signedBytes(cp));
      }
      const body = encodeCheckpoint(cp);
      await this.o.s3.put(checkpointKey(this.o.settings.prefix, c.writer, c.seq), body, 'application/json');
      c.seq++;
      c.prev = objectSha(body);
      c.finished = [];
      c.lastLive = liveJson;
      c.lastAt = now;
      await this.o.stateFile.save(this.state);
      return true;
    } catch (e) {
      if (e instanceof UploadStopped) throw e;
      this.checkpointFailedAt = now;
      this.o.metrics?.uploadFailures.inc({ target: this.o.kms ? 'kms' : 's3' });
      this.o.log(`kubetape: writing a recording checkpoint failed: ${(e as Error).message}; retrying`);
      return false;
    }
  }

  /** A checkpoint put before a crash, whose state was not saved, is taken as written: the chain carries on after it. */
  private async recoverCheckpoints(c: CheckpointState): Promise<void> {
    if (this.checkpointsRecovered) return;
    for (;;) {
      const body = await this.o.s3.get(checkpointKey(this.o.settings.prefix, c.writer, c.seq));
      if (!body) break;
      let named = new Set<string>();
      try {
        named = new Set((JSON.parse(body.toString('utf8')) as Checkpoint).sessions.filter((s) => s.state !== 'live').map((s) => s.id));
      } catch {
        // not ours to read: the seq is taken all the same
      }
      c.finished = c.finished.filter((f) => !named.has(f.id));
      c.seq++;
      c.prev = objectSha(body);
    }
    this.checkpointsRecovered = true;
  }

  private take(l: SpoolLine, now: number): void {
    let ev: RecordEvent;
    try {
      ev = JSON.parse(l.line) as RecordEvent;
    } catch {
      this.cursor.skipped++;
      this.o.log(`kubetape: spool line at ${l.pos.segment}:${l.pos.offset} is not JSON (a torn write); skipped`);
      return;
    }
    const id = (ev as { session?: unknown }).session;
    if (typeof id !== 'string' || this.state.finished[id] !== undefined) return;
    let b = this.buffers.get(id);
    if (!b) {
      if (ev.type !== 'session.start') {
        if (!this.orphansLogged.has(id)) {
          this.orphansLogged.add(id);
          this.o.log(`kubetape: spool holds events of session ${id} without its start; they cannot be uploaded`);
        }
        return;
      }
      const s3Prefix = sessionPrefix(this.o.settings.prefix, ev.time, id);
      const progress: SessionProgress = {
        id,
        startedAt: ev.time,
        s3Prefix,
        startWritten: false,
        nextChunk: 0,
        prevHash: GENESIS,
        events: 0,
        bytes: 0,
        counts: emptyCounts(),
      };
      const exp = expiresAt(ev.time, this.o.settings.retentionDays);
      if (exp !== undefined) progress.expiresAt = exp;
      this.state.sessions[id] = progress;
      b = { progress, lines: [], bytes: 0, endRead: false, fromEarlierRun: l.pos.segment < this.o.spool.firstSegmentOfRun, interrupted: false };
      this.buffers.set(id, b);
    }
    const through = b.progress.through;
    if (through && comparePositions(l.pos, through) <= 0) return; // uploaded before a restart
    if (ev.type === 'session.start') b.start = ev;
    if (ev.type === 'session.end') b.endRead = true;
    if (ev.type === 'stream' || ev.type === 'response.chunk') ev.data = '';
    b.lines.push({ pos: l.pos, line: l.line, ev, at: now });
    b.bytes += l.line.length + 1;
  }

  private async writeSessionStarts(): Promise<void> {
    const starting = [...this.buffers.values()].filter((b) => !b.progress.startWritten && b.start);
    if (starting.length === 0) return;
    const months = [...new Set(starting.map((b) => monthOf(b.progress.startedAt)))].filter((m) => !this.monthsWritten.has(m));
    for (const m of months) {
      await this.o.dynamo.put(toItem(monthItem(m)), `list month ${m}`);
      this.monthsWritten.add(m);
    }
    await mapLimit(starting, PARALLEL, async (b) => {
      const item = sessionStartItem(b.start!, {
        s3Prefix: b.progress.s3Prefix,
        bucket: this.o.settings.bucket,
        ...(b.progress.expiresAt ? { expiresAt: b.progress.expiresAt } : {}),
      });
      await this.o.dynamo.putOnce(toItem(item), `start session ${b.progress.id}`);
      b.progress.startWritten = true;
      delete b.start;
    });
  }

  /** Which of a session's buffered events become chunks now. */
  private plan(b: SessionBuffer, now: number): PlannedChunk[] {
    if (b.lines.length === 0 || !b.progress.startWritten) return [];
    const parts: BufferedLine[][] = [];
    if (b.progress.pending?.length) {
      // A crash interrupted these uploads: rebuild them from exactly the same events.
      let i = 0;
      for (const pc of b.progress.pending) {
        const part: BufferedLine[] = [];
        while (i < b.lines.length && comparePositions(b.lines[i].pos, pc.through) <= 0) part.push(b.lines[i++]);
        const last = part[part.length - 1];
        if (!last || comparePositions(last.pos, pc.through) !== 0) return []; // not all read yet
        parts.push(part);
      }
    } else {
      const final = b.endRead || b.interrupted;
      const due = now - b.lines[0].at >= this.o.settings.flushMs;
      let i = 0;
      while (i < b.lines.length) {
        const part: BufferedLine[] = [];
        let size = 0;
        while (i < b.lines.length && (part.length === 0 || size + b.lines[i].line.length + 1 <= this.o.settings.chunkBytes)) {
          size += b.lines[i].line.length + 1;
          part.push(b.lines[i++]);
        }
        const full = i < b.lines.length || size >= this.o.settings.chunkBytes;
        if (!full && !final && !due) break;
        parts.push(part);
      }
    }
    const out: PlannedChunk[] = [];
    let prev = b.progress.prevHash;
    let first = b.progress.events;
    let seq = b.progress.nextChunk;
    for (const lines of parts) {
      const enc = encodeChunk(
        { session: b.progress.id, seq, prev, first },
        lines.map((l) => l.line),
      );
      out.push({ b, seq, key: chunkKey(b.progress.s3Prefix, seq), lines, enc });
      prev = enc.sha256;
      first += lines.length;
      seq++;
    }
    if (out.length > 0) b.progress.pending = out.map((p) => ({ seq: p.seq, through: p.lines[p.lines.length - 1].pos }));
    return out;
  }

  private async upload(planned: PlannedChunk[]): Promise<void> {
    await this.o.stateFile.save(this.state); // the intent: these exact chunks
    await mapLimit(planned, PARALLEL, (p) => this.o.s3.put(p.key, p.enc.gz, 'application/gzip', p.enc.md5));
    const eventIndex = planned.flatMap((p) => p.lines.flatMap((l) => eventItems(l.ev, p.seq, p.b.progress.expiresAt)));
    await Promise.all([mapLimit(planned, PARALLEL, (p) => this.putChunkItem(p)), this.o.dynamo.batchPut(eventIndex)]);
    for (const p of planned) this.commit(p);
    await mapLimit([...new Set(planned.map((p) => p.b))], PARALLEL, (b) => this.updateLive(b));
  }

  /**
   * A live session's item learns what its uploaded requests were (verbs, namespaces, traces...), so the
   * list's filters find it before it ends. Only when those changed: a long exec's output costs no writes.
   */
  private async updateLive(b: SessionBuffer): Promise<void> {
    const pr = b.progress;
    if (pr.end || b.interrupted) return;
    const fields = progressFields(pr.counts);
    const { bytesIn: _in, bytesOut: _out, ...filtered } = fields;
    const signature = JSON.stringify(filtered);
    if (signature === b.liveFields) return;
    await this.o.dynamo.updateLiveSession(pr.id, fields);
    b.liveFields = signature;
  }

  private async putChunkItem(p: PlannedChunk): Promise<void> {
    const streams = [...new Set(p.lines.filter((l) => l.ev.type === 'stream' || l.ev.type === 'response.chunk').map((l) => (l.ev as { seq: number }).seq))];
    const existing = await this.o.dynamo.putOnce(toItem(chunkItem(p.b.progress.id, p.key, p.enc, streams, p.b.progress.expiresAt)), `index chunk ${p.key}`);
    const had = existing?.['sha256']?.S;
    if (existing && had !== p.enc.sha256) {
      this.o.metrics?.uploadFailures.inc({ target: 'dynamodb' });
      this.o.log(
        `kubetape: CONFLICT: chunk ${p.seq} of session ${p.b.progress.id} is already indexed with another hash (${had}); the index was kept, \`kubetape verify\` will report it`,
      );
    }
  }

  private commit(p: PlannedChunk): void {
    const b = p.b;
    const pr = b.progress;
    b.lines.splice(0, p.lines.length);
    b.bytes -= p.lines.reduce((n, l) => n + l.line.length + 1, 0);
    pr.nextChunk = p.seq + 1;
    pr.prevHash = p.enc.sha256;
    pr.through = p.lines[p.lines.length - 1].pos;
    pr.events += p.lines.length;
    pr.bytes += p.enc.bytes;
    for (const l of p.lines) {
      countEvent(pr.counts, l.ev);
      if (l.ev.type === 'session.end') pr.end = l.ev;
    }
    if (pr.pending && pr.pending[pr.pending.length - 1].seq === p.seq) delete pr.pending;
  }

  private async finish(b: SessionBuffer): Promise<void> {
    const pr = b.progress;
    const state = pr.end ? 'ended' : 'interrupted';
    const manifest: Manifest = {
      kubetape: 'manifest',
      version: 1,
      session: pr.id,
      state,
      startedAt: pr.startedAt,
      ...(pr.end ? { endedAt: pr.end.time } : {}),
      chunks: pr.nextChunk,
      events: pr.events,
      bytes: pr.bytes,
      head: pr.prevHash,
    };
    const key = manifestKey(pr.s3Prefix);
    await this.o.s3.put(key, Buffer.from(JSON.stringify(manifest, null, 2) + '\n'), 'application/json');
    const fields = finishFields({
      state,
      counts: pr.counts,
      chunks: pr.nextChunk,
      events: pr.events,
      bytes: pr.bytes,
      head: pr.prevHash,
      manifestKey: key,
      ...(pr.end ? { end: pr.end } : {}),
    });
    const existing = await this.o.dynamo.finishSession(pr.id, fields);
    if (existing && existing['headHash']?.S !== pr.prevHash) {
      this.o.log(`kubetape: CONFLICT: session ${pr.id} was already finished with another head hash; the item was kept, \`kubetape verify\` will report it`);
    }
    delete this.state.sessions[pr.id];
    this.state.checkpoint!.finished.push({ id: pr.id, state, chunks: pr.nextChunk, events: pr.events, head: pr.prevHash });
    this.state.finished[pr.id] = pr.through?.segment ?? this.o.spool.end().segment;
    this.buffers.delete(pr.id);
  }

  /** Delete spool segments whose every event is uploaded; forget finished sessions whose events are gone. */
  private release(): void {
    let keep = this.cursor.pos.segment;
    for (const b of this.buffers.values()) if (b.lines[0]) keep = Math.min(keep, b.lines[0].pos.segment);
    this.o.spool.release(keep);
    // Finished sessions are remembered only while their events could be read again.
    const oldest = this.o.spool.segments()[0] ?? keep;
    for (const [id, seg] of Object.entries(this.state.finished)) if (seg < oldest) delete this.state.finished[id];
  }
}
