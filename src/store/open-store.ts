// The configured recording store: local files, or DynamoDB + S3 through a
// spool. The AWS SDK is loaded only when the AWS store is configured, so the
// local store starts (and the CLI runs) without it.
import type { Metrics } from '../admin/metrics.js';
import { awsStoreSettings, type RecordingConfig } from './settings.js';
import type { SessionStartEvent, SessionSummary, RecordEvent } from '../model/recording.js';
import { LocalStore } from './local/local-store.js';
import { loadCheckpointKey } from './local/index-chain.js';
import type { RecordingStore, SessionFilter, SessionWriter } from './store.js';
import type { StoreVerifyReport, VerifyReport } from './verify.js';

export interface OpenStoreOptions {
  dataDir: string;
  recording: RecordingConfig;
  metrics?: Metrics;
  log?: (line: string) => void;
}

/** The store `kubetape serve` records into; it claims the live sessions when `claim()` is called. */
export async function openWritableStore(o: OpenStoreOptions): Promise<RecordingStore> {
  if ((o.recording.store ?? 'local') === 'local') {
    return new LocalStore(o.dataDir, {
      writable: true,
      claim: false,
      // Read now: a serve whose checkpoints cannot be signed must not start quietly unsigned.
      ...(o.recording.checkpointKeyFile ? { checkpointKey: loadCheckpointKey(o.recording.checkpointKeyFile, o.dataDir) } : {}),
      ...(o.recording.checkpointSeconds ? { checkpointSeconds: o.recording.checkpointSeconds } : {}),
      ...(o.recording.checkpointAnchorFile ? { checkpointAnchorFile: o.recording.checkpointAnchorFile } : {}),
    });
  }
  const { AwsStore } = await import('./aws/aws-store.js');
  return AwsStore.open({
    settings: awsStoreSettings(o.recording),
    writable: { dataDir: o.dataDir, failMode: o.recording.failMode },
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
}

/** The store the CLI reads from (never writes, never claims live sessions). */
export function openReadableStore(o: { dataDir: string; recording: RecordingConfig }): RecordingStore {
  if ((o.recording.store ?? 'local') === 'local')
    return new LocalStore(o.dataDir, {
      writable: false,
      ...(o.recording.checkpointKeyFile ? { checkpointKeyFile: o.recording.checkpointKeyFile } : {}),
      ...(o.recording.checkpointAnchorFile ? { checkpointAnchorFile: o.recording.checkpointAnchorFile } : {}),
    });
  return new LazyStore(async () => {
    const { AwsStore } = await import('./aws/aws-store.js');
    return AwsStore.open({ settings: awsStoreSettings(o.recording) });
  });
}

/** A store opened on first use, so callers can stay synchronous. */
class LazyStore implements RecordingStore {
  private opened: Promise<RecordingStore> | undefined;

  constructor(private readonly open: () => Promise<RecordingStore>) {}

  private store(): Promise<RecordingStore> {
    return (this.opened ??= this.open());
  }

  async openSession(start: SessionStartEvent): Promise<SessionWriter> {
    return (await this.store()).openSession(start);
  }

  async listSessions(filter?: SessionFilter): Promise<SessionSummary[]> {
    return (await this.store()).listSessions(filter);
  }

  async resolveId(idOrPrefix: string): Promise<string | undefined> {
    return (await this.store()).resolveId(idOrPrefix);
  }

  async *readSession(id: string): AsyncIterable<RecordEvent> {
    yield* (await this.store()).readSession(id);
  }

  async summary(id: string): Promise<SessionSummary | undefined> {
    const s = await this.store();
    return s.summary ? s.summary(id) : (await s.listSessions()).find((x) => x.id === id);
  }

  async verify(id: string): Promise<VerifyReport> {
    const s = await this.store();
    if (!s.verify) throw new Error('this store cannot verify recordings');
    return s.verify(id);
  }

  async verifyAll(): Promise<StoreVerifyReport> {
    const s = await this.store();
    if (s.verifyAll) return s.verifyAll();
    if (!s.verify) throw new Error('this store cannot verify recordings');
    const sessions: VerifyReport[] = [];
    for (const x of (await s.listSessions()).reverse()) sessions.push(await s.verify(x.id));
    return { ok: sessions.every((r) => r.ok), sessions, problems: [], notes: [] };
  }

  async close(): Promise<void> {
    if (this.opened) await (await this.opened).close();
  }
}
