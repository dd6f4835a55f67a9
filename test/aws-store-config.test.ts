// The recording store's configuration keys: strict validation with messages
// that name the key, defaults, and the table schema every consumer derives from.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfigFile, resolveConfig } from '../src/config/config.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { TABLE_SCHEMA } from '../src/store/aws/table-schema.js';
import { createTableInput } from '../src/store/aws/create-table.js';
import { sessionStartItem } from '../src/store/aws/session-items.js';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../bin/kubetape.js');
const dir = mkdtempSync(join(tmpdir(), 'kubetape-awscfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, yaml);
  return resolveConfig(readConfigFile(f), {});
}

t.test('store keys: defaults, and every mistake named', async (t) => {
  const c = load('recording:\n  store: aws\n  bucket: kubetape-recordings-123456789012\n  prefix: recs\n  retentionDays: 30\n  failMode: open\n');
  const s = awsStoreSettings(c.recording);
  t.same(s, {
    table: 'kubetape-sessions',
    bucket: 'kubetape-recordings-123456789012',
    prefix: 'recs/',
    retentionDays: 30,
    s3ForcePathStyle: false,
    spoolMaxBytes: 1024 ** 3,
    chunkBytes: 1024 * 1024,
    flushMs: 2000,
    checkpointMs: 60_000,
  });
  t.equal(load('recording:\n  maxBodyBytes: 10\n').recording.store, undefined, 'local by default');

  const bad: Array<[string, RegExp]> = [
    ['recording:\n  store: dynamo\n', /recording.store must be "local" or "aws"/],
    ['recording:\n  store: aws\n', /recording.bucket is required with recording.store: aws/],
    ['recording:\n  bucket: b-b-b\n', /recording.bucket is only used with recording.store: aws/],
    ['recording:\n  checkpointKmsKeyId: alias/k\n', /recording.checkpointKmsKeyId is only used with recording.store: aws/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  checkpointKeyFile: k\n', /recording.checkpointKeyFile is only used with the local store/],
    ['recording:\n  store: aws\n  bucket: Bad_Bucket\n', /recording.bucket must be an S3 bucket name/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  table: "a b"\n', /recording.table must be a DynamoDB table name/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  prefix: /abs/\n', /recording.prefix must be a relative S3 key prefix/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  retentionDays: 1.5\n', /recording.retentionDays must be a whole number/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  spoolMaxBytes: 10\n', /recording.spoolMaxBytes must be a whole number from 4096/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  flushSeconds: 0\n', /recording.flushSeconds must be a number from 0.05 to 300/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  s3ForcePathStyle: "yes"\n', /recording.s3ForcePathStyle must be true or false/],
    ['recording:\n  store: aws\n  bucket: okay-bucket\n  kmsKeyid: k\n', /unknown key "recording.kmsKeyid"/],
  ];
  for (const [yaml, re] of bad) t.throws(() => load(yaml), re, yaml.replace(/\n/g, ' '));
});

t.test('the table schema is the one source: CreateTable input and item keys agree with it', async (t) => {
  const input = createTableInput();
  t.equal(input.TableName, TABLE_SCHEMA.defaultTableName);
  t.same(input.KeySchema, [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ]);
  t.same(
    input.GlobalSecondaryIndexes?.map((g) => g.IndexName),
    ['byUser', 'byCluster', 'byTime'],
  );
  const declared = new Set(input.AttributeDefinitions?.map((a) => a.AttributeName));
  const item = sessionStartItem(
    {
      type: 'session.start',
      session: '01J0000000AAAAAAAAAAAAAAAA',
      time: '2025-06-01T10:00:00.000Z',
      user: 'ann',
      groups: [],
      authMethod: 'oidc',
      cluster: 'prod',
      source: '10.0.0.1',
    },
    { s3Prefix: 'recordings/2025/06/01/01J0000000AAAAAAAAAAAAAAAA/', bucket: 'b', expiresAt: 1 },
  );
  for (const g of TABLE_SCHEMA.globalSecondaryIndexes) {
    t.ok(declared.has(g.partitionKey) && declared.has(g.sortKey), `${g.name}: keys declared`);
    t.type(item[g.partitionKey], 'string', `a session item carries ${g.partitionKey}`);
    t.type(item[g.sortKey], 'string', `a session item carries ${g.sortKey}`);
  }
  t.match(item['timePk'], /^month#2025-06#[0-7]$/, 'the time index is sharded per month');
  t.equal(item[TABLE_SCHEMA.ttlAttribute], 1, 'the TTL attribute');
});

t.test('the CLI says plainly when no AWS region is configured', async (t) => {
  const cfg = join(dir, 'noregion.yaml');
  writeFileSync(cfg, `dataDir: ${dir}\nrecording:\n  store: aws\n  bucket: some-bucket\n`);
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  process.env.AWS_CONFIG_FILE = join(dir, 'no-such-file');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-such-file');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const r = await new Promise<{ code: number | null; stderr: string }>((resolvePromise) => {
    execFile(process.execPath, [BIN, 'sessions', 'list', '--config', cfg], { env: process.env, timeout: 30_000 }, (err, _out, stderr) =>
      resolvePromise({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }),
    );
  });
  t.equal(r.code, 1, 'an error, not a listing');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  t.match(r.stderr, /^kubetape: recording.store is aws but no AWS region is configured: set AWS_REGION/);
});
