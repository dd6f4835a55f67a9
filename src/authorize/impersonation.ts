// Callers may not impersonate through kubetape. Stripping the headers and
// going on would run `kubectl --as readonly delete ...` with the caller's
// full rights, the opposite of what they asked for; passing them on would
// let anyone borrow kubetape's identity. So the request is refused, and the
// attempt is recorded.
import type { IncomingHttpHeaders } from 'node:http';

export function impersonationHeaders(headers: IncomingHttpHeaders): string[] {
  return Object.keys(headers).filter((n) => n.startsWith('impersonate-'));
}

export function impersonationRefusal(names: string[]): string {
  const shown = names.map((n) => n.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase())).join(', ');
  return `kubetape does not forward impersonation headers [${shown}]; requests run as the authenticated caller, so drop --as and --as-group`;
}
