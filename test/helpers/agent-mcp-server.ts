// A small MCP server for Kubernetes, built with @modelcontextprotocol/sdk and
// run over stdio by the agents tests. Like mcp-server-kubernetes it shells
// out to the real kubectl; unlike it, it propagates the trace context of each
// tool call: the caller's `_meta.traceparent` (the MCP convention for W3C
// trace context in a request) becomes TRACEPARENT in kubectl's environment,
// which `kubetape credential` (kubectl's exec plugin) hands to kubetape.
//
// One tool, inspect_pod {pod, namespace}: `kubectl get pod`, `kubectl logs`
// and `kubectl exec -- echo inspected`, three kubectl runs for one tool call.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const run = promisify(execFile);
const server = new Server({ name: 'kubetape-test-mcp', version: '0.1.0' }, { capabilities: { tools: {} } });

server.setRequestHandler(ListToolsRequestSchema, () => ({
  tools: [
    {
      name: 'inspect_pod',
      description: 'get a pod, read its logs and run a command in it',
      inputSchema: { type: 'object', properties: { pod: { type: 'string' }, namespace: { type: 'string' } }, required: ['pod'] },
    },
  ],
}));

server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const args = (req.params.arguments ?? {}) as { pod?: string; namespace?: string };
  const traceparent = req.params._meta?.['traceparent'];
  const env: NodeJS.ProcessEnv = { ...process.env, KUBETAPE_CLIENT: 'kubetape-test-mcp/0.1.0' };
  if (typeof traceparent === 'string') env['TRACEPARENT'] = traceparent;
  const kubectl = async (a: string[]): Promise<string> => {
    try {
      return (await run('kubectl', ['-n', args.namespace ?? 'default', ...a], { env, timeout: 30_000 })).stdout;
    } catch (err) {
      return `failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`;
    }
  };
  const out = [
    await kubectl(['get', 'pod', args.pod ?? '', '-o', 'name']),
    await kubectl(['logs', args.pod ?? '']),
    await kubectl(['exec', args.pod ?? '', '--', 'echo', 'inspected']),
  ];
  return { content: [{ type: 'text', text: out.join('\n') }] };
});

await server.connect(new StdioServerTransport());
