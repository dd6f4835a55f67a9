// The AWS store: recordings in DynamoDB (index) and S3 (data), written
// through a local spool so the data path never waits on the network.
// openSession and durable appends resolve once the event is fsync'd in the
// spool (DATA/spool); the uploader (uploader.ts) moves it to AWS within
// seconds, and after a crash the next start finds it there.
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import type { Metrics } from '../../admin/metrics.js';
import type { AwsStoreSettings } from '../settings.js';
import type { RecordEvent, SessionStartEvent, SessionSummary } from '../../model/recording.js';
import { Admission, SpoolFullError, type EventKind } from '../spool/admission.js';
import { Spool } from '../spool/spool.js';
import type { AppendOptions, RecordingStore, SessionFilter, SessionWriter } from '../store.js';
import type { StoreVerifyReport, VerifyReport } from '../verify.js';
import { AwsReader } from './aws-reader.js';
import { verifyAwsSession } from './aws-verify.js';
import { checkRegion, createAwsClients, type AwsClients } from './clients.js';
import { DynamoWrites } from './dynamo-writes.js';
import { S3Writes } from './s3-writes.js';
import { Uploader, type UploaderStats } from './uploader.js';
import { UploadStateFile } from './upload-state.js';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { verifyCheckpoints } from './checkpoint-verify.js';
import { kmsMac, type KmsMac } from './kms-mac.js';

export interface AwsStoreOptions {
  settings: AwsStoreSettings;
  /** Writable stores spool into DATA/spool and upload; read-only ones (the CLI) only read AWS. */
  writable?: { dataDir: string; failMode: 'closed' | 'open' };
  metrics?: Metrics;
  log?: (line: string) => void;
  /** How long close() keeps uploading what is left before leaving it in the spool for the next start (default 10 s). */
  closeGraceMs?: number;
  /** Query page size (tests use a small one to exercise paging). */
  pageSize?: number;
}

interface Writing {
  spool: Spool;
  uploader: Uploader;
  admission: Admission;
  abort: AbortController;
  clients: AwsClients;
}

export class AwsStore implements RecordingStore {
  private closing: Promise<void> | undefined;
  /** @internal bytes the last write put in the spool (0: dropped). */
  lastWriteBytes = 0;
  private readonly openSessions = new Set<string>();
  /** The checkpoints' KMS key (recording.checkpointKmsKeyId), through the read clients' credentials. */
  private readonly kms: KmsMac | undefined;

  private constructor(
    private readonly reader: AwsReader,
    private readonly readClients: AwsClients,
    private readonly writing: Writing | undefined,
    private readonly o: AwsStoreOptions,
  ) {
    this.kms = o.settings.checkpointKmsKeyId ? kmsMac(o.settings.checkpointKmsKeyId, readClients.dynamo) : undefined;
  }

  static async open(o: AwsStoreOptions): Promise<AwsStore> {
    const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
    const s = o.settings;
    const readClients = createAwsClients({ s3ForcePathStyle: s.s3ForcePathStyle, forUploads: false });
    try {
      await checkRegion(readClients);
    } catch (e) {
      readClients.destroy();
      throw e;
    }
    const reader = new AwsReader(readClients.dynamo, readClients.s3, { table: s.table, bucket: s.bucket, ...(o.pageSize ? { pageSize: o.pageSize } : {}) });
    if (!o.writable) return new AwsStore(reader, readClients, undefined, o);

    const dir = join(o.writable.dataDir, 'spool');
    let spool: Spool;
    try {
      spool = Spool.open(dir, { segmentBytes: Math.min(8 * 1024 * 1024, Math.max(4096, Math.floor(s.spoolMaxBytes / 8))) });
    } catch (e) {
      readClients.destroy();
      throw e;
    }
    const clients = createAwsClients({ s3ForcePathStyle: s.s3ForcePathStyle, forUploads: true });
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // every upload call in flight listens on it
    const ctx = { signal: abort.signal, metrics: o.metrics, log };
    let uploader: Uploader;
    try {
      uploader = new Uploader({
        spool,
        stateFile: new UploadStateFile(dir),
        dynamo: new DynamoWrites(clients.dynamo, s.table, ctx),
        s3: new S3Writes(clients.s3, s.bucket, s.kmsKeyId, ctx),
        settings: s,
        metrics: o.metrics,
        log,
        ...(s.checkpointKmsKeyId ? { kms: kmsMac(s.checkpointKmsKeyId, clients.dynamo) } : {}),
        checkpointMs: s.checkpointMs,
      });
    } catch (e) {
      await spool.close();
      clients.destroy();
      readClients.destroy();
      throw e;
    }
    const admission = new Admission(spool, s.spoolMaxBytes, o.writable.failMode, `DynamoDB table ${s.table} and S3 bucket ${s.bucket}`, o.metrics, log);
    const store = new AwsStore(reader, readClients, { spool, uploader, admission, abort, clients }, o);
    o.metrics?.watchSpool(() => store.spoolStats());
    uploader.start();
    void reader.probe().then((problem) => {
      if (problem && !store.closing) log(`kubetape: WARNING: ${problem}; recordings wait in the spool until it is fixed`);
    });
    return store;
  }

