// Agents as callers, end to end with a real MCP server for Kubernetes from
// npm (mcp-server-kubernetes, which shells out to kubectl), driven over stdio
// with JSON-RPC by @modelcontextprotocol/sdk's client: it logs in to
// kubetape as itself (client credentials against oidc-provider, through
// `kubetape credential` as kubectl's exec plugin), its tool calls reach the
// test API server through kubetape, the recording names the agent, a policy
// rule for agents refuses its exec (the tool call returns the refusal), and
// TRACEPARENT in its environment groups its kubectl runs under one trace.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startTestProvider, MACHINE_RESOURCE, type TestProvider } from './helpers/oidc-provider.js';
import { startStreamHarness, type StreamHarness } from './helpers/streams.js';
import { parseOidcIssuers } from '../src/authenticate/oidc/config.js';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import type { RecordEvent, SessionSummary } from '../src/model/recording.js';

const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(ROOT, 'bin/kubetape.js');
const MCP_SERVER = join(ROOT, 'node_modules/mcp-server-kubernetes/dist/index.js');
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

let dir: string;
let idp: TestProvider;
let s: StreamHarness;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-agents-mcp-'));
  idp = await startTestProvider({}, { machines: [{ clientId: 'mcp-k8s', secret: 'mcp-secret-1' }] });
  writeFileSync(join(dir, 'idp-ca.pem'), idp.ca);
  s = await startStreamHarness({
    config: {
      authentication: {
        oidc: parseOidcIssuers([{ issuer: idp.issuer, audience: MACHINE_RESOURCE, kind: 'machine', groups: ['agents'], ca: join(dir, 'idp-ca.pem') }], 'test'),
      },
      policy: parsePolicyObject({
        rules: [{ name: 'agents-no-exec', match: { agent: true, resource: 'pods', subresource: 'exec' }, action: 'deny', message: 'agents may not exec' }],
      }),
    },
  });
});
t.teardown(async () => {
  await s?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

function machineKubeconfig(): string {
  const secretFile = join(dir, 'client-secret');
  writeFileSync(secretFile, 'mcp-secret-1\n', { mode: 0o600 });
  const caFile = join(dir, 'kt-ca.pem');
  writeFileSync(caFile, s.h.kt.ca);
  const path = join(dir, 'mcp-kubeconfig.yaml');
  const args = [BIN, 'credential', '--grant', 'client-credentials', '--issuer', idp.issuer, '--client-id', 'mcp-k8s'];
  args.push('--client-secret-file', secretFile, '--resource', MACHINE_RESOURCE, '--certificate-authority', join(dir, 'idp-ca.pem'));
  args.push('--cache-dir', join(dir, 'cache'));
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kt',
      '  cluster:',
      `    server: ${s.h.kt.url}`,
      `    certificate-authority: ${caFile}`,
      'users:',
      '- name: mcp',
      '  user:',
      '    exec:',
      '      apiVersion: client.authentication.k8s.io/v1',
      `      command: ${JSON.stringify(process.execPath)}`,
      `      args: ${JSON.stringify(args)}`,
      '      interactiveMode: Never',
      'contexts:',
      '- name: kt',
      '  context: {cluster: kt, user: mcp, namespace: default}',
      'current-context: kt',
      '',
    ].join('\n'),
  );
  return path;
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

t.test('mcp-server-kubernetes logs in with client credentials; its tool calls are recorded as the agent, under one trace', async (t) => {
  const kubeconfig = machineKubeconfig();
  const home = mkdtempSync(join(tmpdir(), 'kubetape-mcp-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MCP_SERVER],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      KUBECONFIG: kubeconfig,
      TRACEPARENT: `00-${TRACE}-00f067aa0ba902b7-01`,
      KUBETAPE_CLIENT: 'mcp-server-kubernetes/4.1.7',
    },
    stderr: 'pipe',
  });
  let serverErr = '';
  transport.stderr?.on('data', (c: Buffer) => (serverErr += c.toString()));
  const client = new Client({ name: 'kubetape-test', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());

  const tools = (await client.listTools()).tools.map((x) => x.name);
  t.ok(tools.includes('kubectl_get'), `tools: ${tools.join(', ')}`);
  t.ok(tools.includes('exec_in_pod'));

  const got = await call(client, 'kubectl_get', { resourceType: 'pods', namespace: 'default', output: 'json' });
  t.match(got, /web-0/, `kubectl_get through kubetape lists the pod (${serverErr})`);

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
