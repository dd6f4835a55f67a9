// Differential test of issue 11 item 4: every malformed or ambiguous request
// target of the corpus goes through kubetape to the test API server, byte for
// byte, and for each the outcome must be one of:
//   refused:   400 with a Status (kind Status, reason BadRequest), and the
//              cluster received nothing for it;
//   forwarded: the cluster received the request, its request-target is byte
//              for byte the `uri` kubetape recorded, and the recorded
//              attributes are what the API server derives from that target
//              (the Go model in helpers/apiserver-reading.ts).
// Then, where the corpus says what kubetape must do (refuse / forward), that.
// The same for upgrades: WebSocket and SPDY exec/attach/port-forward, and
// WebSocket watches (the tunnel).
import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { startHarness, type Harness } from './helpers/harness.js';
import { rawRequest, type RawAnswer } from './helpers/raw-request.js';
import { sessionEvents } from './helpers/recordings.js';
import { CORPUS, UPGRADE_CORPUS, type CorpusEntry, type Must, type UpgradeEntry } from './helpers/target-corpus.js';
import { apiServerReading, bytesOf, goParseRequestURI, type GoRequestInfo } from './helpers/apiserver-reading.js';
import { textOf } from '../src/model/text.js';

let h: Harness;

interface Arrived {
  method: string;
  path: string;
}

/** What the recording says of one request (structural: the model's types are being moved). */
interface RecordedRequest {
  method: string;
  uri: string;
  attrs: Record<string, unknown>;
}

interface Outcome {
  key: string;
  method: string;
  target: string;
  must: Must;
  why: string;
  aims: string;
  answer?: RawAnswer;
  error?: string;
  arrived: Arrived[];
  recorded: RecordedRequest[];
}

const ATTRS = ['isResourceRequest', 'verb', 'apiGroup', 'apiVersion', 'namespace', 'resource', 'subresource', 'name'] as const;

function seedCluster(): void {
  for (const name of ['prod', 'scratch']) h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  for (const namespace of ['default', 'prod']) {
    h.api.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace }, spec: { containers: [{ name: 'web', image: 'nginx' }] } });
  }
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'default' },
    type: 'Opaque',
    data: { password: 'aHVudGVyMg==' },
  });
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { a: '1' } });
}

t.before(async () => {
  h = await startHarness();
  seedCluster();
});
t.teardown(() => h?.close());

const describe = (o: Outcome): string => {
  const a = o.answer;
  let message = '';
  if (a?.body) {
    try {
      message = textOf((JSON.parse(a.body) as { message?: unknown }).message ?? '').slice(0, 400);
    } catch {
      message = `(not JSON) ${a.body.slice(0, 80)}`;
    }
  }
  return [
    `answer ${a ? a.status : `none (${o.error})`}${message ? ` "${message}"` : a && a.status === 400 && !a.body ? " with no body (refused by Node's HTTP parser: kubetape has no clientError handler answering a Status)" : ''}`,
    `cluster received ${o.arrived.length === 0 ? 'nothing' : o.arrived.map((x) => `${x.method} ${JSON.stringify(x.path.slice(0, 140))}`).join(', ')}`,
    `recorded ${o.recorded.length === 0 ? 'nothing' : o.recorded.map((r) => `${r.method} ${JSON.stringify(r.uri.slice(0, 140))} ${attrText(r.attrs)}`).join(', ')}`,
  ].join('; ');
};

const attrText = (a: Record<string, unknown> | GoRequestInfo): string =>
  `${String(a['verb' as keyof typeof a])} ${String(a['apiGroup' as keyof typeof a]) ? `${String(a['apiGroup' as keyof typeof a])}/` : ''}${String(a['resource' as keyof typeof a])}${a['subresource' as keyof typeof a] ? `/${String(a['subresource' as keyof typeof a])}` : ''} ns=${JSON.stringify(a['namespace' as keyof typeof a])} name=${JSON.stringify(String(a['name' as keyof typeof a]).slice(0, 40))}`;

function isStatus400(a: RawAnswer | undefined): boolean {
  if (!a || a.status !== 400) return false;
  try {
    const s = JSON.parse(a.body) as { kind?: string; reason?: string; code?: number; apiVersion?: string };
    return s.kind === 'Status' && s.reason === 'BadRequest' && s.code === 400 && s.apiVersion === 'v1';
  } catch {
    return false;
  }
}

