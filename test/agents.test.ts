// Agents as callers: machine identities beside people (client credentials
// and a rotating token file through `kubetape credential`), an agent acting
// for a person (RFC 8693 `act`), policy rules on agents, a machine token
// refused by an issuer for people, and one tool call of an MCP server (built
// with @modelcontextprotocol/sdk, shelling out to the real kubectl) followed
// across its kubectl runs and its exec by trace. Against oidc-provider and
// the test API server, through kubetape, with the real kubectl.
import t from 'tap';
import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startTestProvider, MACHINE_RESOURCE, type TestProvider } from './helpers/oidc-provider.js';
import { cliFromSource, startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { kubectl, writeCredentialKubeconfig } from './helpers/kubectl.js';
import { parseOidcIssuers } from '../src/authenticate/oidc/config.js';
import { OidcAuthenticator } from '../src/authenticate/oidc/oidc-authenticator.js';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import { getClientCredentialsToken } from '../src/login/machine-credential.js';
import type { RecordEvent, SessionSummary } from '../src/model/recording.js';

const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(ROOT, 'bin/kubetape.js');
const MCP_SERVER = join(ROOT, 'test/helpers/agent-mcp-server.ts');
const SECRETS: Record<string, string> = { 'mcp-k8s': 'secret-k8s', 'mcp-k8s-2': 'secret-k8s-2', 'mcp-act': 'secret-act' };

let dir: string;
let idp: TestProvider;
let s: StreamHarness;
let idpCa: string;
let ktCa: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-agents-'));
  idp = await startTestProvider(
    {},
    {
      machines: [
        { clientId: 'mcp-k8s', secret: SECRETS['mcp-k8s'] },
        { clientId: 'mcp-k8s-2', secret: SECRETS['mcp-k8s-2'] },
        { clientId: 'mcp-act', secret: SECRETS['mcp-act'], actFor: 'alice' },
      ],
    },
  );
  idpCa = join(dir, 'idp-ca.pem');
  writeFileSync(idpCa, idp.ca);
  s = await startStreamHarness({
    config: {
      authentication: {
        // One IdP for people and machines: its client-credentials tokens go to the machine entry.
        oidc: parseOidcIssuers(
          [
            { issuer: idp.issuer, audience: ['kubetape', MACHINE_RESOURCE], usernameClaim: 'sub', groupsClaim: '', ca: idpCa },
            { issuer: idp.issuer, audience: MACHINE_RESOURCE, kind: 'machine', groups: ['agents'], ca: idpCa },
          ],
          'test',
        ),
      },
      policy: parsePolicyObject({
        rules: [
          {
            name: 'agents-deletes-need-a-human',
            match: { agent: true, verb: 'delete', resource: 'configmaps' },
            action: 'require-approval',
            approvers: ['agents'],
          },
          {
            name: 'agents-for-alice-read-only',
            match: { actingFor: 'alice', verb: ['create', 'update', 'patch', 'delete'] },
            action: 'deny',
            message: 'agents acting for alice may only read',
          },
        ],
      }),
    },
  });
  ktCa = join(dir, 'kt-ca.pem');
  writeFileSync(ktCa, s.h.kt.ca);
});
t.teardown(async () => {
  await s?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

let configs = 0;
/** A kubeconfig whose user runs `kubetape credential` with these arguments (and environment). */
function kubeconfigWith(credentialArgs: string[], env: Record<string, string> = {}): string {
  return writeCredentialKubeconfig(join(dir, `kubeconfig-${++configs}.yaml`), {
    server: s.h.kt.url,
    ca: s.h.kt.ca,
    user: 'agent',
    bin: BIN,
    args: credentialArgs,
    env,
  });
}

/** Client credentials for one of the test IdP's machines; the secret comes from a file. */
function machineKubeconfig(clientId: string): string {
  const secretFile = join(dir, `${clientId}.secret`);
  writeFileSync(secretFile, `${SECRETS[clientId]}\n`, { mode: 0o600 });
  return kubeconfigWith([
    '--grant',
    'client-credentials',
    '--issuer',
    idp.issuer,
    '--client-id',
    clientId,
    '--client-secret-file',
    secretFile,
    '--resource',
    MACHINE_RESOURCE,
    '--certificate-authority',
    idpCa,
    '--cache-dir',
    join(dir, 'cache'),
  ]);
}

async function tokenFor(clientId: string): Promise<string> {
  const got = await getClientCredentialsToken({
    issuer: idp.issuer,
    clientId,
    clientSecret: SECRETS[clientId],
    resource: MACHINE_RESOURCE,
    scopes: [],
    ca: idp.ca,
    cacheDir: mkdtempSync(join(dir, 'cc-')),
  });
  return got.token;
}

async function sessionsOf(pred: (x: SessionSummary) => boolean): Promise<SessionSummary[]> {
  return (await s.h.kt.store.listSessions()).filter(pred);
}

async function eventsOf(id: string): Promise<RecordEvent[]> {
  const out: RecordEvent[] = [];
  for await (const ev of s.h.kt.store.readSession(id)) out.push(ev);
  return out;
}

t.test('a client-credentials token is a machine; with act it is an agent acting for its subject, and policy tells them apart', async (t) => {
  const plain = machineKubeconfig('mcp-k8s');
  const acting = machineKubeconfig('mcp-act');

  const a = await kubectl(['get', 'pods'], { kubeconfig: plain });
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /web-0/);
  const w = await kubectl(['create', 'configmap', 'agent-made'], { kubeconfig: plain });
  t.equal(w.code, 0, `an agent acting for nobody is not under the rule: ${w.stderr}`);

  const b = await kubectl(['get', 'pods'], { kubeconfig: acting });
  t.equal(b.code, 0, b.stderr);
  const refused = await kubectl(['create', 'configmap', 'for-alice'], { kubeconfig: acting });
  t.not(refused.code, 0);
  t.match(refused.stderr, /agents acting for alice may only read \(kubetape policy rule "agents-for-alice-read-only"\)/);

  const machine = await sessionsOf((x) => x.user === 'machine:mcp-k8s');
  t.ok(machine.length >= 2, 'the plain agent: a machine under the machine prefix');
  t.ok(machine.every((x) => x.kind === 'machine' && x.agent === 'machine:mcp-k8s' && x.actingFor === undefined));
  const forAlice = await sessionsOf((x) => x.actingFor === 'alice');
  t.ok(forAlice.length >= 2, 'the acting agent: sessions acting for alice');
  t.ok(forAlice.every((x) => x.kind === 'machine' && x.user === 'alice' && x.agent === 'mcp-act'));
  const start = (await eventsOf(forAlice[0].id)).find((e) => e.type === 'session.start');
  t.match(start, { kind: 'machine', agent: 'mcp-act', actingFor: 'alice', delegation: ['mcp-act'], groups: ['system:authenticated'] });
  const startPlain = (await eventsOf(machine[0].id)).find((e) => e.type === 'session.start');
  t.match(startPlain, { groups: ['agents', 'system:authenticated'] }, 'the machine issuer adds its groups');

  t.same((await s.h.kt.store.listSessions({ actingFor: 'alice' })).map((x) => x.id).sort(), forAlice.map((x) => x.id).sort());
  t.equal((await s.h.kt.store.listSessions({ human: true })).filter((x) => x.kind === 'machine').length, 0);
  t.equal((await s.h.kt.store.listSessions({ agent: 'mcp-act' })).length, forAlice.length);
});

t.test('a machine token presented to an issuer for people is refused', async (t) => {
  const personOnly = new OidcAuthenticator(
    parseOidcIssuers([{ issuer: idp.issuer, audience: MACHINE_RESOURCE, usernameClaim: 'sub', groupsClaim: '', ca: 'ca.pem' }], 'test'),
    { readCa: () => idp.ca },
  );
  const cc = await personOnly.verify(await tokenFor('mcp-k8s'));
  t.equal(cc.ok, false);
  t.match(!cc.ok && cc.reason, /client-credentials token \(it names an OAuth client, not a person\)/);
  // The same IdP's token with `act` names a person (its subject) and the agent: accepted, as the agent.
  const act = await personOnly.verify(await tokenFor('mcp-act'));
  t.match(act, { ok: true, identity: { user: 'alice', kind: 'machine', agent: 'mcp-act', actingFor: 'alice' } });

  // A person's username may not begin with a machine prefix, and the prefixes may not overlap.
  t.throws(
    () =>
      parseOidcIssuers(
        [
          { issuer: 'https://a.example', audience: 'k', usernamePrefix: 'machine:x' },
          { issuer: 'https://b.example', audience: 'k', kind: 'machine' },
        ],
        'test',
      ),
    /overlaps the machine prefix "machine:"/,
  );
  t.throws(() => parseOidcIssuers([{ issuer: 'https://a.example', audience: 'k', kind: 'robot' }], 'test'), /kind must be person or machine/);
});

t.test('policy: agent and actingFor are validated like every match field', async (t) => {
  const p = parsePolicyObject({
    rules: [
      { name: 'a', match: { agent: true, subresource: 'exec' }, action: 'deny', message: 'no' },
      { name: 'b', match: { agent: ['mcp-k8s'], actingFor: '*' }, action: 'allow' },
      { name: 'c', match: { agent: false }, action: 'allow' },
    ],
  });
  t.same(
    p.rules.map((r) => r.match.agent),
    [true, ['mcp-k8s'], false],
  );
  t.throws(() => parsePolicyObject({ rules: [{ match: { agnet: true }, action: 'allow' }] }), /did you mean "agent"/);
  t.throws(() => parsePolicyObject({ rules: [{ match: { agent: 'yes' }, action: 'allow' }] }), /agent must be true/);
  t.throws(() => parsePolicyObject({ rules: [{ match: { actingFor: [] }, action: 'allow' }] }), /actingFor must be a string or a list/);
});

t.test('kubetape credential --token-file hands kubectl the token the file holds now', async (t) => {
  const file = join(dir, 'token');
  writeFileSync(file, (await tokenFor('mcp-k8s')) + '\n');
  const kc = kubeconfigWith(['--token-file', file]);
  const one = await kubectl(['get', 'configmaps'], { kubeconfig: kc, env: { KUBECTL_COMMAND_HEADERS: 'true' } });
  t.equal(one.code, 0, one.stderr);
  // The token rotates (a projected service-account token, a CI job's OIDC token): the next run reads the new one.
  writeFileSync(file, (await tokenFor('mcp-k8s-2')) + '\n');
  const two = await kubectl(['get', 'configmaps', '-o', 'name'], { kubeconfig: kc });
  t.equal(two.code, 0, two.stderr);
  // (kubectl's dispatcher makes a session of its own, without Kubectl-Command.)
  const rotated = await sessionsOf((x) => x.user === 'machine:mcp-k8s-2' && x.command === 'kubectl get');
  t.equal(rotated.length, 1, 'the run after the rotation is the other machine');
  t.equal((await sessionsOf((x) => x.user === 'machine:mcp-k8s' && x.command === 'kubectl get' && x.resources.includes('configmaps'))).length, 1);

  writeFileSync(file, 'two tokens\n');
  const bad = await kubectl(['get', 'pods'], { kubeconfig: kc });
  t.not(bad.code, 0);
  t.match(bad.stderr, /does not hold one token/);
});

t.test('kubetape credential never takes a client secret from the command line', async (t) => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number | null; out: string; err: string }>((done) => {
      const child = spawn(process.execPath, [BIN, 'credential', ...args], { env: { ...process.env, ...env } });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('close', (code) => done({ code, out, err }));
    });
  const base = ['--grant', 'client-credentials', '--issuer', idp.issuer, '--client-id', 'mcp-k8s', '--resource', MACHINE_RESOURCE];
  const argv = await run([...base, '--client-secret', SECRETS['mcp-k8s']]);
  t.equal(argv.code, 1);
  t.match(argv.err, /--client-secret would put the secret in the process list/);
  const none = await run(base);
  t.match(none.err, /needs the client secret in --client-secret-file or KUBETAPE_CLIENT_SECRET/);
  // From the environment, with the trace context of the caller carried in front of the token.
  const env = await run([...base, '--certificate-authority', idpCa, '--cache-dir', join(dir, 'cache-env')], {
    KUBETAPE_CLIENT_SECRET: SECRETS['mcp-k8s'],
    TRACEPARENT: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  });
  t.equal(env.code, 0, env.err);
  const token = (JSON.parse(env.out) as { status: { token: string } }).status.token;
  t.match(token, /^ktx1~[A-Za-z0-9_-]+~ey/);
  const plain = await run([...base, '--certificate-authority', idpCa, '--cache-dir', join(dir, 'cache-env'), '--no-trace-context'], {
    KUBETAPE_CLIENT_SECRET: SECRETS['mcp-k8s'],
    TRACEPARENT: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  });
  t.match((JSON.parse(plain.out) as { status: { token: string } }).status.token, /^ey[^~]+$/, '--no-trace-context: the token alone');
});

