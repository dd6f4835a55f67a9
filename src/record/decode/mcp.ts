// MCP recognised in decoded HTTP: JSON-RPC 2.0 messages in POST bodies and in
// responses (application/json, or text/event-stream events), as the
// streamable HTTP transport and the older HTTP+SSE transport carry them.
// A message counts as MCP when it is JSON-RPC 2.0 and either its method is
// one of MCP's or it answers a request that was (linked by id, within one
// MCP session). What is kept of params and results is pattern-masked and
// cut at the body limit (then kept as text, marked truncated).
import type { McpMessageEvent } from '../../model/recording.js';
import { maskPatterns, type MaskPattern } from '../../mask/patterns.js';

export type McpMessage = Omit<McpMessageEvent, 'type' | 'session' | 'seq' | 'offsetMs'>;

const MCP_METHOD = /^(initialize|ping|(notifications|tools|resources|prompts|completion|logging|sampling|roots|elicitation|tasks)\/[A-Za-z_/]+)$/;
/** Requests remembered for linking responses; the oldest are forgotten first. */
const MAX_PENDING = 1024;

interface Pending {
  method: string;
  tool?: string;
}

/**
 * Links responses to requests by id, per MCP session, across the
 * connections of one port-forward (a client may send the POST on one
 * connection and read the answer on another).
 */
export class McpLinker {
  private readonly pending = new Map<string, Pending>();

  remember(session: string | undefined, id: string | number, p: Pending): void {
    const key = linkKey(session, id);
    this.pending.delete(key);
    this.pending.set(key, p);
    if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
  }

  take(session: string | undefined, id: string | number): Pending | undefined {
    // The initialize request goes out before the server names the session.
    for (const key of [linkKey(session, id), linkKey(undefined, id)]) {
      const p = this.pending.get(key);
      if (p) {
        this.pending.delete(key);
        return p;
      }
    }
    return undefined;
  }
}

function linkKey(session: string | undefined, id: string | number): string {
  return `${session ?? ''}\0${typeof id}\0${String(id)}`;
}

export interface McpContext {
  from: 'client' | 'server';
  mcpSession?: string | undefined;
  linker: McpLinker;
  limit: number;
  patterns: MaskPattern[];
}

/** The MCP messages in one JSON text (a message or a batch); none when it is not JSON-RPC 2.0 MCP. */
export function mcpMessages(text: string, cx: McpContext): McpMessage[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return [];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return [];
  }
  const list = Array.isArray(value) ? value.slice(0, 1000) : [value];
  const out: McpMessage[] = [];
  for (const v of list) {
    const m = oneMessage(v, cx);
    if (m) out.push(m);
  }
  return out;
}

function oneMessage(v: unknown, cx: McpContext): McpMessage | undefined {
  if (!isObject(v) || v['jsonrpc'] !== '2.0') return undefined;
  const id = v['id'];
  const hasId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  const base: McpMessage = { from: cx.from, kind: 'notification' };
  if (cx.mcpSession) base.mcpSession = cx.mcpSession.slice(0, 256);
  if (typeof v['method'] === 'string') {
    const method = v['method'];
    if (!MCP_METHOD.test(method) || method.length > 128) return undefined;
    const m: McpMessage = { ...base, kind: hasId ? 'request' : 'notification', method };
    if (hasId) m.id = id;
    const params = v['params'];
    if (isObject(params)) {
      if (method === 'tools/call') {
        if (typeof params['name'] === 'string') m.tool = params['name'].slice(0, 256);
        if (params['arguments'] !== undefined) kept(m, 'params', params['arguments'], cx);
      } else if (method === 'initialize') {
        const info = nameOf(params['clientInfo']);
        if (info) m.clientInfo = info;
        if (typeof params['protocolVersion'] === 'string') m.protocolVersion = params['protocolVersion'].slice(0, 64);
      } else kept(m, 'params', params, cx);
    }
    if (hasId) cx.linker.remember(cx.mcpSession, id, m.tool === undefined ? { method } : { method, tool: m.tool });
    return m;
  }
  if (!hasId || (!('result' in v) && !('error' in v))) return undefined;
  const asked = cx.linker.take(cx.mcpSession, id);
  if (!asked) return undefined;
  const m: McpMessage = { ...base, kind: 'response', id, method: asked.method };
  if (asked.tool !== undefined) m.tool = asked.tool;
  const error = v['error'];
  if (isObject(error)) {
    m.error = {
      code: typeof error['code'] === 'number' ? error['code'] : 0,
      message: typeof error['message'] === 'string' ? error['message'].slice(0, 4096) : '',
    };
    if (error['data'] !== undefined) {
      const holder: McpMessage = { ...base };
      kept(holder, 'result', error['data'], cx);
      m.error.data = holder.result;
    }
    return m;
  }
  const result = v['result'];
  if (isObject(result)) {
    if (asked.method === 'initialize') {
      const info = nameOf(result['serverInfo']);
      if (info) m.serverInfo = info;
      if (typeof result['protocolVersion'] === 'string') m.protocolVersion = result['protocolVersion'].slice(0, 64);
    }
    if (asked.method === 'tools/call' && result['isError'] === true) m.isError = true;
  }
  kept(m, 'result', result, cx);
  return m;
}

/** Stores a value pattern-masked, as JSON when it fits the limit, else as its cut JSON text (truncated). */
function kept(m: McpMessage, field: 'params' | 'result', value: unknown, cx: McpContext): void {
  let text = JSON.stringify(value) ?? 'null';
  if (cx.patterns.length > 0) text = maskPatterns(text, cx.patterns);
  if (text.length > cx.limit) {
    m[field] = text.slice(0, cx.limit);
    m.truncated = true;
    return;
  }
  try {
    m[field] = JSON.parse(text);
  } catch {
    m[field] = text;
  }
}

function nameOf(v: unknown): { name: string; version?: string } | undefined {
  if (!isObject(v) || typeof v['name'] !== 'string') return undefined;
  const out: { name: string; version?: string } = { name: v['name'].slice(0, 256) };
  if (typeof v['version'] === 'string') out.version = v['version'].slice(0, 64);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
