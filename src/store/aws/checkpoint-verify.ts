// `verify --all`, AWS store: the checkpoints (checkpoints.ts) read back.
// Every checkpoint object of every writer, in seq order: its chain (seq and
// prev), its MAC (VerifyMac with the configured key: a checkpoint MAC'd with
// any other key fails), and the bucket's versions of them (a delete leaves a
// marker, an overwrite a second version: both are reported). What the
// checkpoints say of each session becomes its anchors, which
// verifyAwsSession checks its chunks against, and a session they name that
// is found nowhere is reported deleted.
import { HeadObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { GENESIS } from './chunk-format.js';
import { checkpointsPrefix, objectSha, parseCheckpointKey, signedBytes, type Checkpoint, type CheckpointHead } from './checkpoints.js';
import type { KmsMac } from './kms-mac.js';

/** What a checkpoint recorded of one session. */
export interface Anchor extends CheckpointHead {
  /** Which checkpoint: "WRITER/SEQ of TIME". */
  where: string;
}

export interface CheckpointFindings {
  /** By session: what each checkpoint recorded of it, oldest first. */
  anchors: Map<string, Anchor[]>;
  problems: string[];
  notes: string[];
  anchor: string;
}

interface Version {
  key: string;
  versionId: string | undefined;
  latest: boolean;
  deleteMarker: boolean;
}

export async function verifyCheckpoints(o: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  kms: KmsMac | undefined;
  getObject: (key: string, versionId?: string) => Promise<Buffer | undefined>;
}): Promise<CheckpointFindings> {
  const problems: string[] = [];
  const notes: string[] = [];
  const anchors = new Map<string, Anchor[]>();
  const base = checkpointsPrefix(o.prefix);

  // Every version under checkpoints/: what is there now, and what was deleted or overwritten.
  const versions: Version[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const r = await o.s3.send(
      new ListObjectVersionsCommand({
        Bucket: o.bucket,
        Prefix: base,
        ...(keyMarker ? { KeyMarker: keyMarker } : {}),
        ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
      }),
    );
    for (const v of r.Versions ?? []) if (v.Key) versions.push({ key: v.Key, versionId: v.VersionId, latest: v.IsLatest === true, deleteMarker: false });
    for (const d of r.DeleteMarkers ?? []) if (d.Key) versions.push({ key: d.Key, versionId: d.VersionId, latest: d.IsLatest === true, deleteMarker: true });
    keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
    versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
  } while (keyMarker);

  const byKey = new Map<string, Version[]>();
  for (const v of versions) byKey.set(v.key, [...(byKey.get(v.key) ?? []), v]);
  const writers = new Map<string, Map<number, string>>();
  for (const [key, vs] of byKey) {
    const parsed = parseCheckpointKey(o.prefix, key);
    if (!parsed) {
      problems.push(`unexpected object ${key} among the checkpoints (added)`);
      continue;
    }
    const objects = vs.filter((v) => !v.deleteMarker);
    const latest = vs.find((v) => v.latest);
    if (latest?.deleteMarker)
      problems.push(`checkpoint ${key} was deleted: a delete marker hides it${objects.length ? ' (the bucket still holds it: the checks below read it)' : ''}`);
    if (objects.length > 1) problems.push(`checkpoint ${key} was overwritten: the bucket holds ${objects.length} versions of it; the first written is checked`);
    const w = writers.get(parsed.writer) ?? new Map<number, string>();
    w.set(parsed.seq, key);
    writers.set(parsed.writer, w);
  }
  // The version to read: the first written (versions are listed newest first).
  const firstVersion = (key: string): string | undefined => {
    const objects = (byKey.get(key) ?? []).filter((v) => !v.deleteMarker);
    return objects[objects.length - 1]?.versionId;
  };

  let total = 0;
  let signed = 0;
  let newest: { cp: Checkpoint; key: string } | undefined;
  for (const [writer, seqs] of [...writers].sort()) {
    let prev = GENESIS;
    const last = Math.max(...seqs.keys());
    for (let seq = 0; seq <= last; seq++) {
      const key = seqs.get(seq);
      if (!key) {
        problems.push(`checkpoint ${writer}/${seq} is missing: checkpoint ${writer}/${seq + 1} and later ones follow it (deleted)`);
        prev = '';
        continue;
      }
      const vid = firstVersion(key);
      const body = vid === undefined && !(byKey.get(key) ?? []).some((v) => !v.deleteMarker) ? undefined : await o.getObject(key, vid);
      if (!body) continue; // only a delete marker: said above
      let cp: Checkpoint;
      try {
        cp = JSON.parse(body.toString('utf8')) as Checkpoint;
        if (cp.kubetape !== 'checkpoint' || !Array.isArray(cp.sessions)) throw new Error('not a checkpoint');
      } catch {
        problems.push(`checkpoint ${key} is not a checkpoint (changed)`);
        prev = '';
        continue;
      }
      total++;
      const where = `${writer}/${seq} of ${String(cp.time)}`;
      if (cp.writer !== writer || cp.seq !== seq) problems.push(`checkpoint ${key} says it is ${String(cp.writer)}/${String(cp.seq)} (moved)`);
      if (prev && cp.prev !== prev)
        problems.push(`checkpoint ${where} does not follow checkpoint ${writer}/${seq - 1}: the chain of checkpoints was changed before it`);
      prev = objectSha(body);
      if (o.kms) {
        if (!cp.mac) {
          if (signed > 0) problems.push(`checkpoint ${where} is not signed, after checkpoints signed with the KMS key: it was written without the key`);
        } else if (!(await o.kms.verify(signedBytes(cp), cp.mac))) {
          problems.push(`checkpoint ${where} does not verify with the KMS key ${o.kms.keyId}: it was written or changed without the key`);
          continue;
        } else signed++;
      }
      for (const s of cp.sessions) anchors.set(s.id, [...(anchors.get(s.id) ?? []), { ...s, where }]);
      if (!newest || cp.time > newest.cp.time) newest = { cp, key };
    }
  }

  if (!newest) {
    return {
      anchors,
      problems,
      notes,
      anchor:
        'no checkpoints in the bucket: each session is checked against its own chain and DynamoDB items only, so whoever can write both the bucket and the table can rewrite or delete a recording consistently',
    };
  }
  const lock = await retention(o.s3, o.bucket, newest.key, firstVersion(newest.key));
  const by = o.kms
    ? signed === total
      ? `signed with the KMS key ${o.kms.keyId}`
      : `${signed} of ${total} signed with the KMS key ${o.kms.keyId}`
    : 'not checked against a KMS key (recording.checkpointKmsKeyId is not set: whoever can write the bucket could have written them)';
  return {
    anchors,
    problems,
    notes,
    anchor:
      `anchored by ${total} checkpoint${total === 1 ? '' : 's'} in s3://${o.bucket}/${base}, ${by}; the newest (${newest.cp.writer}/${newest.cp.seq}) was written at ${newest.cp.time}: ` +
      `the sessions finished before it cannot be removed, nor their chunks changed, without the key` +
      `; ${lock}`,
  };
}

/** The Object Lock on the newest checkpoint, in words. */
async function retention(s3: S3Client, bucket: string, key: string, versionId: string | undefined): Promise<string> {
  try {
    // HEAD shows an object's lock (to a caller allowed s3:GetObjectRetention).
    const r = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId && versionId !== 'null' ? { VersionId: versionId } : {}) }));
    const until = r.ObjectLockRetainUntilDate;
    if (r.ObjectLockMode && until)
      return `the checkpoints are under Object Lock (${r.ObjectLockMode}, the newest until ${new Date(until).toISOString()}): not even the bucket's owner can delete or change them before then${r.ObjectLockMode === 'GOVERNANCE' ? ' (except with s3:BypassGovernanceRetention)' : ''}`;
  } catch {
    // no retention on it (or no permission to read it): said below
  }
  return 'the newest checkpoint is not under Object Lock retention: whoever can write the bucket can delete the checkpoints (verify reports what it can still see of them)';
}
