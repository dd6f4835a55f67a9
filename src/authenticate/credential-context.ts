// Trace context carried inside the bearer token. kubectl cannot send extra
// headers, but it runs `kubetape credential` once per invocation with its own
// environment; an MCP server that shells out to kubectl sets TRACEPARENT
// (the OpenTelemetry convention for passing a trace to a child process) and
// the plugin puts it in front of the token it prints:
//
//   ktx1~<base64url of {"tp","ts","bg","cl"}>~<the token>
//
// kubetape reads it here, authenticates the token after the second "~", and
// records the context with every request of that kubectl run. Nothing in it
// is trusted: it is validated like the headers (trace-context.ts), and it
// never leaves kubetape (the Authorization header is never forwarded).
import { traceContext, clientName, type TraceContext } from '../model/trace-context.js';

const PREFIX = 'ktx1~';
/** The carried context is small: traceparent, tracestate and baggage within their own bounds, and a client name. */
const MAX_CONTEXT_CHARS = 3072;

export interface CarriedContext {
  traceparent?: string;
  tracestate?: string;
  baggage?: string;
  client?: string;
}

/** The token with its context in front (what `kubetape credential` prints); the token alone when there is nothing to carry. */
export function withContext(token: string, c: CarriedContext): string {
  const o: Record<string, string> = {};
  if (c.traceparent) o['tp'] = c.traceparent;
  if (c.tracestate) o['ts'] = c.tracestate;
  if (c.baggage) o['bg'] = c.baggage;
  if (c.client) o['cl'] = c.client;
  if (Object.keys(o).length === 0) return token;
  const encoded = Buffer.from(JSON.stringify(o), 'utf8').toString('base64url');
  return encoded.length > MAX_CONTEXT_CHARS ? token : `${PREFIX}${encoded}~${token}`;
}

/** The token without any carried context (what authenticators check). */
export function tokenWithoutContext(token: string): string {
  if (!token.startsWith(PREFIX)) return token;
  const end = token.indexOf('~', PREFIX.length);
  return end === -1 ? token : token.slice(end + 1);
}

/** The context a bearer token carried, validated; undefined parts were absent or malformed. */
export function carriedContext(token: string | undefined): { trace?: TraceContext; client?: string } {
  if (!token?.startsWith(PREFIX)) return {};
  const end = token.indexOf('~', PREFIX.length);
  if (end === -1 || end - PREFIX.length > MAX_CONTEXT_CHARS) return {};
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(token.slice(PREFIX.length, end), 'base64url').toString('utf8'));
  } catch {
    return {};
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return {};
  const r = o as Record<string, unknown>;
  const s = (k: string) => (typeof r[k] === 'string' ? r[k] : undefined);
  const trace = traceContext(s('tp'), s('ts'), s('bg'));
  const client = clientName(s('cl'));
  return { ...(trace ? { trace } : {}), ...(client ? { client } : {}) };
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * The trace context and client name of one request: the W3C headers when the
 * client sent a valid traceparent, else what its token carried; the client
 * name from the `Kubetape-Client` header, else from the token.
 */
export function requestContext(headers: Headers, authorization: string | undefined): { trace?: TraceContext; client?: string } {
  const one = (n: string) => {
    const v = headers[n];
    return typeof v === 'string' ? v : undefined;
  };
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  const carried = carriedContext(m?.[1]);
  const trace = traceContext(one('traceparent'), one('tracestate'), one('baggage')) ?? carried.trace;
  const client = clientName(one('kubetape-client')) ?? carried.client;
  return { ...(trace ? { trace } : {}), ...(client ? { client } : {}) };
}
