// Agents as callers, end to end with a real MCP server for Kubernetes from
// npm (mcp-server-kubernetes, which shells out to kubectl), driven over stdio
// with JSON-RPC by @modelcontextprotocol/sdk's client: it logs in to
// kubetape as itself (client credentials against oidc-provider, through
// `kubetape credential` as kubectl's exec plugin), its tool calls reach the
// test API server through kubetape, the recording names the agent, a policy
// rule for agents refuses its exec (the tool call returns the refusal), and
// TRACEPARENT in its environment groups its kubectl runs under one trace.
// The same server acting for a person (a token with RFC 8693 `act`) is
// recorded as the agent and the person, and a rule on whom it acts for
// refuses its apply; with a token file, the rotated token is used.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startTestProvider, MACHINE_RESOURCE, type TestProvider } from './helpers/oidc-provider.js';
import { startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { writeCredentialKubeconfig } from './helpers/kubectl.js';
import { parseOidcIssuers } from '../src/authenticate/oidc/config.js';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import type { RecordEvent, SessionSummary } from '../src/model/recording.js';
import { getClientCredentialsToken } from '../src/login/machine-credential.js';

const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(ROOT, 'bin/kubetape.js');
const MCP_SERVER = join(ROOT, 'node_modules/mcp-server-kubernetes/dist/index.js');
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

let dir: string;
let idp: TestProvider;
let s: StreamHarness;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-agents-mcp-'));
  idp = await startTestProvider(
    {},
    {
      machines: [
        { clientId: 'mcp-k8s', secret: 'mcp-secret-1' },
        { clientId: 'mcp-act', secret: 'mcp-secret-act', actFor: 'alice' },
        { clientId: 'mcp-k8s-2', secret: 'mcp-secret-2' },
      ],
    },
  );
  writeFileSync(join(dir, 'idp-ca.pem'), idp.ca);
  s = await startStreamHarness({
    config: {
      authentication: {
        oidc: parseOidcIssuers(
          [
            { issuer: idp.issuer, audience: MACHINE_RESOURCE, usernameClaim: 'sub', groupsClaim: '', ca: join(dir, 'idp-ca.pem') },
            { issuer: idp.issuer, audience: MACHINE_RESOURCE, kind: 'machine', groups: ['agents'], ca: join(dir, 'idp-ca.pem') },
          ],
          'test',
        ),
      },
      policy: parsePolicyObject({
        rules: [
          { name: 'agents-no-exec', match: { agent: true, resource: 'pods', subresource: 'exec' }, action: 'deny', message: 'agents may not exec' },
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
});
t.teardown(async () => {
  await s?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SECRETS: Record<string, string> = { 'mcp-k8s': 'mcp-secret-1', 'mcp-act': 'mcp-secret-act', 'mcp-k8s-2': 'mcp-secret-2' };

/** Client credentials for one of the IdP's machines, the secret in a file. */
function machineKubeconfig(clientId = 'mcp-k8s'): string {
  const secretFile = join(dir, `${clientId}.secret`);
  writeFileSync(secretFile, `${SECRETS[clientId]}\n`, { mode: 0o600 });
  const args = ['--grant', 'client-credentials', '--issuer', idp.issuer, '--client-id', clientId];
  args.push('--client-secret-file', secretFile, '--resource', MACHINE_RESOURCE, '--certificate-authority', join(dir, 'idp-ca.pem'));
  args.push('--cache-dir', join(dir, 'cache'));
  return kubeconfig(clientId, args);
}

function kubeconfig(name: string, credentialArgs: string[]): string {
  return writeCredentialKubeconfig(join(dir, `kubeconfig-${name}.yaml`), { server: s.h.kt.url, ca: s.h.kt.ca, user: 'mcp', bin: BIN, args: credentialArgs });
}

/** A tool call's text: its content, or the JSON-RPC error the server answered with (mcp-server-kubernetes throws on kubectl failures). */
async function call(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  try {
    return text(await client.callTool({ name, arguments: args }));
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function text(r: unknown): string {
  const c = (r as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return c.map((x) => x.text ?? '').join('\n');
}

/** mcp-server-kubernetes over stdio, with this kubeconfig and environment. */
async function startMcp(t: Test, kubeconfigPath: string, env: Record<string, string> = {}): Promise<Client> {
  const home = mkdtempSync(join(tmpdir(), 'kubetape-mcp-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MCP_SERVER],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfigPath, ...env },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', () => undefined);
  const client = new Client({ name: 'kubetape-test', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  return client;
}

const MANIFEST = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  k: v\n`;

t.test('mcp-server-kubernetes logs in with client credentials; its tool calls are recorded as the agent, under one trace', async (t) => {
  s.h.api.logs.set('default', 'web-0', 'main', ['booted', 'listening on 80']);
  const client = await startMcp(t, machineKubeconfig(), { TRACEPARENT: `00-${TRACE}-00f067aa0ba902b7-01`, KUBETAPE_CLIENT: 'mcp-server-kubernetes/4.1.7' });

  const tools = (await client.listTools()).tools.map((x) => x.name);
  t.ok(tools.includes('kubectl_get'), `tools: ${tools.join(', ')}`);
  t.ok(tools.includes('exec_in_pod'));

  const got = await call(client, 'kubectl_get', { resourceType: 'pods', namespace: 'default', output: 'json' });
  t.match(got, /web-0/, 'kubectl_get through kubetape lists the pod');
  t.match(await call(client, 'kubectl_logs', { resourceType: 'pod', name: 'web-0', namespace: 'default' }), /listening on 80/, 'kubectl_logs');
  t.match(await call(client, 'kubectl_apply', { manifest: MANIFEST('from-agent') }), /configmap\/from-agent (created|configured)/, 'kubectl_apply');
  t.ok(s.h.api.objects.get('configmaps', 'default', 'from-agent'), 'the apply reached the cluster');

  const exec = await call(client, 'exec_in_pod', { name: 'web-0', namespace: 'default', command: ['echo', 'hi'] });
  t.match(exec, /agents may not exec \(kubetape policy rule "agents-no-exec"\)/, 'the exec tool call returns the policy refusal');

  const list: SessionSummary[] = await s.h.kt.store.listSessions({ trace: TRACE });
  t.ok(list.length >= 2, `the tool calls' kubectl runs share the trace (${list.length} sessions)`);
  t.ok(list.every((x) => x.kind === 'machine' && x.user === 'machine:mcp-k8s' && x.agent === 'machine:mcp-k8s'));
  const events: RecordEvent[] = [];
  for (const x of list) for await (const ev of s.h.kt.store.readSession(x.id)) events.push(ev);
  const execReq = events.find((e) => e.type === 'request' && e.attrs.subresource === 'exec');
  t.ok(execReq && execReq.type === 'request' && execReq.policy?.action === 'deny', 'the exec was recorded, refused by the agent rule');
  t.ok(
    events.filter((e) => e.type === 'request').every((e) => e.type === 'request' && e.client === 'mcp-server-kubernetes/4.1.7'),
    'client name',
  );
});

t.test('the same MCP server acting for alice (act): recorded as the agent and the person, its apply refused by a rule on whom it acts for', async (t) => {
  const client = await startMcp(t, machineKubeconfig('mcp-act'));
  t.match(await call(client, 'kubectl_get', { resourceType: 'pods', namespace: 'default', output: 'name' }), /web-0/);
  const applied = await call(client, 'kubectl_apply', { manifest: MANIFEST('for-alice') });
  t.match(applied, /agents acting for alice may only read \(kubetape policy rule "agents-for-alice-read-only"\)/, 'the tool call returns the refusal');
  t.notOk(s.h.api.objects.get('configmaps', 'default', 'for-alice'), 'nothing reached the cluster');
  const sessions = await s.h.kt.store.listSessions({ actingFor: 'alice' });
  t.ok(sessions.length >= 2);
  t.ok(sessions.every((x) => x.kind === 'machine' && x.user === 'alice' && x.agent === 'mcp-act'));
  t.equal((await s.h.kt.store.listSessions({ human: true })).length, 0, 'no session of this server reads as a person');
});

t.test('mcp-server-kubernetes with a token file: the rotated token is used from the next kubectl run', async (t) => {
  const token = async (clientId: string) =>
    (
      await getClientCredentialsToken({
        issuer: idp.issuer,
        clientId,
        clientSecret: SECRETS[clientId],
        resource: MACHINE_RESOURCE,
        scopes: [],
        ca: idp.ca,
        cacheDir: mkdtempSync(join(dir, 'cc-')),
      })
    ).token;
  const file = join(dir, 'projected-token');
  writeFileSync(file, await token('mcp-k8s'));
  const client = await startMcp(t, kubeconfig('token-file', ['--token-file', file]));
  t.match(await call(client, 'kubectl_get', { resourceType: 'configmaps', namespace: 'default', output: 'name' }), /from-agent/);
  writeFileSync(file, await token('mcp-k8s-2'));
  t.match(await call(client, 'kubectl_get', { resourceType: 'namespaces', output: 'name' }), /namespace\/default/);
  const after = await s.h.kt.store.listSessions({ agent: 'machine:mcp-k8s-2' });
  t.ok(
    after.some((x) => x.resources.includes('namespaces')),
    'the run after the rotation is the other machine',
  );
  t.notOk(
    after.some((x) => x.resources.includes('configmaps')),
    'the run before it is not',
  );
});
