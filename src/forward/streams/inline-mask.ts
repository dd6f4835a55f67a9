// `masking.inline`: the policy's credential patterns applied to exec/attach
// output on its way to the client, not only to the recording.
//
// Output is forwarded as it comes; what is held back is only a tail that
// could still grow into a match (the start of an AWS key id, a JWT, a
// "Bearer " token, a PEM header, or for custom patterns the trailing run of
// non-whitespace). It is looked at again with the next output, and sent
// anyway INLINE_IDLE_MS after holding began. A private key block is
// replaced as soon as its BEGIN line is seen and swallowed until its END
// line (at most MAX_SWALLOWED). Bytes in which nothing matches go out
// exactly as they came, valid UTF-8 or not.
import { isUtf8 } from 'node:buffer';
import { INLINE_HOLD_DEFAULT_MS, maskPatterns, PATTERN_MASK, type MaskPattern } from '../../mask/patterns.js';
import { looksLikeText as textSample } from '../../record/looks-like-text.js';

/** Text with the odd control byte (terminal escapes) is masked; output with NULs or mostly control bytes passes untouched. */
const looksLikeText = (b: Buffer): boolean => textSample(b, true);

/** The longest any output is held back (a prompt, an echoed keystroke that could start a credential); a credential must arrive whole within this long of its first piece. */
export const INLINE_IDLE_MS = INLINE_HOLD_DEFAULT_MS;

/** What an allowed exec/attach masks in its output to the client, and how long it may hold a tail (`masking.inline.maxHold`). */
export interface InlineMasking {
  patterns: MaskPattern[];
  maxHoldMs: number;
}
/** A tail longer than this is sent anyway (a credential is never this long). */
const MAX_TAIL = 8192;
/** A BEGIN line with no END after this much is given up on (output resumes). */
const MAX_SWALLOWED = 64 * 1024;
/** How much swallowed text is kept to find an END line split across chunks. */
const END_WINDOW = 96;

const BEGIN_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const END_KEY = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;

/** End-anchored: where an unfinished built-in credential may start. Whitespace is ASCII only (text may be latin1-decoded bytes). */
const UNFINISHED: Record<string, RegExp> = {
  'aws-access-key-id': /\b(?:A(?:K(?:IA?)?|S(?:IA?)?|B(?:IA?)?|C(?:CA?)?)?|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{0,16})$/,
  jwt: /\be(?:y(?:J[A-Za-z0-9_-]*(?:\.(?:e(?:y(?:J[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?)?)?)?)?)?)?$/,
  'bearer-token': /\b(?:B(?:e(?:a(?:r(?:e(?:r)?)?)?)?)?|Bearer[ \t\r\n\f\v]+[A-Za-z0-9\-._~+/]*=*)$/i,
  'private-key': /-(?:-(?:-(?:-(?:-(?:B(?:E(?:G(?:I(?:N(?: [A-Z0-9 ]*-{0,5})?)?)?)?)?)?)?)?)?)?$/,
};
/** Custom patterns: any trailing run of non-whitespace might still become one. */
const TRAILING_WORD = /[^ \t\r\n\f\v]+$/;

/**
 * One output channel's masker. `push` takes the cluster's bytes and calls
 * `emit` with what may go to the client now; a held tail goes out with the
 * next push, after INLINE_IDLE_MS of quiet, or on `flush()` (the stream ended).
 */
export class InlineMasker {
  private held: Buffer = Buffer.alloc(0);
  private swallowing = false;
  private swallowed = 0;
  private endWindow = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly keyBlocks: boolean;
  private readonly tails: RegExp[];

  constructor(
    private readonly patterns: MaskPattern[],
    private readonly emit: (chunk: Buffer) => void,
    private readonly idleMs = INLINE_IDLE_MS,
  ) {
    this.keyBlocks = patterns.some((p) => p.name === 'private-key');
    this.tails = patterns.map((p) => UNFINISHED[p.name] ?? TRAILING_WORD);
  }

  push(chunk: Buffer): void {
    if (!looksLikeText(chunk)) {
      // Binary output is passed through untouched; a held text tail goes first, in order.
      this.flush();
      if (!this.swallowing) this.emit(chunk);
      return;
    }
    const bytes = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    this.process(bytes, false);
    // The timer runs from when holding began and is not restarted by more output, so no byte
    // waits longer than idleMs, even while keystrokes keep echoing faster than that.
    if (this.held.length === 0) this.clearTimer();
    else this.timer ??= setTimeout(() => this.flush(), this.idleMs);
  }

  /** Sends whatever is held (masked as far as it can be seen). */
  flush(): void {
    this.clearTimer();
    this.flushHeld();
  }

  /** Stops the idle timer without sending anything (the session ended another way). */
  close(): void {
    this.clearTimer();
    this.held = Buffer.alloc(0);
  }

  private flushHeld(): void {
    if (this.held.length === 0) return;
    const bytes = this.held;
    this.held = Buffer.alloc(0);
    this.process(bytes, true);
  }

  private process(bytes: Buffer, final: boolean): void {
    // Valid UTF-8 is matched as text; anything else byte for byte (latin1), so unmatched bytes round-trip exactly.
    const encoding: BufferEncoding = isUtf8(bytes) ? 'utf8' : 'latin1';
    let text = bytes.toString(encoding);
    const out: string[] = [];
    let changed = false;
    for (;;) {
      if (this.swallowing) {
        const seen = this.endWindow + text;
        const end = END_KEY.exec(seen);
        changed = true;
        if (end) {
          this.swallowing = false;
          this.endWindow = '';
          text = seen.slice(end.index + end[0].length);
          continue;
        }
        this.swallowed += text.length;
        this.endWindow = seen.slice(-END_WINDOW);
        // No END in sight after a key's worth of output: not a key block after all; output resumes.
        if (this.swallowed > MAX_SWALLOWED) this.swallowing = false;
        text = '';
        break;
      }
      const begin = this.keyBlocks ? BEGIN_KEY.exec(text) : null;
      if (begin) {
        out.push(maskPatterns(text.slice(0, begin.index), this.patterns), PATTERN_MASK);
        changed = true;
        this.swallowing = true;
        this.swallowed = 0;
        this.endWindow = '';
        text = text.slice(begin.index + begin[0].length);
        continue;
      }
      break;
    }
    const cut = final ? text.length : this.tailStart(text);
    const ready = text.slice(0, cut);
    const masked = maskPatterns(ready, this.patterns);
    if (masked !== ready) changed = true;
    out.push(masked);
    if (cut < text.length) this.held = Buffer.from(text.slice(cut), encoding);
    if (!changed) {
      // Nothing matched: the original bytes, not a re-encoding of them.
      const sendBytes = bytes.length - this.held.length;
      if (sendBytes > 0) this.emit(bytes.subarray(0, sendBytes));
      return;
    }
    const joined = out.join('');
    if (joined.length > 0) this.emit(Buffer.from(joined, encoding));
  }

  /** Where the tail that could still become a match starts (text.length when none). */
  private tailStart(text: string): number {
    const from = Math.max(0, text.length - MAX_TAIL);
    const window = from > 0 ? text.slice(from) : text;
    let start = window.length;
    for (const re of this.tails) {
      const m = re.exec(window);
      if (m && m.index < start) start = m.index;
    }
    return from + start;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
