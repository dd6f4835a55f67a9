// Credential patterns masked in what kubetape stores. Built-ins cover what
// leaks most often in output and logs; operators add their own regexes.

/** A credential pattern: a built-in's name or the operator's own, and its (global) regex. */
export interface MaskPattern {
  name: string;
  regex: RegExp;
}

export const PATTERN_MASK = '[masked]';

export const BUILTIN_PATTERNS: Record<string, RegExp> = {
  'aws-access-key-id': /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g,
  'private-key': /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g,
  'bearer-token': /\b(Bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi,
  jwt: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g,
};

/** Replace every pattern's matches; a bearer token keeps its "Bearer " prefix. */
export function maskPatterns(text: string, patterns: MaskPattern[]): string {
  let out = text;
  for (const p of patterns) {
    p.regex.lastIndex = 0;
    out = out.replace(p.regex, (m: string, prefix?: unknown) =>
      p.name === 'bearer-token' && typeof prefix === 'string' ? prefix + PATTERN_MASK : PATTERN_MASK,
    );
  }
  return out;
}

/** A partial last line longer than this is stored except for its last TAIL_BYTES. */
const CARRY_BYTES = 8192;
const TAIL_BYTES = 2048;
/** A private key block is held until it ends, up to this much. */
const MAX_HELD_BLOCK = 64 * 1024;
const OPEN_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?![\s\S]*-----END [A-Z0-9 ]*PRIVATE KEY-----)/;

/**
 * Masks a stream of text chunks for storage: each call returns what can be
 * stored now, keeping the unfinished last line (and any unterminated key
 * block) to join with the next chunk, so a credential split across chunks
 * is still seen whole while line-oriented output (logs, shells) is stored
 * as it comes. `flush()` returns the rest when the stream ends.
 */
export class StreamMasker {
  private carry = '';

  constructor(private readonly patterns: MaskPattern[]) {}

  push(chunk: string): string {
    const text = maskPatterns(this.carry + chunk, this.patterns);
    let cut = text.lastIndexOf('\n') + 1;
    if (text.length - cut > CARRY_BYTES) cut = text.length - TAIL_BYTES;
    const open = OPEN_BLOCK.exec(text);
    if (open && open.index < cut && text.length - open.index <= MAX_HELD_BLOCK) cut = open.index;
    this.carry = text.slice(cut);
    return text.slice(0, cut);
  }

  flush(): string {
    const rest = maskPatterns(this.carry, this.patterns);
    this.carry = '';
    return rest;
  }
}

/** How long `masking.inline` holds back the start of what could still become a credential, unless `maxHold` says otherwise. */
export const INLINE_HOLD_DEFAULT_MS = 100;