t.test('W3C trace headers are recorded when valid and bounded', async (t) => {
  const token = await tokenFor('mcp-k8s');
  const get = (headers: Record<string, string>) =>
    new Promise<number>((done, fail) => {
      const u = new URL('/api/v1/namespaces/default/pods', s.h.kt.url);
      const req = request(u, { ca: s.h.kt.ca, headers: { authorization: `Bearer ${token}`, 'user-agent': 'trace-probe/1', ...headers } }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      });
      req.on('error', fail);
      req.end();
    });
  const trace = 'a3ce929d0e0e47364bf92f3577b34da6';
  t.equal(await get({ traceparent: `00-${trace}-00f067aa0ba902b7-01`, tracestate: 'k=v', baggage: 'user=agent', 'kubetape-client': 'probe/2.0' }), 200);
  t.equal(await get({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }), 200);
  t.equal(await get({ traceparent: `00-${trace}-00f067aa0ba902b7-01`, tracestate: 'x'.repeat(600) }), 200);
  const [session] = await s.h.kt.store.listSessions({ trace });
  t.ok(session, 'the session is found by its trace');
  const reqs = (await eventsOf(session.id)).filter((e) => e.type === 'request');
  t.match(reqs[0], { trace: { traceId: trace, parentId: '00f067aa0ba902b7', tracestate: 'k=v', baggage: 'user=agent' }, client: 'probe/2.0' });
  t.equal(reqs.length, 2, 'the request with an all-zero trace id is not in the trace');
  t.match(reqs[1], { trace: { traceId: trace } });
  t.equal(reqs[1]?.type === 'request' && reqs[1].trace?.tracestate, undefined, 'an oversized tracestate is not kept');
  const untraced = await sessionsOf((x) => x.userAgent === 'trace-probe/1' && x.traces === undefined);
  t.equal(untraced.length, 1, 'an all-zero trace id is not a trace');
  t.equal(untraced[0]?.requests, 1);
});

