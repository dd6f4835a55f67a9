// Formatting recorded values for display, as text only.
import { parse as parseYaml } from 'yaml';
import type { RecordedBody } from '../../src/model/recording.js';

export function bytes(n: number | undefined): string {
  if (n === undefined) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** In the viewer's own time zone, with the zone named. */
export function localTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  });
}

export function bodyBytes(b: { encoding: 'utf8' | 'base64'; data: string }): Uint8Array {
  if (b.encoding === 'utf8') return new TextEncoder().encode(b.data);
  const bin = atob(b.data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Text if the bytes are valid UTF-8 without NULs, else undefined. */
export function asText(bytes: Uint8Array): string | undefined {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return s.includes('\u0000') ? undefined : s;
  } catch {
    return undefined;
  }
}

export function hexDump(bytes: Uint8Array, max = 64 * 1024): string {
  const lines: string[] = [];
  const n = Math.min(bytes.length, max);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > n) lines.push(`... ${bytes.length - n} more bytes`);
  return lines.join('\n');
}

export type Pretty = { kind: 'json' | 'yaml' | 'text'; text: string; value?: unknown } | { kind: 'binary'; text: string };

/** A recorded body pretty-printed: JSON indented, YAML as written (checked to parse), other text as is, binary as hex. */
export function prettyBody(b: RecordedBody): Pretty {
  const raw = bodyBytes(b);
  const text = asText(raw);
  if (text === undefined) return { kind: 'binary', text: hexDump(raw) };
  const ct = (b.contentType ?? '').toLowerCase();
  const trimmed = text.trimStart();
  if (!b.truncated && (ct.includes('json') || trimmed.startsWith('{') || trimmed.startsWith('['))) {
    try {
      const value: unknown = JSON.parse(text);
      return { kind: 'json', text: JSON.stringify(value, null, 2), value };
    } catch {
      // fall through: shown as text
    }
  }
  if (!b.truncated && (ct.includes('yaml') || /^[A-Za-z_][\w.-]*:\s/m.test(trimmed))) {
    try {
      const value: unknown = parseYaml(text);
      if (value && typeof value === 'object') return { kind: 'yaml', text, value };
    } catch {
      // not YAML
    }
  }
  return { kind: 'text', text };
}

/** An object as indented JSON without the noise a server adds (managedFields). */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (k, v: unknown) => (k === 'managedFields' ? undefined : v), 2);
}
