// The resize stream carries TerminalSize JSON objects back to back (Go's
// json.Decoder reads them; kubectl adds a newline, other clients may not).
// Split them by brace depth, outside strings; bad objects are skipped, as the
// kubelet stops reading only at EOF.
import type { Readable } from 'node:stream';
import type { TerminalSize } from './exec-runtime.js';

const MAX_PENDING = 64 * 1024;

export class ResizeDecoder {
  private pending = '';

  /** Returns the complete sizes in `chunk` (plus what was pending). */
  push(chunk: Buffer | string): TerminalSize[] {
    this.pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const out: TerminalSize[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}' && depth > 0) {
        depth--;
        if (depth === 0) {
          const size = parseSize(this.pending.slice(start, i + 1));
          if (size) out.push(size);
          consumed = i + 1;
        }
      } else if (depth === 0) consumed = i + 1;
    }
    this.pending = this.pending.slice(consumed);
    if (this.pending.length > MAX_PENDING) this.pending = '';
    return out;
  }
}

function parseSize(text: string): TerminalSize | undefined {
  try {
    const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
    const w = Number(v.Width ?? 0);
    const h = Number(v.Height ?? 0);
    if (!Number.isFinite(w) || !Number.isFinite(h)) return undefined;
    return { Width: w, Height: h };
  } catch {
    return undefined;
  }
}

/** Calls onSize for every size read from `stream` until it ends. */
export function readSizes(stream: Readable, onSize: (s: TerminalSize) => void): void {
  const decoder = new ResizeDecoder();
  stream.on('data', (c: Buffer) => {
    for (const s of decoder.push(c)) onSize(s);
  });
  stream.on('error', () => undefined);
}