t.test('an MCP tool call is followed across its kubectl runs and its exec by trace', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'kubetape-agents-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  s.h.api.logs.set('default', 'web-0', 'main', ['started', 'serving']);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...process.execArgv.filter((a) => a.includes('@tapjs/typescript')), MCP_SERVER],
    cwd: dirname(MCP_SERVER),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TS_NODE_TRANSPILE_ONLY: '1',
      KUBECONFIG: kubeconfigWith([
        '--grant',
        'client-credentials',
        '--issuer',
        idp.issuer,
        '--client-id',
        'mcp-k8s',
        '--resource',
        MACHINE_RESOURCE,
        '--certificate-authority',
        idpCa,
        '--cache-dir',
        join(dir, 'cache-mcp'),
      ]),
      KUBETAPE_CLIENT_SECRET: SECRETS['mcp-k8s'],
    },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'kubetape-test', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  t.same(
    (await client.listTools()).tools.map((x) => x.name),
    ['inspect_pod'],
  );

  const traceA = '11111111111111111111111111111111';
  const traceB = '22222222222222222222222222222222';
  const callA = await client.callTool({ name: 'inspect_pod', arguments: { pod: 'web-0' }, _meta: { traceparent: `00-${traceA}-aaaaaaaaaaaaaaaa-01` } });
  t.match(JSON.stringify(callA), /pod\/web-0.*serving.*inspected/s, 'the tool call got, read logs and exec-ed through kubetape');
  await client.callTool({ name: 'inspect_pod', arguments: { pod: 'web-0' }, _meta: { traceparent: `00-${traceB}-bbbbbbbbbbbbbbbb-01` } });

  const a = await s.h.kt.store.listSessions({ trace: traceA });
  // Three kubectl runs (get, logs, exec), and the dispatcher's own discovery (kubectl-dispatcher picks the kubectl of the cluster's version).
  t.same(a.map((x) => x.command ?? x.userAgent?.split('/')[0]).sort(), ['kubectl exec', 'kubectl get', 'kubectl logs', 'kubectl-dispatcher']);
  t.ok(a.every((x) => x.agent === 'machine:mcp-k8s'));
  t.ok(a.some((x) => x.resources.includes('pods/exec')) && a.some((x) => x.resources.includes('pods/log')));
  const b = await s.h.kt.store.listSessions({ trace: traceB });
  t.equal(b.length, 4);
  t.equal(a.filter((x) => b.some((y) => y.id === x.id)).length, 0, 'the two tool calls share no session');

  const get = a.find((x) => x.command === 'kubectl get')!;
  const [listed, shown, agents, humans] = await cliFromSource([
    ['sessions', 'list', '--trace', traceA, '--data-dir', s.h.dataDir],
    ['sessions', 'show', get.id, '--data-dir', s.h.dataDir],
    ['sessions', 'list', '--agent', '--data-dir', s.h.dataDir],
    ['sessions', 'list', '--human', '--data-dir', s.h.dataDir],
  ]);
  t.equal(listed.code, 0, listed.stderr);
  const listedIds = listed.stdout.toString().match(/^[0-9A-Z]{26}/gm) ?? [];
  t.same(listedIds.sort(), a.map((x) => x.id).sort(), 'sessions list --trace finds the tool call');
  t.match(listed.stdout.toString(), /^ID\s+STARTED\s+USER\s+AGENT\s+CLUSTER/m);
  const show = shown.stdout.toString();
  t.equal(shown.code, 0, shown.stderr);
  t.match(show, /^Agent\s+machine:mcp-k8s/m);
  t.match(show, new RegExp(`Trace ${traceA}: \\d+ requests in 4 sessions, 1 span`));
  t.match(show, /(get|create) pods\/exec web-0 -n default/, 'the exec of the same tool call is in the trace section');
  t.match(show, /logs web-0 -n default/);
  t.notMatch(show, new RegExp(traceB), 'the other tool call is not');
  t.match(agents.stdout.toString(), /Agents: \d+ \(\d+ sessions; people 0\)\nAGENT\s+SESSIONS\s+REQUESTS\s+REFUSED\s+ACTING FOR\n/);
  t.match(agents.stdout.toString(), /^mcp-act\s+\d+\s+\d+\s+1\s+alice \(\d+\)$/m, 'per agent: sessions, requests, refusals, for whom');
  t.match(humans.stdout.toString(), /No sessions recorded match those filters/);
});

t.test('an agent cannot approve: approvals are decided by people', async (t) => {
  const asked = await kubectl(['delete', 'configmap', 'agent-made'], { kubeconfig: machineKubeconfig('mcp-k8s') });
  t.not(asked.code, 0);
  const id = /approval id (ap-[0-9a-f]+)/.exec(asked.stderr)?.[1];
  t.ok(id, `the delete waits for approval: ${asked.stderr}`);
  // Another machine in the approvers group, not the requester: still not a person.
  const token = await tokenFor('mcp-k8s-2');
  const answer = await new Promise<{ status: number; body: string }>((done, fail) => {
    const req = request(
      new URL(`/kubetape/v1/approvals/${id}/approve`, s.h.kt.url),
      { method: 'POST', ca: s.h.kt.ca, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.end('{}');
  });
  t.equal(answer.status, 403, answer.body);
  t.match(answer.body, /approvals are decided by people; machine:mcp-k8s-2 is an agent/);
});