/** Checks one outcome; returns which of the two allowed outcomes it was, or undefined. */
function judge(t: Test, o: Outcome, upgrade: boolean): 'refused' | 'forwarded' | undefined {
  const withStatus = isStatus400(o.answer) && o.arrived.length === 0;
  // Node's own HTTP parser answers a bare 400 (no Status) before kubetape's code runs: safe, but not the Status the issue asks for.
  const byNodeParser = o.answer?.status === 400 && o.answer.body === '' && o.arrived.length === 0 && o.recorded.length === 0;
  const refused = withStatus || byNodeParser;
  let forwarded = false;
  const problems: string[] = [];
  if (o.arrived.length > 0) {
    if (o.recorded.length !== 1) problems.push(`${o.recorded.length} request events recorded for it (expected 1)`);
    // A WebSocket upgrade the cluster refuses is retried as SPDY: the same target may arrive twice.
    if (!upgrade && o.arrived.length !== 1) problems.push(`the cluster received it ${o.arrived.length} times`);
    const rec = o.recorded[0];
    if (rec) {
      for (const a of o.arrived) {
        if (a.path !== bytesOf(rec.uri)) problems.push(`arrived ${JSON.stringify(a.path)} but recorded uri ${JSON.stringify(rec.uri)}`);
      }
      const first = o.arrived[0];
      let want: GoRequestInfo | undefined;
      let oracleNote = '';
      try {
        want = apiServerReading(o.method, first.path);
        if (!want) oracleNote = 'the API server refuses this target itself';
      } catch (err) {
        oracleNote = (err as Error).message;
      }
      if (want) {
        const diffs = ATTRS.filter((k) => (k === 'isResourceRequest' ? rec.attrs[k] !== want[k] : bytesOf(textOf(rec.attrs[k] ?? '')) !== want[k]));
        if (diffs.length > 0) problems.push(`decided ${attrText(rec.attrs)} but the API server reads ${attrText(want)} (${diffs.join(', ')})`);
      } else t.comment(`${o.key}: attributes not compared: ${oracleNote}`);
    }
    forwarded = problems.length === 0;
  }
  const ok = refused || forwarded;
  t.ok(
    ok,
    ok
      ? `${withStatus ? 'refused' : byNodeParser ? "refused by Node's HTTP parser" : 'forwarded as decided'}`
      : `neither refused nor forwarded as decided: ${problems.join('; ') || 'see below'} -- ${describe(o)}`,
  );
  if (o.must === 'refuse') t.ok(withStatus, `must be refused with a 400 Status${withStatus ? '' : `: ${describe(o)}`}`);
  if (o.must === 'forward') t.ok(forwarded, `must be forwarded${forwarded ? '' : `: ${describe(o)}`}`);
  if (forwarded) {
    // Forwarding must not change what the request means: the API server reads the
    // canonical target that arrived as it would have read what the client sent.
    const sent = goParseRequestURI(bytesOf(o.target));
    if (sent.ok && !sent.absolute) {
      let before: GoRequestInfo | undefined;
      let after: GoRequestInfo | undefined;
      try {
        before = apiServerReading(o.method, bytesOf(o.target));
        after = apiServerReading(o.method, o.arrived[0].path);
      } catch {
        /* not modelled: nothing to compare */
      }
      if (before && after) t.equal(attrText(after), attrText(before), 'forwarding kept the meaning the client sent');
    }
  }
  return refused ? 'refused' : forwarded ? 'forwarded' : undefined;
}

/** The request events of the test's sessions, by the test key each request carried in Kubectl-Command. */
async function recordedByKey(): Promise<Map<string, RecordedRequest[]>> {
  const byKey = new Map<string, RecordedRequest[]>();
  const sessions = (await h.kt.store.listSessions()).filter((s) => s.command?.startsWith('difftest'));
  for (const s of sessions) {
    for (const ev of await sessionEvents(h.kt.store, s.id)) {
      if (ev.type !== 'request') continue;
      const command = ev.headers['kubectl-command'] ?? '';
      if (!command.startsWith('difftest ')) continue;
      const key = command.slice('difftest '.length);
      const list = byKey.get(key) ?? [];
      list.push({ method: ev.method, uri: ev.uri, attrs: ev.attrs as unknown as Record<string, unknown> });
      byKey.set(key, list);
    }
  }
  return byKey;
}

/** One kubectl-like session per phase: a session per request would cost a session file each. */
const SESSION = { rest: randomUUID(), upgrades: randomUUID() };

function headersFor(key: string, session: string): Record<string, string> {
  return {
    Authorization: `Bearer ${h.kt.localToken!}`,
    Accept: 'application/json',
    'User-Agent': 'kubetape-difftest',
    'Kubectl-Session': session,
    'Kubectl-Command': `difftest ${key}`,
    'X-Difftest': key,
  };
}

