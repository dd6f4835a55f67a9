// Agents in the AWS store: the session item keeps the caller's kind, the
// agent and whom it acted for (at the start) and the session's trace ids (at
// the end), so `sessions list --agent/--human/--acting-for/--trace` work on
// DynamoDB as they do on the local store, and `verify` still holds.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsEnv, awsRecording, provision, startMotoServer, useAwsEnv, type MotoServer } from './helpers/aws-store.js';
import { AwsStore } from '../src/store/aws/aws-store.js';
import { awsStoreSettings } from '../src/store/settings.js';
import { newSessionId } from '../src/store/store.js';
import { countEvent, emptyCounts, type RequestEvent, type SessionStartEvent } from '../src/model/recording.js';
import { requestAttributes } from '../src/model/request-attributes.js';
import { parseRequestTarget } from '../src/model/request-target.js';

const TABLE = 'kubetape-agents';
const BUCKET = 'kubetape-agents';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
let moto: MotoServer;

t.before(async () => {
  moto = await startMotoServer();
  useAwsEnv(awsEnv({ endpoint: moto.url }));
  await provision(TABLE, BUCKET);
});
t.teardown(() => moto.close());

t.test('the AWS store lists sessions by agent, person acted for and trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-agents-aws-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const aws = await AwsStore.open({
    settings: awsStoreSettings(awsRecording(TABLE, BUCKET)),
    writable: { dataDir: join(dir, 'spool'), failMode: 'closed' },
    log: () => undefined,
  });
  t.teardown(() => aws.close());

  const record = async (who: Partial<SessionStartEvent>, trace?: string): Promise<string> => {
    const session = newSessionId();
    const start: SessionStartEvent = {
      type: 'session.start',
      session,
      time: new Date().toISOString(),
      user: 'alice',
      groups: ['system:authenticated'],
      authMethod: 'oidc',
      cluster: 'c1',
      source: '127.0.0.1',
      ...who,
    };
    const w = await aws.openSession(start);
    const counts = emptyCounts();
    const parsed = parseRequestTarget('/api/v1/namespaces/default/pods');
    if (!parsed.ok) throw new Error(parsed.reason);
    const target = parsed.target;
    const rq: RequestEvent = {
      type: 'request',
      session,
      seq: 1,
      time: new Date().toISOString(),
      method: 'GET',
      uri: target.uri,
      attrs: requestAttributes('GET', target),
      headers: {},
      streaming: false,
      ...(trace ? { trace: { traceparent: `00-${trace}-00f067aa0ba902b7-01`, traceId: trace, parentId: '00f067aa0ba902b7' } } : {}),
    };
    await w.append(rq, { durable: true });
    countEvent(counts, rq);
    await w.close({ type: 'session.end', session, time: new Date().toISOString(), reason: 'idle', summary: counts });
    return session;
  };
  const person = await record({});
  const agent = await record({ kind: 'machine', agent: 'mcp-act', actingFor: 'alice', delegation: ['mcp-act'] }, TRACE);
  const machine = await record({ user: 'machine:ci', kind: 'machine', agent: 'machine:ci' });
  t.ok(await aws.uploaded(20_000), 'the spool drained');

  const ids = async (f: Parameters<AwsStore['listSessions']>[0]) => (await aws.listSessions(f)).map((s) => s.id).sort();
  t.same(await ids({ agent: true }), [agent, machine].sort());
  t.same(await ids({ agent: 'machine:ci' }), [machine]);
  t.same(await ids({ human: true }), [person]);
  t.same(await ids({ actingFor: 'alice' }), [agent]);
  t.same(await ids({ trace: TRACE }), [agent]);
  t.match(await aws.summary(agent), { kind: 'machine', agent: 'mcp-act', actingFor: 'alice', traces: [TRACE] });
  for (const id of [person, agent, machine]) t.equal((await aws.verify(id)).ok, true, `session ${id} verifies`);
});
