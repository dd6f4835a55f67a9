// Where the console's logins are kept follows the recording store, as the
// approvals do: with the local store, a file in the data dir (one kubetape
// holds the data dir, so its memory is the truth and the file outlives a
// restart); with the AWS store, items in the DynamoDB table, so a browser
// sent to any replica is known there. The AWS SDK is loaded only then.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { awsStoreSettings, type RecordingConfig } from '../store/settings.js';
import { isSession, type BrowserSession, type LoginStore } from './browser-sessions.js';

/** Logins kept at most in the file; the oldest goes first. */
const MAX_FILE_LOGINS = 10_000;

export async function openLoginStore(o: { file: string; recording: RecordingConfig }): Promise<LoginStore> {
  if ((o.recording.store ?? 'local') === 'local') return new FileLoginStore(o.file);
  const settings = awsStoreSettings(o.recording);
  const [{ createAwsClients }, { DynamoLoginStore }] = await Promise.all([import('../store/aws/clients.js'), import('./login-store-dynamo.js')]);
  const clients = createAwsClients({ s3ForcePathStyle: settings.s3ForcePathStyle, forUploads: false });
  return new DynamoLoginStore({ client: clients.dynamo, table: settings.table, onClose: () => clients.destroy() });
}

/** The logins in DATA/console-logins.json (mode 0600), written whole on every change, expired ones left out. */
export class FileLoginStore implements LoginStore {
  private readonly byHash = new Map<string, BrowserSession>();

  constructor(private readonly file: string) {
    let saved: unknown;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return; // none yet, or unreadable: everyone logs in again
    }
    if (!saved || typeof saved !== 'object') return;
    const now = Date.now();
    for (const [h, s] of Object.entries(saved as Record<string, BrowserSession>)) {
      if (/^[0-9a-f]{64}$/.test(h) && isSession(s) && s.expiresAt > now) this.byHash.set(h, s);
    }
  }

  async put(tokenHash: string, s: BrowserSession): Promise<void> {
    if (this.byHash.size >= MAX_FILE_LOGINS) this.byHash.delete(this.byHash.keys().next().value!);
    this.byHash.set(tokenHash, s);
    this.save();
  }

  async get(tokenHash: string): Promise<BrowserSession | undefined> {
    return this.byHash.get(tokenHash);
  }

  async revoke(tokenHash: string): Promise<void> {
    if (this.byHash.delete(tokenHash)) this.save();
  }

  close(): void {}

  private save(): void {
    const now = Date.now();
    for (const [h, s] of this.byHash) if (s.expiresAt <= now) this.byHash.delete(h);
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.byHash)), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
