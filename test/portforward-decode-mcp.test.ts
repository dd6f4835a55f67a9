// An MCP client talks to an MCP server in a pod (the official TypeScript SDK,
// streamable HTTP) through the real kubectl port-forward via kubetape:
// initialize, tools/list, three tool calls with results, one that fails and
// one unknown tool. The recording names every tool with its arguments and
// result, linked by id, tied to the person; `sessions list --tool`/`--mcp`
// find the session from its summary; the bearer token the client sent is
// never stored in clear (decoded headers always, raw bytes under the
// policy's bearer-token pattern) while the server still receives it.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { HttpExchangeEvent, McpMessageEvent, RecordEvent } from '../src/model/recording.js';
import { parsePolicyText } from '../src/authorize/policy/load.js';
import { startHarness } from './helpers/harness.js';
import { runningPod } from './helpers/stream-upstream.js';
import { cliFromSource, settledStreamExchanges } from './helpers/streams.js';
import { startMcpTarget, startPortForward } from './helpers/decode-targets.js';

const TOKEN = 'mcp-secret-token-0123456789abcdef';

for (const run of [
  { name: 'WebSocket tunnel', env: {} },
  { name: 'SPDY', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } },
]) {
  t.test(`MCP tool calls through kubectl port-forward are recorded by name: ${run.name}`, async (t) => {
    const mcp = await startMcpTarget();
    const h = await startHarness({
      api: { minor: '32', portForwardTarget: (_pod, port) => (port === 8080 ? { host: '127.0.0.1', port: mcp.port } : undefined) },
      config: { policy: parsePolicyText('masking:\n  patterns: [bearer-token]\n', 'test-policy') },
    });
    t.teardown(async () => {
      await h.close();
      await mcp.close();
    });
    h.api.objects.put(runningPod('web-0') as never);
    const pf = await startPortForward(h.kubeconfig, [8080], run.env);
    t.teardown(() => pf.stop());

    const client = new Client({ name: 'test-agent', version: '0.9.1' });
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${pf.local[0]}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
    });
    await client.connect(transport);
    const tools = await client.listTools();
    t.same(tools.tools.map((x) => x.name).sort(), ['add', 'echo', 'fail', 'whoami']);
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'hello pod' } });
    t.match(echo.content, [{ text: 'echo: hello pod' }]);
    await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
    await client.callTool({ name: 'whoami', arguments: {} });
    const failed = await client.callTool({ name: 'fail', arguments: { why: 'testing' } });
    t.equal(failed.isError, true, 'the failing tool reports an error');
    const unknown = await client.callTool({ name: 'nope', arguments: {} }).then(
      (r) => r,
      (e: Error) => e,
    );
    await client.close();
    t.ok(mcp.authorizations.includes(`Bearer ${TOKEN}`), 'the MCP server received the Authorization header as sent');
    await pf.stop();

    const [x] = await settledStreamExchanges(h.kt.store, (e) => e.request.portForward !== undefined);
    const events: RecordEvent[] = [];
    for await (const ev of h.kt.store.readSession(x.session)) events.push(ev);
    const msgs = events.filter((e): e is McpMessageEvent => e.type === 'mcp.message');
    const calls = msgs.filter((m) => m.kind === 'request' && m.method === 'tools/call');
    t.same(
      calls.map((m) => [m.tool, m.params]),
      [
        ['echo', { text: 'hello pod' }],
        ['add', { a: 2, b: 40 }],
        ['whoami', {}],
        ['fail', { why: 'testing' }],
        ['nope', {}],
      ],
      'every tool call with its arguments',
    );
    const answer = (m: McpMessageEvent): McpMessageEvent | undefined => msgs.find((r) => r.kind === 'response' && r.id === m.id && r.method === m.method);
    t.match(answer(calls[0])?.result, { content: [{ type: 'text', text: 'echo: hello pod' }] }, 'echo: its result, linked by id');
    t.match(answer(calls[1])?.result, { content: [{ text: '42' }] });
    t.equal(answer(calls[0])?.tool, 'echo', 'the response names the tool');
    t.equal(answer(calls[3])?.isError, true, 'the failing tool: isError');
    t.match(answer(calls[3])?.result, { content: [{ text: /failed on purpose: testing/ }] });
    const nope = answer(calls[4]);
    t.ok(nope?.error !== undefined || nope?.isError === true, `the unknown tool: an error (${unknown instanceof Error ? unknown.message : 'a result'})`);
    const init = msgs.filter((m) => m.method === 'initialize');
    t.same(init.find((m) => m.kind === 'request')?.clientInfo, { name: 'test-agent', version: '0.9.1' }, 'initialize: the client');
    t.same(init.find((m) => m.kind === 'response')?.serverInfo, { name: 'pod-mcp', version: '1.2.3' }, 'initialize: the server');
    t.ok(
      msgs.some((m) => m.method === 'tools/list' && m.kind === 'response'),
      'tools/list answered',
    );
    t.ok(
      msgs.some((m) => m.kind === 'notification' && m.method === 'notifications/initialized'),
      'notifications recorded',
    );
    t.ok(
      msgs.filter((m) => m.kind === 'response').every((m) => typeof m.mcpSession === 'string'),
      'responses carry the Mcp-Session-Id',
    );

    const posts = events.filter((e): e is HttpExchangeEvent => e.type === 'http.exchange' && e.request.method === 'POST');
    t.ok(posts.length >= 7, 'each POST is an HTTP exchange');
    t.ok(
      posts.every((p) => p.request.headers.some(([n, v]) => n.toLowerCase() === 'authorization' && v === 'Bearer [masked]')),
      'the decoded Authorization header is masked',
    );
    const files = readdirSync(join(h.dataDir, 'recordings'), { recursive: true }).map(String);
    const file = files.find((f) => f.includes(x.session));
    t.ok(file, 'the session file');
    t.notOk(readFileSync(join(h.dataDir, 'recordings', file!), 'utf8').includes(TOKEN), 'the bearer token is nowhere in the recording, raw bytes included');

    const [show, byTool, noTool, byMcp] = await cliFromSource([
      ['sessions', 'show', x.session, '--data-dir', h.dataDir],
      ['sessions', 'list', '--tool', 'add', '--data-dir', h.dataDir],
      ['sessions', 'list', '--tool', 'pods_exec', '--data-dir', h.dataDir],
      ['sessions', 'list', '--mcp', '--json', '--data-dir', h.dataDir],
    ]);
    const text = show.stdout.toString();
    t.match(text, /MCP\s+\d+ messages, 5 tool calls \(echo 1, add 1, whoami 1, fail 1, nope 1\), 2 failed/, 'show: the MCP summary');
    t.match(text, /tools\/call echo\s+\{"text":"hello pod"\}\s+echo: hello pod/, 'show: a tool call with arguments and result');
    t.match(text, /tools\/call fail\s+\{"why":"testing"\}\s+tool error: .*failed on purpose/, 'show: the failed call');
    t.match(text, /initialize: client test-agent 0\.9\.1, server pod-mcp 1\.2\.3/);
    t.match(text, /tools\/list\s+.*4 tools: /);
    t.match(text, new RegExp(`User\\s+${process.env.USER ?? '\\S+'}|User\\s+\\S+`), 'tied to the person');
    t.match(byTool.stdout.toString(), new RegExp(x.session), '--tool add lists the session');
    t.match(byTool.stdout.toString(), /5 calls: echo,add,whoami,\+2/, 'with its MCP column');
    t.match(noTool.stdout.toString(), /No sessions recorded match/, '--tool with a tool never called lists nothing');
    const listed = JSON.parse(byMcp.stdout.toString()) as Array<{ id: string; mcp?: { calls: number } }>;
    t.same(
      listed.map((s) => [s.id, s.mcp?.calls]),
      [[x.session, 5]],
      '--mcp: only the MCP session, with its counts',
    );
  });
}
