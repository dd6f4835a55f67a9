// The AWS store's costs, against moto_server on this machine:
//   1. recording throughput: exec-like output (64 KiB stdout events, the
//      way the recorder writes a busy `kubectl exec`) appended by several
//      sessions at once, until all of it is in S3 and DynamoDB; MB/s into
//      the spool and end to end, and the DynamoDB writes and S3 PUTs that
//      each recorded GB costs;
//   2. the spool's latency on small requests: a durable append (fdatasync)
//      of a request event, p50/p99, alone and 16 at a time.
// moto is slower than AWS and shares the 2 cores with kubetape, so the end-
// to-end MB/s here is a floor; the calls per GB do not depend on it.
//
//   npx tsc -p tsconfig.json && node dist/bench/aws-store.js [--mb 64] [--sessions 8] [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Metrics } from '../src/admin/metrics.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { newSessionId } from '../src/store/store.js';
import { emptyCounts, type RequestEvent, type SessionStartEvent } from '../src/model/recording.js';
import { awsEnv, awsRecording, provision, startMotoServer, useAwsEnv } from '../test/helpers/aws-store.js';

const { values: args } = parseArgs({
  options: { mb: { type: 'string', default: '64' }, sessions: { type: 'string', default: '8' }, json: { type: 'boolean', default: false } },
});
const totalMb = Number(args.mb);
const sessions = Number(args.sessions);
const EVENT_BYTES = 64 * 1024;

function start(id: string): SessionStartEvent {
  return {
    type: 'session.start',
    session: id,
    time: new Date().toISOString(),
    user: 'bench',
    groups: [],
    authMethod: 'token-file',
    cluster: 'bench',
    source: '127.0.0.1',
  };
}

function request(id: string, seq: number): RequestEvent {
  const attrs = {
    isResourceRequest: true,
    verb: 'get',
    apiGroup: '',
    apiVersion: 'v1',
    resource: 'configmaps',
    subresource: '',
    namespace: 'default',
    name: 'small',
  };
  return {
    type: 'request',
    session: id,
    seq,
    time: new Date().toISOString(),
    method: 'GET',
    uri: '/api/v1/namespaces/default/configmaps/small',
    attrs,
    headers: { accept: 'application/json' },
    streaming: false,
  };
}

async function calls(m: Metrics, target: string): Promise<number> {
  const h = (await m.uploadDuration.get()).values.find((v) => v.metricName === 'kubetape_upload_duration_seconds_count' && v.labels['target'] === target);
  return h?.value ?? 0;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-bench-aws-'));
  const moto = await startMotoServer();
  try {
    useAwsEnv(awsEnv({ endpoint: moto.url }));
    await provision('bench', 'bench-bucket');
    const metrics = new Metrics();
    const store = await AwsStore.open({
      settings: awsStoreSettings(awsRecording('bench', 'bench-bucket', { flushSeconds: 2, spoolMaxBytes: 4 * 1024 ** 3 })),
      writable: { dataDir: dir, failMode: 'closed' },
      metrics,
      log: (l) => process.stderr.write(l + '\n'),
    });

    // 1. Throughput.
    const data = randomBytes((EVENT_BYTES * 3) / 4).toString('base64'); // stdout as the recorder stores binary output
    const perSession = Math.ceil((totalMb * 1024 * 1024) / EVENT_BYTES / sessions);
    process.stderr.write(`recording ${totalMb} MB of exec output in ${sessions} sessions...\n`);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: sessions }, async () => {
        const id = newSessionId();
        const w = await store.openSession(start(id));
        await w.append(request(id, 1), { durable: true });
        for (let i = 0; i < perSession; i++) {
          await w.append({ type: 'stream', session: id, seq: 1, offsetMs: i, channel: 'stdout', encoding: 'base64', data });
          if (i % 16 === 0) await new Promise((r) => setImmediate(r)); // let the uploader run, as live traffic would
        }
        await w.close({ type: 'session.end', session: id, time: new Date().toISOString(), reason: 'idle', summary: emptyCounts() });
      }),
    );
    const spooled = performance.now() - t0;
    await store.uploaded(600_000);
    const uploaded = performance.now() - t0;
    const recordedGb = (perSession * sessions * EVENT_BYTES) / 1024 ** 3;
    const dynamoCalls = await calls(metrics, 'dynamodb');
    const s3Calls = await calls(metrics, 's3');

    // 2. Small-request latency of the spool (durable append).
    const lat1: number[] = [];
    const id = newSessionId();
    const w = await store.openSession(start(id));
    for (let i = 0; i < 500; i++) {
      const a = performance.now();
      await w.append(request(id, i + 2), { durable: true });
      lat1.push(performance.now() - a);
    }
    const lat16: number[] = [];
    let seq = 1000;
    for (let round = 0; round < 100; round++) {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          const a = performance.now();
          await w.append(request(id, seq++), { durable: true });
          lat16.push(performance.now() - a);
        }),
      );
    }
    await w.close({ type: 'session.end', session: id, time: new Date().toISOString(), reason: 'idle', summary: emptyCounts() });
    await store.uploaded(60_000);
    await store.close();

    const mb = (perSession * sessions * EVENT_BYTES) / 1024 ** 2;
    const report = {
      recordedMB: Math.round(mb),
      sessions,
      spoolMBps: +(mb / (spooled / 1000)).toFixed(1),
      endToEndMBps: +(mb / (uploaded / 1000)).toFixed(1),
      dynamoWriteCallsPerGB: Math.round(dynamoCalls / recordedGb),
      s3PutsPerGB: Math.round(s3Calls / recordedGb),
      durableAppendMs: { p50: +pct(lat1, 50).toFixed(3), p99: +pct(lat1, 99).toFixed(3) },
      durableAppendMsAt16: { p50: +pct(lat16, 50).toFixed(3), p99: +pct(lat16, 99).toFixed(3) },
    };
    if (args.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else {
      process.stdout.write(
        [
          `recorded                 ${report.recordedMB} MB of exec output in ${sessions} sessions (64 KiB events)`,
          `into the spool           ${report.spoolMBps} MB/s`,
          `end to end (S3 + DDB)    ${report.endToEndMBps} MB/s  (moto on the same 2 cores: a floor)`,
          `DynamoDB write calls/GB  ${report.dynamoWriteCallsPerGB}  (session puts/updates, chunk items, request-item batches, months)`,
          `S3 PUTs/GB               ${report.s3PutsPerGB}  (1 MiB chunks + one manifest per session)`,
          `durable append, 1 at a time   p50 ${report.durableAppendMs.p50} ms  p99 ${report.durableAppendMs.p99} ms`,
          `durable append, 16 at a time  p50 ${report.durableAppendMsAt16.p50} ms  p99 ${report.durableAppendMsAt16.p99} ms`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    await moto.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
