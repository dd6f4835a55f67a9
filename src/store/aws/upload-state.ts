// What the uploader has made durable remotely, itself kept durable locally
// (DATA/spool/upload-state.json, replaced atomically: write, fsync, rename,
// fsync the directory). With it a restart resumes exactly where the last run
// stopped: events at or before a session's `through` position are uploaded;
// a chunk named in `pending` was being uploaded and is rebuilt from the very
// same events, so it comes out byte-identical.
import { readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { SessionEndEvent, SessionSummaryCounts } from '../../model/recording.js';
import type { SpoolPosition } from '../spool/spool.js';
import type { CheckpointState } from './checkpoints.js';

export interface PendingChunk {
  seq: number;
  /** Position of the chunk's last event. */
  through: SpoolPosition;
}

export interface SessionProgress {
  id: string;
  startedAt: string;
  s3Prefix: string;
  expiresAt?: number;
  /** The session item exists in DynamoDB. */
  startWritten: boolean;
  nextChunk: number;
  /** SHA-256 of the last uploaded chunk (the chain's head so far). */
  prevHash: string;
  /** Position of the last uploaded event. */
  through?: SpoolPosition;
  events: number;
  bytes: number;
  counts: SessionSummaryCounts;
  /** Chunks being uploaded: rebuilt identically after a crash. */
  pending?: PendingChunk[];
  /** The session.end event, once uploaded. */
  end?: SessionEndEvent;
}

export interface UploadState {
  version: 1;
  sessions: Record<string, SessionProgress>;
  /** Sessions finished (manifest written): id -> last segment holding their events, so a re-read skips them. */
  finished: Record<string, number>;
  /** Where this data dir's chain of checkpoints stands (checkpoints.ts). */
  checkpoint?: CheckpointState;
}

export class UploadStateFile {
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, 'upload-state.json');
  }

  load(): UploadState {
    try {
      const s = JSON.parse(readFileSync(this.path, 'utf8')) as UploadState;
      if (s.version === 1 && s.sessions && s.finished) return s;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`the upload state ${this.path} is unreadable (${(e as Error).message}); move it aside to re-upload the spool from the start`, {
          cause: e,
        });
    }
    return { version: 1, sessions: {}, finished: {} };
  }

  async save(s: UploadState): Promise<void> {
    const tmp = this.path + '.tmp';
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(s));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dir = await open(join(this.path, '..'), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
