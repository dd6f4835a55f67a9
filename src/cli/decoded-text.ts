// Recorded traffic shown back on a terminal is hostile: control characters
// (escape sequences could rewrite the screen or the title) are made visible,
// long values are cut.
import type { RecordedBody } from '../model/recording.js';

/** Text safe for a terminal: controls other than newline and tab shown as \xNN, at most `max` characters. */
// eslint-disable-next-line no-control-regex -- matching controls is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function safeText(s: string, max = Infinity): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  const out = cut.replace(UNSAFE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > max ? `${out}...` : out;
}

/** One line: newlines too become visible. */
export function safeLine(s: string, max = 200): string {
  return safeText(s.replace(/\r?\n/g, '\\n'), max);
}

/** A decoded body's bytes (text stays text, base64 decoded). */
export function decodedBytes(b: RecordedBody): Buffer {
  return b.encoding === 'base64' ? Buffer.from(b.data, 'base64') : Buffer.from(b.data, 'utf8');
}

/** The classic hex dump: offset, 16 bytes in hex, their printable form. */
export function hexDump(b: Buffer, indent = '  '): string {
  const lines: string[] = [];
  for (let off = 0; off < b.length; off += 16) {
    const row = b.subarray(off, off + 16);
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${indent}${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  return lines.join('\n');
}

/** A compact view of a JSON value (arguments, results), one line. */
export function jsonLine(v: unknown, max = 160): string {
  if (v === undefined) return '';
  return safeLine(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''), max);
}

/** A tool result as people read it: its text content joined, else its JSON. */
export function resultLine(v: unknown, max = 160): string {
  if (typeof v === 'object' && v !== null && Array.isArray((v as { content?: unknown }).content)) {
    const texts = ((v as { content: unknown[] }).content as Array<{ type?: unknown; text?: unknown }>)
      .filter((c) => c?.type === 'text' && typeof c.text === 'string')
      .map((c) => c.text as string);
    if (texts.length > 0) return safeLine(texts.join(' | '), max);
  }
  return jsonLine(v, max);
}
