// `sessions show`: what was decoded inside the session's port-forwards (each
// HTTP exchange) and every MCP tool call (port-forward or proxy request),
// linked request to response by id, with arguments and result or error.
import type { HttpExchangeEvent, McpCounts, McpMessageEvent, RecordEvent } from '../model/recording.js';
import { humanBytes, table } from './format.js';
import { jsonLine, resultLine, safeLine } from './decoded-text.js';

/** The header line of a session with MCP in it. */
export function mcpHeader(m: McpCounts | undefined): string[] {
  if (!m) return [];
  const tools = m.tools.map((t) => `${safeLine(t.name, 60)} ${t.calls}`).join(', ');
  return [
    `MCP       ${m.messages} messages, ${m.calls} tool call${m.calls === 1 ? '' : 's'}${tools ? ` (${tools})` : ''}${m.errors ? `, ${m.errors} failed` : ''}`,
  ];
}

/** The list's MCP cell: tool calls and which tools. */
export function mcpCell(m: McpCounts | undefined): string {
  if (!m) return '-';
  if (m.calls === 0) return `${m.messages} msgs`;
  const names = m.tools.map((t) => safeLine(t.name, 30));
  const shown = names.slice(0, 3).join(',') + (names.length > 3 ? `,+${names.length - 3}` : '');
  return `${m.calls} calls: ${shown}`;
}

export function decodedSections(events: readonly RecordEvent[]): string {
  const out: string[] = [];
  const starts = new Map<number, number>();
  for (const ev of events) if (ev.type === 'request') starts.set(ev.seq, Date.parse(ev.time));
  const t0 = Math.min(...[...starts.values()]);
  const at = (seq: number, offsetMs: number): string => `+${(((starts.get(seq) ?? t0) + offsetMs - t0) / 1000).toFixed(3)}s`;

  const http = events.filter((e): e is HttpExchangeEvent => e.type === 'http.exchange');
  if (http.length > 0) {
    const rows = http.map((x) => [
      at(x.seq, x.offsetMs),
      String(x.seq),
      `${x.connection}/${x.index}`,
      safeLine(`${x.request.method} ${x.request.target}`, 80),
      x.response ? String(x.response.status) : '...',
      x.durationMs !== undefined ? `${x.durationMs}ms` : '',
      humanBytes(x.request.body?.size ?? 0),
      humanBytes(x.response?.body?.size ?? 0),
      exchangeNotes(x),
    ]);
    out.push('', 'HTTP inside port-forwards', table(['AT', 'SEQ', 'CONN/#', 'REQUEST', 'STATUS', 'TOOK', 'IN', 'OUT', 'NOTES'], rows).trimEnd());
  }
  const notes = events.filter((e) => e.type === 'decode.note' && e.protocol !== 'http');
  if (notes.length > 0) {
    out.push('', 'Connections not decoded');
    for (const n of notes)
      if (n.type === 'decode.note') out.push(`  seq ${n.seq} connection ${n.connection}: ${n.protocol}${n.note ? `: ${safeLine(n.note, 200)}` : ''}`);
  }

  const mcp = events.filter((e): e is McpMessageEvent => e.type === 'mcp.message');
  if (mcp.length > 0) {
    const answers = new Map<string, McpMessageEvent>();
    for (const m of mcp) if (m.kind === 'response' && m.id !== undefined) answers.set(key(m), m);
    const inits = mcp.filter((m) => m.method === 'initialize');
    const client = inits.find((m) => m.clientInfo)?.clientInfo;
    const server = inits.find((m) => m.serverInfo)?.serverInfo;
    out.push('', 'MCP');
    if (client || server) {
      out.push(
        `  initialize: client ${client ? safeLine(`${client.name} ${client.version ?? ''}`.trim(), 80) : '?'}, server ${server ? safeLine(`${server.name} ${server.version ?? ''}`.trim(), 80) : '?'}`,
      );
    }
    const rows: string[][] = [];
    for (const m of mcp) {
      if (m.kind === 'response') continue;
      const answer = m.id !== undefined ? answers.get(key(m)) : undefined;
      const what = m.method === 'tools/call' ? `tools/call ${safeLine(m.tool ?? '?', 60)}` : safeLine(m.method ?? '?', 60);
      let result = m.kind === 'notification' ? '(notification)' : 'no response recorded';
      if (answer?.error) result = `error ${answer.error.code}: ${safeLine(answer.error.message, 120)}`;
      else if (answer)
        result = `${answer.isError ? 'tool error: ' : ''}${m.method === 'tools/list' ? toolList(answer.result) : resultLine(answer.result, 120)}`;
      rows.push([
        at(m.seq, m.offsetMs),
        String(m.seq),
        m.id !== undefined ? safeLine(String(m.id), 20) : '-',
        what,
        m.method === 'tools/call' ? jsonLine(m.params, 80) : '',
        result,
      ]);
    }
    out.push(table(['AT', 'SEQ', 'ID', 'CALL', 'ARGUMENTS', 'RESULT'], rows).trimEnd());
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** A response repeats its request's method; the MCP session id is left out (initialize is sent before there is one). */
function key(m: McpMessageEvent): string {
  return `${m.seq}\0${m.method ?? ''}\0${typeof m.id}\0${String(m.id)}`;
}

function toolList(result: unknown): string {
  const tools = (result as { tools?: Array<{ name?: unknown }> } | undefined)?.tools;
  if (!Array.isArray(tools)) return jsonLine(result, 120);
  return safeLine(`${tools.length} tools: ${tools.map((t) => String(t?.name)).join(', ')}`, 160);
}

function exchangeNotes(x: HttpExchangeEvent): string {
  return [
    x.upgrade ? `upgrade ${x.upgrade}` : '',
    x.sseEvents !== undefined ? `${x.sseEvents} SSE events` : '',
    x.response?.decodedFrom ? x.response.decodedFrom : '',
    x.response?.body?.truncated || x.request.body?.truncated ? 'body truncated' : '',
    x.incomplete ? `${x.incomplete} cut off` : '',
  ]
    .filter(Boolean)
    .join('; ');
}
