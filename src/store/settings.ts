// The `recording` section of the config: what is kept and how strictly
// (RecordingConfig), and the keys that choose and tune the store: local files
// (the default) or DynamoDB + S3 behind a local spool. Here, below config/,
// so the store (and the approvals log beside it) read their settings without
// importing the whole config; config/config.ts parses and validates them.
import { ConfigError } from '../model/config-error.js';

export type StoreKind = 'local' | 'aws';

/** Keys of `recording` that configure the store; all optional in the file, defaulted by `storeSettings`. */
export interface RecordingStoreKeys {
  /** local (default): files in the data dir. aws: DynamoDB + S3, through a spool in the data dir. */
  store?: StoreKind;
  /** DynamoDB table (default kubetape-sessions). */
  table?: string;
  /** S3 bucket for recording chunks; required with store: aws. */
  bucket?: string;
  /** Key prefix in the bucket (default "recordings/"). */
  prefix?: string;
  /** DynamoDB items expire this many days after their session started; 0 keeps them (default 365). */
  retentionDays?: number;
  /** KMS key (id, ARN or alias) for SSE-KMS on every object; default: the bucket's own encryption. */
  kmsKeyId?: string;
  /** Path-style S3 URLs (needed by most S3 emulators and some private endpoints). Default false. */
  s3ForcePathStyle?: boolean;
  /** Bytes the spool may hold before new requests are refused (failMode closed) or unrecorded (open). Default 1 GiB. */
  spoolMaxBytes?: number;
  /** A chunk is uploaded once it holds this many bytes (default 1 MiB). */
  chunkBytes?: number;
  /** ... or once its oldest event waited this long (default 2). */
  flushSeconds?: number;
  /**
   * Local store: a key file kept outside the data dir (32 bytes or more); the
   * index's checkpoints are signed with it (HMAC-SHA256), so whoever can
   * rewrite the data dir cannot rewrite what they anchor. Without it they are
   * unsigned and verify says the evidence is only as strong as the data dir's protection.
   */
  checkpointKeyFile?: string;
  /**
   * Local store: a file outside the data dir that each checkpoint is also
   * appended to (its index line and hash), so that putting an older copy of
   * the data dir back in place is named by `verify`. Keep it where whoever can
   * write the data dir cannot truncate it (another volume or host, chattr +a).
   */
  checkpointAnchorFile?: string;
  /** Seconds between checkpoints of the open sessions' heads while they grow (default 60). */
  checkpointSeconds?: number;
  /**
   * AWS store: a KMS key (key spec HMAC_256, usage GENERATE_VERIFY_MAC; id,
   * ARN or alias) the checkpoints in the bucket are MAC'd with (GenerateMac;
   * `verify` calls VerifyMac). Without it they are written unsigned and are
   * only as strong as the bucket's Object Lock.
   */
  checkpointKmsKeyId?: string;
}

/** `recording:` in the config (config/config.ts fills in the defaults). */
export interface RecordingConfig extends RecordingStoreKeys {
  /** Bytes kept of each request and response body (default 1 MiB). */
  maxBodyBytes: number;
  /** Bytes kept of each streaming response: watch, logs -f (default 64 MiB). */
  maxStreamBytes: number;
  /** A kubectl invocation's session ends after this many idle seconds (default 30). */
  sessionIdleSeconds: number;
  /** closed: refuse what cannot be recorded durably (default). open: forward anyway and count it. */
  failMode: 'closed' | 'open';
  /** Events kept of each stream (exec, attach, port-forward, watch, logs -f); default 200,000. */
  maxStreamEvents?: number;
  /** Free bytes kept on the data dir's filesystem (default 5% of it, at most 512 MiB; 0: none). */
  diskReserveBytes?: number;
  /** Bytes each user may record per UTC day (default 2 GiB; 0: no limit). */
  userDailyBytes?: number;
}

export const RECORDING_STORE_KEYS: readonly (keyof RecordingStoreKeys)[] = [
  'store',
  'table',
  'bucket',
  'prefix',
  'retentionDays',
  'kmsKeyId',
  's3ForcePathStyle',
  'spoolMaxBytes',
  'chunkBytes',
  'flushSeconds',
  'checkpointKeyFile',
  'checkpointAnchorFile',
  'checkpointSeconds',
  'checkpointKmsKeyId',
];

const AWS_ONLY: readonly (keyof RecordingStoreKeys)[] = [
  'table',
  'bucket',
  'prefix',
  'retentionDays',
  'kmsKeyId',
  's3ForcePathStyle',
  'spoolMaxBytes',
  'chunkBytes',
  'flushSeconds',
  'checkpointKmsKeyId',
];
const LOCAL_ONLY: readonly (keyof RecordingStoreKeys)[] = ['checkpointKeyFile', 'checkpointAnchorFile'];

export interface AwsStoreSettings {
  table: string;
  bucket: string;
  prefix: string;
  retentionDays: number;
  kmsKeyId?: string;
  s3ForcePathStyle: boolean;
  spoolMaxBytes: number;
  chunkBytes: number;
  flushMs: number;
  /** KMS HMAC key of the checkpoints (checkpoints.ts); absent: unsigned. */
  checkpointKmsKeyId?: string;
  /** Between checkpoints of the live sessions' heads. */
  checkpointMs: number;
}

export const STORE_DEFAULTS = {
  table: 'kubetape-sessions',
  prefix: 'recordings/',
  retentionDays: 365,
  spoolMaxBytes: 1024 * 1024 * 1024,
  chunkBytes: 1024 * 1024,
  flushSeconds: 2,
} as const;

