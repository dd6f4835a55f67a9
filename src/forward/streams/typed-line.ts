// Line-level rules for interactive shells: the line a person is typing,
// rebuilt from the stdin bytes of `exec -it` the way a simple line editor
// would (printable characters, backspace/DEL, Ctrl-U, Ctrl-W, Ctrl-C; Enter
// submits). Best effort by nature: kubetape sees keystrokes, not what the
// shell makes of them (history, completion, aliases, editors), so this is
// a tripwire for mistakes, not a security boundary. The README says so.
import type { CommandMatch, TypedLineRule } from '../../model/policy-rules.js';

export type { TypedLineRule };

/** The rules in force for one session, and the policy rule that carries them. */
export interface TypedLineRules {
  rule: string;
  lines: TypedLineRule[];
}

export interface TypedDenial {
  /** The submitted line as reconstructed. */
  line: string;
  /** The policy rule carrying the typed rules. */
  rule: string;
  message: string;
}

const ESC = 0x1b;

/** Rebuilds submitted lines from keystrokes. Bytes are kept raw so UTF-8 survives chunk boundaries. */
export class LineEditor {
  private line: number[] = [];
  /** 0: normal; 1: after ESC; 2: inside a CSI sequence (ESC [ ... final); 3: after ESC O (one more byte). */
  private escape = 0;
  private lastWasCr = false;

  /** Feeds one byte; returns the submitted line when this byte is an Enter. */
  push(b: number): string | undefined {
    if (this.escape === 1) {
      this.escape = b === 0x5b ? 2 : b === 0x4f ? 3 : 0;
      return undefined;
    }
    if (this.escape === 2) {
      if (b >= 0x40 && b <= 0x7e) this.escape = 0;
      return undefined;
    }
    if (this.escape === 3) {
      this.escape = 0;
      return undefined;
    }
    const afterCr = this.lastWasCr;
    this.lastWasCr = b === 0x0d;
    if (b === 0x0d || b === 0x0a) {
      // "\r\n" from a pasted line is one Enter, not an Enter and an empty line.
      if (b === 0x0a && afterCr) return undefined;
      const text = Buffer.from(this.line).toString('utf8');
      this.line = [];
      return text;
    }
    if (b === ESC) this.escape = 1;
    else if (b === 0x7f || b === 0x08) this.backspace();
    else if (b === 0x15 || b === 0x03)
      this.line = []; // Ctrl-U, Ctrl-C
    else if (b === 0x17) this.deleteWord();
    else if (b >= 0x20) this.line.push(b);
    // Other control bytes (Tab, Ctrl-A/E, Ctrl-R...) move or complete in ways a byte stream cannot see: ignored.
    return undefined;
  }

  private backspace(): void {
    // One character, not one byte: drop UTF-8 continuation bytes and their lead byte.
    while (this.line.length > 0 && (this.line[this.line.length - 1] & 0xc0) === 0x80) this.line.pop();
    this.line.pop();
  }

  private deleteWord(): void {
    while (this.line.length > 0 && this.line[this.line.length - 1] === 0x20) this.line.pop();
    while (this.line.length > 0 && this.line[this.line.length - 1] !== 0x20) this.line.pop();
  }
}

export function lineMatches(m: CommandMatch, line: string): boolean {
  const text = line.trim();
  if ('exact' in m) return text === m.exact;
  if ('prefix' in m) return text.startsWith(m.prefix);
  return m.regex.test(line);
}

/** Watches stdin; says which bytes may go on and when a submitted line is denied. */
export class TypedLineGuard {
  private readonly editor = new LineEditor();

  constructor(private readonly rules: TypedLineRules) {}

  /** `forward`: the bytes that may go upstream (everything before a denied Enter). */
  inspect(chunk: Buffer): { forward: Buffer; denial?: TypedDenial } {
    for (let i = 0; i < chunk.length; i++) {
      const line = this.editor.push(chunk[i]);
      if (line === undefined) continue;
      const hit = this.rules.lines.find((r) => lineMatches(r.match, line));
      if (hit) return { forward: chunk.subarray(0, i), denial: { line, rule: this.rules.rule, message: hit.message } };
    }
    return { forward: chunk };
  }
}
