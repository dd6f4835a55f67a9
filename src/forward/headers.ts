// What kubetape refuses to pass on. The upstream must see kubetape's own
// credential and nothing a caller could use to become someone else.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { RECORDED_HEADERS, type ExchangeStart } from '../record/recorder.js';

/**
 * Headers a caller may never send upstream: its own credential, every form of
 * impersonation, and the front-proxy identity headers an API server trusts
 * from an authenticating proxy (request-header authentication).
 */
export function isForbiddenUpstreamHeader(name: string): boolean {
  const n = name.toLowerCase();
  return (
    n === 'authorization' ||
    n === 'proxy-authorization' ||
    n.startsWith('impersonate-') ||
    n === 'x-remote-user' ||
    n.startsWith('x-remote-group') ||
    n.startsWith('x-remote-extra-')
  );
}

/** Remove forbidden headers in place; returns the names removed (for the record). */
export function stripCallerHeaders(headers: IncomingHttpHeaders): string[] {
  const removed: string[] = [];
  for (const name of Object.keys(headers)) {
    if (isForbiddenUpstreamHeader(name)) {
      delete headers[name];
      removed.push(name);
    }
  }
  return removed;
}

/**
 * The request headers kept in the recording, taken before stripping. Who a
 * caller tried to impersonate is evidence, not a secret, so Impersonate-*
 * values are kept; credentials never are.
 */
export function recordedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const flat = (v: string | string[]) => (Array.isArray(v) ? v.join(', ') : v);
  for (const name of RECORDED_HEADERS) {
    const v = headers[name];
    if (v !== undefined) out[name] = flat(v);
  }
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('impersonate-') && v !== undefined) out[k] = flat(v);
  }
  return out;
}

/**
 * Who is on the other end, as every recorded exchange starts with it: the
 * address and connection, what the client says of itself (User-Agent; a
 * client without a Kubectl-Session header is one session per person,
 * address and User-Agent), and kubectl's own headers.
 */
export function clientOf(req: IncomingMessage): Pick<ExchangeStart, 'source' | 'socket' | 'userAgent' | 'command' | 'clientSession'> {
  const one = (name: string): string | undefined => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const userAgent = one('user-agent');
  const command = one('kubectl-command');
  const clientSession = one('kubectl-session');
  return {
    source: req.socket.remoteAddress ?? '',
    socket: req.socket,
    ...(userAgent ? { userAgent } : {}),
    ...(command ? { command } : {}),
    ...(clientSession ? { clientSession } : {}),
  };
}