  /** For metrics and tests: what is waiting in the spool. */
  spoolStats(): UploaderStats & { bytes: number; full: boolean } {
    const w = this.writing;
    if (!w) return { pendingEvents: 0, unreadBytes: 0, oldestAgeSeconds: 0, bytes: 0, full: false };
    return { ...w.uploader.stats(), bytes: w.spool.bytes, full: w.admission.full() };
  }

  /** Resolves once everything recorded so far is in AWS (false on timeout). */
  async uploaded(timeoutMs = 30_000): Promise<boolean> {
    return this.writing ? this.writing.uploader.drained(timeoutMs) : true;
  }

  async openSession(start: SessionStartEvent): Promise<SessionWriter> {
    const w = this.writing;
    if (!w) throw new Error('this store was opened read-only');
    if (this.closing) throw new Error('kubetape is shutting down');
    if (w.admission.decide('start') === 'drop') return new SpoolSessionWriter(start.session, this, false);
    this.openSessions.add(start.session);
    try {
      await w.spool.append(JSON.stringify(start), true);
    } catch (e) {
      this.openSessions.delete(start.session);
      throw e;
    }
    return new SpoolSessionWriter(start.session, this, true);
  }

  /** @internal the writers' way into the spool. */
  write(id: string, ev: RecordEvent, kind: EventKind, durable: boolean): Promise<void> {
    const w = this.writing!;
    this.lastWriteBytes = 0;
    if (!this.openSessions.has(id)) return Promise.reject(new Error(`session ${id} is closed`));
    if (w.admission.decide(kind) === 'drop') return Promise.resolve();
    // Throws at once when the spool cannot be written (disk full): the caller forwards nothing of it.
    const p = w.spool.append(JSON.stringify(ev), durable);
    this.lastWriteBytes = w.spool.lastAppendBytes;
    if (kind === 'end') {
      this.openSessions.delete(id);
      w.uploader.nudge();
    }
    return p;
  }

  /** @internal events of a session whose start was not recorded (failMode open, spool full). */
  dropped(n: number): void {
    this.writing?.admission.noteDropped(n);
  }

  listSessions(filter?: SessionFilter): Promise<SessionSummary[]> {
    return this.reader.listSessions(filter);
  }

  resolveId(idOrPrefix: string): Promise<string | undefined> {
    return this.reader.resolveId(idOrPrefix);
  }

  readSession(id: string): AsyncIterable<RecordEvent> {
    return this.reader.readSession(id);
  }

  summary(id: string): Promise<SessionSummary | undefined> {
    return this.reader.summary(id);
  }

  /** One session against its own chain and items; the checkpoints (what anchors it) are read by verifyAll. */
  async verify(id: string): Promise<VerifyReport> {
    const r = await verifyAwsSession(this.reader, id);
    if (r.ok) r.notes.push('checked against its own chain and items; `verify --all` also checks it against the signed checkpoints');
    return r;
  }

