// MCP in proxy-subresource requests (/api/v1/namespaces/NS/services/NAME:PORT/proxy/...,
// pods/NAME/proxy/...): the REST record already holds both bodies (masked,
// up to maxBodyBytes), so the messages are derived from them when the
// exchange ends. A cut body is not parsed.
import type { RecordedBody } from '../../model/recording.js';
import type { MaskPattern } from '../../mask/patterns.js';
import { inflateBounded } from './body-decode.js';
import { McpLinker, mcpMessages, type McpMessage } from './mcp.js';
import { SseReader } from './sse-reader.js';

/** Whether a request's attributes name the proxy subresource of a service or a pod. */
export function isProxyRequest(attrs: { resource?: string | undefined; subresource?: string | undefined }): boolean {
  return attrs.subresource === 'proxy' && (attrs.resource === 'services' || attrs.resource === 'pods');
}

export function proxyMcpMessages(
  request: RecordedBody | undefined,
  response: RecordedBody | undefined,
  o: { method: string; limit: number; patterns: MaskPattern[] },
): McpMessage[] {
  const linker = new McpLinker();
  const out: McpMessage[] = [];
  const cx = (from: 'client' | 'server') => ({ from, linker, limit: o.limit, patterns: o.patterns });
  const reqText = o.method === 'POST' ? textOf(request, o.limit) : undefined;
  if (reqText !== undefined) out.push(...mcpMessages(reqText, cx('client')));
  const resText = textOf(response, o.limit);
  if (resText === undefined) return out;
  if (/^text\/event-stream\b/i.test(response?.contentType ?? '')) {
    const sse = new SseReader(o.limit, (e) => {
      if (!e.cut && e.data) out.push(...mcpMessages(e.data, cx('server')));
    });
    sse.push(resText);
    sse.end();
  } else out.push(...mcpMessages(resText, cx('server')));
  return out;
}

function textOf(b: RecordedBody | undefined, limit: number): string | undefined {
  if (!b || b.truncated || b.redacted || b.size === 0) return undefined;
  if (b.encoding === 'utf8' && !b.contentEncoding) return b.data;
  if (!b.contentEncoding) return undefined;
  const inflated = inflateBounded(b.contentEncoding, Buffer.from(b.data, 'base64'), limit);
  return inflated && !inflated.truncated ? inflated.data.toString('utf8') : undefined;
}
