// The AWS store's tests run against real emulators: moto_server (a child
// process we can freeze with SIGSTOP), and dynalite + s3rver in-process for
// their stricter validation. kubetape finds them the way it finds AWS: the
// standard environment variables (AWS_REGION, AWS_ENDPOINT_URL[_SERVICE],
// credentials), set here for this test process and handed to children.
import { mkdirSync } from 'node:fs';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ensureTable } from '../../src/store/aws/create-table.js';
import type { RecordingConfig } from '../../src/store/settings.js';

export { freePort, startMoto as startMotoServer, type Moto as MotoServer } from './moto.js';

/** The standard AWS environment for emulators: one endpoint for everything, or one per service. */
export function awsEnv(o: { endpoint?: string; dynamodb?: string; s3?: string; accessKey?: string; secretKey?: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: o.accessKey ?? 'testing',
    AWS_SECRET_ACCESS_KEY: o.secretKey ?? 'testing',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  if (o.endpoint) env.AWS_ENDPOINT_URL = o.endpoint;
  if (o.dynamodb) env.AWS_ENDPOINT_URL_DYNAMODB = o.dynamodb;
  if (o.s3) env.AWS_ENDPOINT_URL_S3 = o.s3;
  return env;
}

/** Set the AWS environment for this process (test files run in their own process). */
export function useAwsEnv(env: NodeJS.ProcessEnv): void {
  for (const k of ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3', 'AWS_PROFILE']) delete process.env[k];
  Object.assign(process.env, env);
}

/** Table (from TABLE_SCHEMA) and bucket, through the endpoints in process.env. */
export async function provision(table: string, bucket: string, o: { ttl?: boolean } = {}): Promise<void> {
  const dynamo = new DynamoDBClient({});
  const s3 = new S3Client({ forcePathStyle: true });
  try {
    await ensureTable(dynamo, table, o);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    dynamo.destroy();
    s3.destroy();
  }
}

export function awsRecording(table: string, bucket: string, extra: Partial<RecordingConfig> = {}): RecordingConfig {
  return {
    maxBodyBytes: 1024 * 1024,
    maxStreamBytes: 64 * 1024 * 1024,
    sessionIdleSeconds: 1,
    failMode: 'closed',
    store: 'aws',
    table,
    bucket,
    prefix: 'recordings/',
    s3ForcePathStyle: true,
    flushSeconds: 0.5,
    ...extra,
  };
}

/** All items of one session partition, raw (for asserting on the DynamoDB layout). */
export async function partitionItems(table: string, pk: string): Promise<Array<Record<string, unknown>>> {
  const dynamo = new DynamoDBClient({});
  try {
    const out: Array<Record<string, unknown>> = [];
    let start: Record<string, never> | undefined;
    do {
      const r = await dynamo.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: pk } },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      out.push(...(r.Items ?? []));
      start = r.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
    return out;
  } finally {
    dynamo.destroy();
  }
}

export function ensureDir(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}

import type { RecordingStore, SessionWriter, SessionFilter, AppendOptions } from '../../src/store/store.js';
import type { RecordEvent, SessionStartEvent } from '../../src/model/recording.js';

/**
 * Passes everything to the real store and keeps, per session, the JSON of
 * every event the recorder handed over: what a store must give back.
 */
export class TeeStore implements RecordingStore {
  readonly written = new Map<string, string[]>();

  constructor(readonly inner: RecordingStore) {}

  async openSession(start: SessionStartEvent): Promise<SessionWriter> {
    const w = await this.inner.openSession(start);
    const lines = [JSON.stringify(start)];
    this.written.set(start.session, lines);
    return {
      id: w.id,
      append: (ev: RecordEvent, o?: AppendOptions) => {
        lines.push(JSON.stringify(ev));
        return w.append(ev, o);
      },
      close: (end: RecordEvent) => {
        lines.push(JSON.stringify(end));
        return w.close(end);
      },
    };
  }

  listSessions(f?: SessionFilter) {
    return this.inner.listSessions(f);
  }
  resolveId(id: string) {
    return this.inner.resolveId(id);
  }
  readSession(id: string) {
    return this.inner.readSession(id);
  }
  close() {
    return this.inner.close();
  }
}