/** Check the store keys (throws ConfigError naming the key) and normalise the prefix. */
export function validateRecordingStore(r: RecordingStoreKeys): void {
  const store = r.store ?? 'local';
  if (store !== 'local' && store !== 'aws') throw new ConfigError(`recording.store must be "local" or "aws", got ${JSON.stringify(r.store)}`);
  if (store === 'local') {
    const stray = AWS_ONLY.find((k) => r[k] !== undefined);
    if (stray) throw new ConfigError(`recording.${stray} is only used with recording.store: aws`);
    if (r.checkpointKeyFile !== undefined && (typeof r.checkpointKeyFile !== 'string' || r.checkpointKeyFile === '')) {
      throw new ConfigError('recording.checkpointKeyFile must be the path of a key file kept outside the data dir');
    }
    if (r.checkpointAnchorFile !== undefined && (typeof r.checkpointAnchorFile !== 'string' || r.checkpointAnchorFile === '')) {
      throw new ConfigError('recording.checkpointAnchorFile must be the path of a file kept outside the data dir');
    }
    checkpointSeconds(r);
    return;
  }
  checkpointSeconds(r);
  if (r.checkpointKmsKeyId !== undefined && (typeof r.checkpointKmsKeyId !== 'string' || r.checkpointKmsKeyId === ''))
    throw new ConfigError('recording.checkpointKmsKeyId must be a KMS key id, ARN or alias (an HMAC_256 key)');
  const localOnly = LOCAL_ONLY.find((k) => r[k] !== undefined);
  if (localOnly)
    throw new ConfigError(`recording.${localOnly} is only used with the local store (the AWS store signs its checkpoints with recording.checkpointKmsKeyId)`);
  if (r.bucket === undefined) throw new ConfigError('recording.bucket is required with recording.store: aws');
  if (typeof r.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(r.bucket)) {
    throw new ConfigError(`recording.bucket must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens), got ${JSON.stringify(r.bucket)}`);
  }
  if (r.table !== undefined && (typeof r.table !== 'string' || !/^[A-Za-z0-9_.-]{3,255}$/.test(r.table))) {
    throw new ConfigError(`recording.table must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got ${JSON.stringify(r.table)}`);
  }
  if (r.prefix !== undefined) {
    if (typeof r.prefix !== 'string' || r.prefix.startsWith('/') || r.prefix.includes('//') || r.prefix.length > 512) {
      throw new ConfigError(`recording.prefix must be a relative S3 key prefix like "recordings/", got ${JSON.stringify(r.prefix)}`);
    }
    if (r.prefix !== '' && !r.prefix.endsWith('/')) r.prefix += '/';
  }
  if (r.kmsKeyId !== undefined && (typeof r.kmsKeyId !== 'string' || r.kmsKeyId === ''))
    throw new ConfigError('recording.kmsKeyId must be a non-empty string (key id, ARN or alias)');
  if (r.s3ForcePathStyle !== undefined && typeof r.s3ForcePathStyle !== 'boolean')
    throw new ConfigError(`recording.s3ForcePathStyle must be true or false, got ${JSON.stringify(r.s3ForcePathStyle)}`);
  integer(r.retentionDays, 'retentionDays', 0, 36500);
  integer(r.spoolMaxBytes, 'spoolMaxBytes', 4096, Number.MAX_SAFE_INTEGER);
  integer(r.chunkBytes, 'chunkBytes', 1024, 64 * 1024 * 1024);
  if (r.flushSeconds !== undefined && (typeof r.flushSeconds !== 'number' || !(r.flushSeconds >= 0.05 && r.flushSeconds <= 300))) {
    throw new ConfigError(`recording.flushSeconds must be a number from 0.05 to 300, got ${JSON.stringify(r.flushSeconds)}`);
  }
}

function checkpointSeconds(r: RecordingStoreKeys): void {
  if (r.checkpointSeconds !== undefined && (typeof r.checkpointSeconds !== 'number' || !(r.checkpointSeconds >= 1 && r.checkpointSeconds <= 86400))) {
    throw new ConfigError(`recording.checkpointSeconds must be a number from 1 to 86400, got ${JSON.stringify(r.checkpointSeconds)}`);
  }
}

function integer(v: unknown, key: string, min: number, max: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(`recording.${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
}

/** The AWS store's settings with defaults filled in; call after validateRecordingStore. */
export function awsStoreSettings(r: RecordingStoreKeys): AwsStoreSettings {
  if (!r.bucket) throw new ConfigError('recording.bucket is required with recording.store: aws');
  const s: AwsStoreSettings = {
    table: r.table ?? STORE_DEFAULTS.table,
    bucket: r.bucket,
    prefix: r.prefix ?? STORE_DEFAULTS.prefix,
    retentionDays: r.retentionDays ?? STORE_DEFAULTS.retentionDays,
    s3ForcePathStyle: r.s3ForcePathStyle ?? false,
    spoolMaxBytes: r.spoolMaxBytes ?? STORE_DEFAULTS.spoolMaxBytes,
    chunkBytes: r.chunkBytes ?? STORE_DEFAULTS.chunkBytes,
    flushMs: Math.round((r.flushSeconds ?? STORE_DEFAULTS.flushSeconds) * 1000),
    checkpointMs: Math.round((r.checkpointSeconds ?? 60) * 1000),
  };
  if (r.kmsKeyId) s.kmsKeyId = r.kmsKeyId;
  if (r.checkpointKmsKeyId) s.checkpointKmsKeyId = r.checkpointKmsKeyId;
  return s;
}