  /**
   * Every session the table lists and every session the bucket holds objects
   * of: a session whose DynamoDB items were deleted is still found by its
   * chunks (which an Object Lock bucket keeps until their retention ends).
   */
  async verifyAll(): Promise<StoreVerifyReport> {
    const { bucket, prefix } = this.o.settings;
    // The checkpoints first: a session that ends meanwhile is then found in the table, not reported missing.
    const cps = await verifyCheckpoints({ s3: this.readClients.s3, bucket, prefix, kms: this.kms, getObject: (k, v) => this.getObjectVersion(k, v) });
    const inBucket = await this.reader.sessionsInBucket(prefix);
    const listed = await this.reader.listSessions();
    const ids = [...new Set([...listed.map((s) => s.id), ...inBucket.keys(), ...cps.anchors.keys()])].sort();
    const sessions: VerifyReport[] = [];
    for (const id of ids) {
      const b = inBucket.get(id);
      const anchors = cps.anchors.get(id);
      const r = await verifyAwsSession(this.reader, id, { ...(b ? { inBucket: b } : {}), ...(anchors ? { anchors } : {}) });
      if (!r.ok && !b && anchors && r.problem === 'no session item in DynamoDB') {
        // Named by a checkpoint, found nowhere: deleted whole.
        const a = anchors[anchors.length - 1];
        const problem = `session ${id} is missing: checkpoint ${a.where} names it (${a.state}, ${a.chunks} chunks, head ${a.head.slice(0, 12)}…), and neither its DynamoDB items nor its S3 objects remain (deleted)`;
        r.state = 'missing';
        r.problem = problem;
        r.problems = [problem];
      }
      sessions.push(r);
    }
    return {
      ok: cps.problems.length === 0 && sessions.every((r) => r.ok),
      sessions,
      problems: cps.problems,
      notes: cps.notes,
      anchor: cps.anchor,
      label: 'checkpoints',
    };
  }

  /** One version of an object (the first written, for a checkpoint that was overwritten), or the current one. */
  private async getObjectVersion(key: string, versionId?: string): Promise<Buffer | undefined> {
    try {
      const r = await this.readClients.s3.send(
        new GetObjectCommand({ Bucket: this.o.settings.bucket, Key: key, ...(versionId && versionId !== 'null' ? { VersionId: versionId } : {}) }),
      );
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') return undefined;
      throw e;
    }
  }

  async ready(): Promise<void> {
    const w = this.writing;
    if (w && w.admission.full() && this.o.writable?.failMode === 'closed') throw new SpoolFullError(w.admission.message());
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      const w = this.writing;
      if (w) {
        const done = await w.uploader.drained(this.o.closeGraceMs ?? 10_000);
        if (!done)
          (this.o.log ?? ((l: string) => process.stderr.write(l + '\n')))(
            `kubetape: stopping with recordings not yet uploaded; they stay in ${w.spool.dir} and are uploaded at the next start`,
          );
        w.abort.abort();
        await w.uploader.stop();
        await w.spool.close();
        w.clients.destroy();
      }
      this.readClients.destroy();
    })());
  }
}

class SpoolSessionWriter implements SessionWriter {
  /** Bytes the last append put in the spool (the recorder's limits count them). */
  lastAppendBytes = 0;

  constructor(
    readonly id: string,
    private readonly store: AwsStore,
    /** False when the start was not recorded (failMode open, spool full): nothing of the session is. */
    private readonly recorded: boolean,
  ) {}

  append(event: RecordEvent, opts: AppendOptions = {}): Promise<void> {
    this.lastAppendBytes = 0;
    if (!this.recorded) {
      this.store.dropped(1);
      return Promise.resolve();
    }
    const p = this.store.write(this.id, event, opts.durable ? 'request' : 'data', opts.durable ?? false);
    this.lastAppendBytes = this.store.lastWriteBytes;
    return p;
  }

  async close(end: RecordEvent): Promise<void> {
    if (!this.recorded) {
      this.store.dropped(1);
      return;
    }
    await this.store.write(this.id, end, 'end', true);
  }
}
