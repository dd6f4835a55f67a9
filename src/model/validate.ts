// Small checks for nested config sections. Every message names the key path
// (e.g. `clusters[1].roles[0].roleArn`) so an operator finds the line at once.
import { ConfigError } from './config-error.js';

export type Obj = Record<string, unknown>;

export function mapping(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where} must be a mapping`);
  return v as Obj;
}

export function list(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(`${where} must be a list`);
  return v;
}

/** Unknown keys are errors: a typo must not silently weaken authentication. */
export function onlyKeys(o: Obj, known: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new ConfigError(`unknown key "${where}.${k}" (known: ${known.join(', ')})`);
}

export function requiredString(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}.${key} is required and must be a non-empty string`);
  return v;
}

export function optionalString(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`${where}.${key} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** A string or a list of strings, as a list. */
export function stringOrList(o: Obj, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const items = typeof v === 'string' ? [v] : Array.isArray(v) ? v : undefined;
  if (!items || items.some((x) => typeof x !== 'string' || x === '')) throw new ConfigError(`${where}.${key} must be a string or a list of non-empty strings`);
  return items as string[];
}

export function optionalNumber(o: Obj, key: string, where: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new ConfigError(`${where}.${key} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

export function optionalBoolean(o: Obj, key: string, where: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(`${where}.${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** A URL with one of the given schemes; plain http only for loopback hosts (tests, local IdPs). */
export function checkUrl(v: string, where: string, opts: { allowLoopbackHttp: boolean }): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(`${where} must be a URL, got ${JSON.stringify(v)}`);
  }
  const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.allowLoopbackHttp && loopback)) {
    throw new ConfigError(`${where} must be an https URL${opts.allowLoopbackHttp ? ' (http only for 127.0.0.1/localhost)' : ''}, got ${JSON.stringify(v)}`);
  }
  if (u.search || u.hash) throw new ConfigError(`${where} must not have a query or fragment, got ${JSON.stringify(v)}`);
  return u;
}
