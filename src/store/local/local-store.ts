// The embedded store: plain files under DATA/recordings, so a recording is
// readable with `cat` while it is being written and survives kill -9.
//
//   recordings/index.ndjson                     one line per session start and end
//   recordings/sessions/YYYY-MM-DD/<id>.ndjson  every event of one session
//   recordings/instance.json                    which serve process owns the live sessions
//
// The index keeps `sessions list` from reading bodies; a session whose end
// line is missing is summarised from its own file and shown as live (its
// serve process is still running) or interrupted.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { AppendLog } from './append-log.js';
import { readNdjson } from './ndjson-reader.js';
import { GENESIS_LINE, chainLine, lineBytesHash, lineHash, unchain } from './line-chain.js';
import { verifyLocalSession } from './local-verify.js';
import { countEvent, emptyCounts, type RecordEvent, type SessionStartEvent, type SessionSummary, type SessionEndEvent } from '../../model/recording.js';
import { matchesGuardrailFilter, type AppendOptions, type RecordingStore, type SessionFilter, type SessionWriter } from '../store.js';
import type { VerifyReport } from '../verify.js';

interface IndexStart {
  kind: 'start';
  id: string;
  file: string;
  instance: string;
  start: SessionStartEvent;
}
interface IndexEnd {
  kind: 'end';
  id: string;
  end: SessionEndEvent;
  /** Lines in the session file and the SHA-256 of the last one (see line-chain.ts). */
  lines?: number;
  headSha256?: string;
}
type IndexLine = IndexStart | IndexEnd;

interface InstanceInfo {
  instance: string;
  pid: number;
}

export class LocalStore implements RecordingStore {
  private readonly root: string;
  private readonly index: AppendLog | undefined;
  private readonly instance: string = randomUUID();

  /** `writable: false` opens for reading only (the CLI), so it never claims the live sessions. */
  constructor(dataDir: string, opts: { writable: boolean }) {
    this.root = join(dataDir, 'recordings');
    mkdirSync(join(this.root, 'sessions'), { recursive: true, mode: 0o700 });
    if (opts.writable) {
      this.index = new AppendLog(join(this.root, 'index.ndjson'));
      const info: InstanceInfo = { instance: this.instance, pid: process.pid };
      writeFileSync(join(this.root, 'instance.json'), JSON.stringify(info) + '\n', { mode: 0o600 });
    }
  }

  async openSession(start: SessionStartEvent): Promise<SessionWriter> {
    if (!this.index) throw new Error('this store was opened read-only');
    const day = start.time.slice(0, 10);
    const dir = join(this.root, 'sessions', day);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join('sessions', day, `${start.session}.ndjson`);
    const log = new AppendLog(join(this.root, file));
    const line: IndexStart = { kind: 'start', id: start.session, file, instance: this.instance, start };
    const first = chainLine(JSON.stringify(start), GENESIS_LINE);
    // Both the session file and the index must hold the start before anything is forwarded.
    // Nothing is forwarded before the session's first durable append (the
    // recorder writes each request durably before forwarding it), and that
    // append's fdatasync covers the start line too: so the start line is only
    // written here, and the index's sync runs alongside the first request's
    // instead of one full fdatasync ahead of it (one sync less of latency on
    // every new session, which is every kubectl exec).
    await log.append(first, false);
    const indexDurable = this.index.append(JSON.stringify(line), true);
    indexDurable.catch(() => undefined); // reported by the first durable append (or close)
    return new LocalSessionWriter(start.session, log, this.index, lineHash(first), indexDurable);
  }

  private async readIndex(): Promise<Map<string, { start?: IndexStart; end?: IndexEnd }>> {
    const byId = new Map<string, { start?: IndexStart; end?: IndexEnd }>();
    for await (const l of readNdjson<IndexLine>(join(this.root, 'index.ndjson'))) {
      const e = byId.get(l.id) ?? {};
      if (l.kind === 'start') e.start = l;
      else if (l.kind === 'end') e.end = l;
      byId.set(l.id, e);
    }
    return byId;
  }

  private liveInstance(): string | undefined {
    try {
      const info = JSON.parse(readFileSync(join(this.root, 'instance.json'), 'utf8')) as InstanceInfo;
      if (info.instance === this.instance) return info.instance;
      process.kill(info.pid, 0); // throws when that process is gone
      return info.instance;
    } catch {
      return undefined;
    }
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    const index = await this.readIndex();
    const live = this.liveInstance();
    const out: SessionSummary[] = [];
    for (const [id, { start, end }] of index) {
      if (!start) continue;
      const s = start.start;
      if (filter.user && s.user !== filter.user) continue;
      if (filter.cluster && s.cluster !== filter.cluster) continue;
      if (filter.since && Date.parse(s.time) < filter.since.getTime()) continue;
      const counts = end ? end.end.summary : await this.countFromFile(start.file);
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
        state: end ? 'ended' : start.instance === live ? 'live' : 'interrupted',
        ...counts,
      };
      if (s.command) summary.command = s.command;
      if (s.userAgent) summary.userAgent = s.userAgent;
      if (end) summary.endedAt = end.end.time;
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

  async verify(id: string): Promise<VerifyReport> {
    const file = this.fileOf(id);
    const end = (await this.readIndex()).get(id)?.end;
    return verifyLocalSession(id, file ? join(this.root, file) : undefined, end ? { lines: end.lines, headSha256: end.headSha256 } : undefined);
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
    await this.index?.close();
  }
}

class LocalSessionWriter implements SessionWriter {
  private lines = 1;

  constructor(
    readonly id: string,
    private readonly log: AppendLog,
    private readonly index: AppendLog,
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
  private chained(event: RecordEvent): Buffer {
    const bytes = Buffer.from(chainLine(JSON.stringify(event), this.head) + '\n');
    this.head = lineBytesHash(bytes.subarray(0, bytes.length - 1));
    this.lines++;
    return bytes;
  }

  append(event: RecordEvent, opts: AppendOptions = {}): Promise<void> {
    const durable = opts.durable ?? false;
    const p = this.log.appendEncoded(this.chained(event), durable);
    return durable ? this.withStart(p) : p;
  }

  async close(end: RecordEvent): Promise<void> {
    await this.withStart(this.log.appendEncoded(this.chained(end), true));
    await this.log.close();
    if (end.type === 'session.end') {
      const line: IndexEnd = { kind: 'end', id: this.id, end, lines: this.lines, headSha256: this.head };
      await this.index.append(JSON.stringify(line), true);
    }
  }
}
