// The sessions API with the AWS store (issue 14), two kubetape replicas on
// one table and bucket (moto_server): sessions recorded by one are listed,
// filtered (kind, free text, state, accesses) and read (events, cast, live)
// through the other, from the DynamoDB items and S3 chunks.
import t from 'tap';
import { request } from 'node:https';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { writeKubeconfig } from './helpers/kubectl.js';
import { kubectlBinary, startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { httpsCall } from './helpers/https-call.js';
import { findSession } from './helpers/recordings.js';
import { awsEnv, awsRecording, provision, startMotoServer, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import type { SessionSummary } from '../src/model/recording.js';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { linkLogin } from './helpers/console-login.js';
import { LOGIN_CACHE_MS } from '../src/console/login-store-dynamo.js';

const TABLE = 'console-api';
const BUCKET = 'console-api';
let moto: MotoServer;
let a: StreamHarness;
let b: Harness;
const dir = mkdtempSync(join(tmpdir(), 'console-aws-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision(TABLE, BUCKET);
  writeFileSync(join(dir, 'tokens.csv'), 'dana-token,dana,,"dev"\nvera-token,vera,,"auditors"\n');
  const config = {
    tokenFile: join(dir, 'tokens.csv'),
    recording: awsRecording(TABLE, BUCKET),
    console: { viewers: [{ group: 'auditors' }], linkTtlSeconds: 300, sessionTtlSeconds: 3600 },
  };
  a = await startStreamHarness({ config });
  b = await startHarness({ config });
});
t.teardown(async () => {
  await a?.close();
  await b?.close();
  await moto?.close();
});

const onB = (path: string, token = 'vera-token') => httpsCall(`${b.kt.url}${path}`, { ca: b.kt.ca, headers: { authorization: `Bearer ${token}` } });
type Page = { items: SessionSummary[]; nextCursor?: string };

t.test('a session recorded by one replica, read through the other', async (t) => {
  const dana = writeKubeconfig(a.h.dir, { server: a.h.kt.url, ca: a.h.kt.ca, token: 'dana-token', name: 'dana' });
  const run = kubectlBinary(dana, ['exec', 'web-0', '--', 'sh', '-c', 'echo aws-first; sleep 2; echo aws-second']);
  const live = await findSession(b.kt.store, (x) => x.user === 'dana' && x.state === 'live' && x.command === 'kubectl exec', 15_000);
  // While it runs, the other replica's filtered list finds it: its item learns its namespace and exec as chunks are uploaded.
  const foundLive = (async () => {
    for (let i = 0; i < 40; i++) {
      const r = await onB(`/kubetape/v1/sessions?namespace=default&kind=exec&state=live&q=${encodeURIComponent('aws-second')}`);
      if (r.status === 200 && (JSON.parse(r.body) as Page).items.some((x) => x.id === live.id)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  })();
  // Live through the replica that is not recording it: events arrive once their chunk is uploaded.
  const events: string[] = [];
  const ended = await new Promise<boolean>((resolve, reject) => {
    const req = request(
      `${b.kt.url}/kubetape/v1/sessions/${live.id}/live?bodies=true`,
      { ca: b.kt.ca, headers: { authorization: 'Bearer vera-token' } },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (buf += c));
        res.on('end', () => {
          for (const block of buf.split('\n\n')) {
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (/^event: record$/m.test(block) && data) events.push(data);
          }
          resolve(/^event: end$/m.test(buf));
        });
      },
    );
    req.setTimeout(40_000, () => req.destroy(new Error('the live view did not end')));
    req.on('error', reject);
    req.end();
  });
  t.equal((await run).code, 0);
  t.ok(ended, 'the live view ended with the session');
  t.ok(await foundLive, 'while live, found by namespace, kind and its exec command through the other replica');
  const out = events
    .map((e) => JSON.parse(e) as { type: string; channel?: string; data?: string; encoding?: string })
    .filter((e) => e.type === 'stream' && e.channel === 'stdout');
  t.match(
    out.map((e) => Buffer.from(e.data ?? '', e.encoding === 'base64' ? 'base64' : 'utf8').toString()).join(''),
    /aws-first[\s\S]*aws-second/,
    'the output came through the other replica',
  );

  const exec = await findSession(b.kt.store, (x) => x.id === live.id && x.state === 'ended', 15_000);
  t.ok(exec.execCommands?.includes('sh -c echo aws-first; sleep 2; echo aws-second'), 'the session item keeps the exec command');
  const ids = async (q: string) => (JSON.parse((await onB(`/kubetape/v1/sessions?${q}`)).body) as Page).items.map((x) => x.id);
  t.same(await ids('kind=exec'), [exec.id], 'kind=exec from the items');
  t.same(await ids('q=aws-second'), [exec.id], 'free text over exec commands');
  t.ok((await ids('state=ended&user=dana')).includes(exec.id), 'state=ended');
  const cast = await onB(`/kubetape/v1/sessions/${exec.id}/cast`);
  t.equal(cast.status, 200);
  t.match(cast.body, /aws-second/);
  const one = JSON.parse((await onB(`/kubetape/v1/sessions/${exec.id}`)).body) as { verification: { ok: boolean } };
  t.equal(one.verification.ok, true, 'verified against the chunks');
  t.equal((await onB(`/kubetape/v1/sessions/${exec.id}`, 'dana-token')).status, 200, 'dana reads her own');
});

t.test('reads through the API are accesses in the shared store', async (t) => {
  const readers = await findSession(b.kt.store, (x) => x.user === 'vera' && (x.reads ?? 0) > 0 && x.state === 'ended', 15_000);
  t.ok(readers, "vera's reading session is marked");
  const acc = JSON.parse((await onB('/kubetape/v1/accesses?user=vera')).body) as { items: Array<{ action: string }> };
  t.ok(acc.items.some((x) => x.action === 'cast'));
});

t.test('a browser login made on one replica is known on the other; a logout on either ends it', async (t) => {
  const cookie = await linkLogin(a.h.kt.url, a.h.kt.ca, a.h.dataDir, { user: 'vera', groups: ['auditors'] });
  const whoami = (h: Harness) => httpsCall(`${h.kt.url}/kubetape/v1/whoami`, { ca: h.kt.ca, headers: { cookie: `kubetape_session=${cookie}` } });
  const me = await whoami(b);
  t.equal(me.status, 200, 'the other replica knows the login');
  const { user, csrfToken } = JSON.parse(me.body) as { user: string; csrfToken: string };
  t.equal(user, 'vera');
  t.equal((await whoami(a.h)).status, 200, 'and the one that made it');
  const item = await getLoginItems();
  t.ok(item.length === 1 && !item[0].includes(cookie), 'one item, keyed by a hash of the token, which it does not hold');
  const out = await httpsCall(`${b.kt.url}/kubetape/v1/logout`, {
    ca: b.kt.ca,
    method: 'POST',
    headers: { cookie: `kubetape_session=${cookie}`, 'x-kubetape-csrf': csrfToken },
  });
  t.equal(out.status, 200, 'logged out on the other replica');
  t.equal((await whoami(b)).status, 401, 'that replica refuses the cookie at once');
  await new Promise((r) => setTimeout(r, LOGIN_CACHE_MS + 100));
  t.equal((await whoami(a.h)).status, 401, 'the first one within its one-second cache');
});

/** The login items in the table, as JSON text. */
async function getLoginItems(): Promise<string[]> {
  const client = new DynamoDBClient({});
  try {
    const r = await client.send(
      new ScanCommand({ TableName: TABLE, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': { S: 'console-login#' } } }),
    );
    return (r.Items ?? []).map((i) => JSON.stringify(i));
  } finally {
    client.destroy();
  }
}
