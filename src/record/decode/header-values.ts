// Header values that are credentials are never stored in clear, whatever the
// policy says: the scheme stays (Bearer, Basic), the rest is masked.
import type { DecodedHeader } from '../../model/recording.js';
import { maskPatterns, PATTERN_MASK, type MaskPattern } from '../../mask/patterns.js';

const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token']);

/** Headers as stored: credentials masked, other values pattern-masked. */
export function storedHeaders(headers: DecodedHeader[], patterns: MaskPattern[]): DecodedHeader[] {
  return headers.map(([name, value]) => [name, storedValue(name.toLowerCase(), value, patterns)]);
}

function storedValue(lower: string, value: string, patterns: MaskPattern[]): string {
  if (CREDENTIAL_HEADERS.has(lower)) {
    const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+\S/.exec(value);
    if ((lower === 'authorization' || lower === 'proxy-authorization') && scheme) return `${scheme[1]} ${PATTERN_MASK}`;
    return PATTERN_MASK;
  }
  return patterns.length > 0 ? maskPatterns(value, patterns) : value;
}

/** The first value of a header (names compared case-insensitively). */
export function headerValue(headers: DecodedHeader[], name: string): string | undefined {
  for (const [n, v] of headers) if (n.toLowerCase() === name) return v;
  return undefined;
}

/** Every value of a header, joined as a list would be. */
export function headerValues(headers: DecodedHeader[], name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) if (n.toLowerCase() === name) out.push(v);
  return out;
}