async function pool<T>(items: readonly T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

t.test('REST: every corpus target is refused, or forwarded exactly as decided and recorded', async (t) => {
  t.ok(CORPUS.length >= 200, `corpus of ${CORPUS.length}`);
  const started = Date.now();
  const jobs = CORPUS.flatMap((e: CorpusEntry) => e.methods.map((method) => ({ e, method, key: `${e.id} ${method}` })));
  const outcomes = new Map<string, Outcome>();
  const before = h.api.received.length;
  await pool(jobs, 8, async ({ e, method, key }) => {
    const o: Outcome = { key, method, target: e.target, must: e.must, why: e.why, aims: e.aims, arrived: [], recorded: [] };
    outcomes.set(key, o);
    try {
      o.answer = await rawRequest({
        url: h.kt.url,
        ca: h.kt.ca,
        method,
        target: e.target,
        headers: headersFor(key, SESSION.rest),
        headOnly: (s) => s >= 200 && s < 300,
      });
    } catch (err) {
      o.error = (err as Error).message;
    }
  });
  const arrived = h.api.received.slice(before);
  const unattributed = arrived.filter((r) => typeof r.headers['x-difftest'] !== 'string' || !outcomes.has(r.headers['x-difftest']));
  t.same(
    unattributed.map((r) => `${r.method} ${r.path}`),
    [],
    'everything the cluster received carries the test id it was sent with',
  );
  for (const r of arrived) outcomes.get(r.headers['x-difftest'] as string)?.arrived.push({ method: r.method, path: r.path });
  const recorded = await recordedByKey();
  for (const [key, list] of recorded) outcomes.get(key)?.recorded.push(...list);

  const tally = { refused: 0, forwarded: 0, failed: 0 };
  for (const { e, key } of jobs) {
    const o = outcomes.get(key)!;
    await t.test(`${key} [${e.group}] ${e.why} -> ${e.aims}`, async (t) => {
      const r = judge(t, o, false);
      tally[r ?? 'failed']++;
    });
  }
  t.comment(
    `${jobs.length} requests (${CORPUS.length} targets): ${tally.refused} refused, ${tally.forwarded} forwarded as decided, ${tally.failed} neither; ${Date.now() - started} ms`,
  );
});

const WS_PROTOCOL: Record<UpgradeEntry['kind'], string | undefined> = {
  exec: 'v5.channel.k8s.io',
  attach: 'v5.channel.k8s.io',
  portforward: 'portforward.k8s.io',
  watch: undefined,
};
const SPDY_PROTOCOL: Record<UpgradeEntry['kind'], string | undefined> = {
  exec: 'v4.channel.k8s.io',
  attach: 'v4.channel.k8s.io',
  portforward: 'portforward.k8s.io',
  watch: undefined,
};

t.test('upgrades: WebSocket and SPDY are refused before the cluster sees anything, or reach it as recorded', async (t) => {
  seedCluster(); // the REST phase may have deleted the pods
  const started = Date.now();
  const jobs = UPGRADE_CORPUS.flatMap((e) => {
    const out: Array<{ e: UpgradeEntry; transport: 'websocket' | 'spdy'; key: string }> = [{ e, transport: 'websocket', key: `${e.id} websocket` }];
    if (SPDY_PROTOCOL[e.kind]) out.push({ e, transport: 'spdy', key: `${e.id} spdy` });
    return out;
  });
  const outcomes: Outcome[] = [];
  // One at a time: kubetape's own upstream dial carries none of the caller's headers, so what
  // arrived is attributed by order.
  for (const { e, transport, key } of jobs) {
    const method = transport === 'spdy' ? 'POST' : 'GET';
    const o: Outcome = { key, method, target: e.target, must: e.must, why: e.why, aims: e.aims, arrived: [], recorded: [] };
    const headers: Record<string, string> = { ...headersFor(key, SESSION.upgrades), Connection: 'Upgrade' };
    if (transport === 'websocket') {
      Object.assign(headers, {
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from(randomUUID().slice(0, 16)).toString('base64'),
      });
      if (WS_PROTOCOL[e.kind]) headers['Sec-WebSocket-Protocol'] = WS_PROTOCOL[e.kind]!;
    } else {
      Object.assign(headers, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': SPDY_PROTOCOL[e.kind]! });
    }
    const before = h.api.received.length;
    try {
      o.answer = await rawRequest({ url: h.kt.url, ca: h.kt.ca, method, target: e.target, headers, timeoutMs: 10_000 });
    } catch (err) {
      o.error = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 20));
    o.arrived = h.api.received.slice(before).map((r) => ({ method: r.method, path: r.path }));
    outcomes.push(o);
  }
  await h.api.streamsSettled(10_000).catch(() => undefined);
  const recorded = await recordedByKey();
  const tally = { refused: 0, forwarded: 0, failed: 0 };
  for (const o of outcomes) {
    o.recorded = recorded.get(o.key) ?? [];
    await t.test(`${o.key} ${o.method} ${o.why} -> ${o.aims}`, async (t) => {
      tally[judge(t, o, true) ?? 'failed']++;
    });
  }
  t.comment(
    `${outcomes.length} upgrades: ${tally.refused} refused, ${tally.forwarded} forwarded as decided, ${tally.failed} neither; ${Date.now() - started} ms`,
  );
});
