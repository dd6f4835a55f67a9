// An incremental scanner for one JSON document whose top level is an object
// (a Kubernetes list, Table, object or Status). It does not build values: it
// finds where each top-level member's value starts and ends, and hands the
// raw bytes over. The members named in `streamedArrays` (a list's `items`, a
// Table's `rows`) are the exception: when their value is an array, each
// element is handed over on its own, so a caller holds one element at a time
// instead of the whole list.
//
// It works on bytes, not characters: every byte JSON gives a meaning to
// (quotes, backslash, brackets, comma, colon, whitespace) is ASCII, and the
// bytes of a multi-byte UTF-8 character are all >= 0x80, so a character
// split across two chunks can never be mistaken for structure.
//
// Validation is left to JSON.parse on each value the scanner hands over: the
// scanner only checks the structure it walks (the braces, keys, colons and
// commas of the top level and of a streamed array), and refuses anything
// else, so a malformed or truncated body is always reported.

export class JsonStreamError extends Error {}

export interface TopLevelHandler {
  /** A top-level member whose value was read whole (raw JSON text). */
  member(key: string, value: Buffer): void;
  /** A streamed array begins (`"key":[` was read). */
  arrayStart(key: string): void;
  /** One element of the streamed array (raw JSON text). */
  element(value: Buffer): void;
  arrayEnd(key: string): void;
  /** The document is not an object (an array, a string...): its whole text. */
  document(value: Buffer): void;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** Where the scanner is in the top-level structure. */
type Phase =
  | 'start' // before the first non-space byte
  | 'first-key' // after `{`: a key or `}`
  | 'key' // after `,`: a key is required
  | 'in-key' // inside a key string
  | 'colon'
  | 'value' // before a member's value
  | 'in-value' // capturing a member's value
  | 'after-member' // `,` or `}`
  | 'first-element' // after `[` of a streamed array: an element or `]`
  | 'element' // after `,` inside a streamed array
  | 'in-element'
  | 'after-element' // `,` or `]`
  | 'scalar-document' // the top level is not an object: capture it all
  | 'done';

/** Bytes of the value being captured, plus the little state needed to know where it ends. */
interface Capture {
  parts: Buffer[];
  size: number;
  /** Depth of open `{`/`[`; 0 for a string or primitive value. */
  depth: number;
  inString: boolean;
  /** The previous byte inside a string was an unescaped backslash. */
  escaped: boolean;
  /** 'container' ends at depth 0, 'string' at its closing quote, 'primitive' at the first delimiter. */
  shape: 'container' | 'string' | 'primitive' | 'unknown';
}

export interface JsonScannerOptions {
  /** Top-level keys whose array value is handed over element by element. */
  streamedArrays: ReadonlySet<string>;
  /** Largest single value (member, element or non-object document) held; beyond it the scan fails. */
  maxValueBytes: number;
}

export class JsonTopLevelScanner {
  private phase: Phase = 'start';
  private cap: Capture | undefined;
  private key = '';
  private arrayKey = '';
  private sawNonSpace = false;
  /** The largest value held at once, in bytes: what "bounded memory" is measured by. */
  maxHeldBytes = 0;

  constructor(
    private readonly handler: TopLevelHandler,
    private readonly o: JsonScannerOptions,
  ) {}

  /** Whether the body so far was only whitespace (an empty body is not an error for the caller to judge). */
  get empty(): boolean {
    return !this.sawNonSpace;
  }

  write(chunk: Buffer): void {
    // A value still open from the last chunk continues at this chunk's first byte.
    this.pendingStart = 0;
    this.quoteChunk = undefined;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.cap) {
        i = this.scanCapture(chunk, i);
        continue;
      }
      const b = chunk[i];
      if (isSpace(b)) {
        i++;
        continue;
      }
      this.sawNonSpace = true;
      switch (this.phase) {
        case 'start':
          if (b === OPEN_OBJ) {
            this.phase = 'first-key';
            i++;
          } else {
            this.phase = 'scalar-document';
            this.begin(i);
          }
          break;
        case 'first-key':
        case 'key':
          if (b === CLOSE_OBJ && this.phase === 'first-key') {
            this.phase = 'done';
            i++;
          } else if (b === QUOTE) {
            this.phase = 'in-key';
            this.begin(i); // the key is captured like a string value
          } else throw this.unexpected(b, 'a member name');
          break;
        case 'colon':
          if (b !== COLON) throw this.unexpected(b, '":"');
          this.phase = 'value';
          i++;
          break;
        case 'value':
          if (b === OPEN_ARR && this.o.streamedArrays.has(this.key)) {
            this.arrayKey = this.key;
            this.handler.arrayStart(this.key);
            this.phase = 'first-element';
            i++;
          } else {
            this.phase = 'in-value';
            this.begin(i);
          }
          break;
        case 'after-member':
          if (b === COMMA) this.phase = 'key';
          else if (b === CLOSE_OBJ) this.phase = 'done';
          else throw this.unexpected(b, '"," or "}"');
          i++;
          break;
        case 'first-element':
        case 'element':
          if (b === CLOSE_ARR && this.phase === 'first-element') {
            this.handler.arrayEnd(this.arrayKey);
            this.phase = 'after-member';
            i++;
          } else {
            this.phase = 'in-element';
            this.begin(i);
          }
          break;
        case 'after-element':
          if (b === COMMA) this.phase = 'element';
          else if (b === CLOSE_ARR) {
            this.handler.arrayEnd(this.arrayKey);
            this.phase = 'after-member';
          } else throw this.unexpected(b, '"," or "]"');
          i++;
          break;
        case 'done':
          throw new JsonStreamError('unexpected data after the end of the JSON document');
        default:
          throw new JsonStreamError(`scanner in an impossible state (${this.phase})`);
      }
    }
    // Whatever part of a value this chunk held is kept for the next one.
    if (this.cap && this.pendingStart < n) this.keep(chunk.subarray(this.pendingStart));
  }

  /** The body ended: anything open is a truncated document. */
  end(): void {
    if (this.phase === 'scalar-document') {
      const cap = this.cap;
      if (cap && (cap.depth > 0 || cap.inString)) throw new JsonStreamError('the JSON document is truncated');
      this.cap = undefined;
      this.phase = 'done';
      if (cap) this.handler.document(Buffer.concat(cap.parts, cap.size));
      return;
    }
    if (this.phase !== 'done' && this.sawNonSpace) throw new JsonStreamError(`the JSON document is truncated (${this.phase})`);
  }

  // --- value capture -------------------------------------------------------

  /** Index in the current chunk where the unsaved part of the capture starts. */
  private pendingStart = 0;
  /**
   * Positions of the next quote and backslash in the current chunk, cached so
   * a long string with many escapes is not searched again from each escape.
   */
  private nextQuote = -1;
  private nextBackslash = -1;
  private quoteChunk: Buffer | undefined;

  private begin(at: number): void {
    this.pendingStart = at;
    this.cap = { parts: [], size: 0, depth: 0, inString: false, escaped: false, shape: 'unknown' };
  }

  private keep(part: Buffer): void {
    const cap = this.cap!;
    // Copy: the chunk belongs to the stream, and a slice would pin all of it.
    cap.parts.push(Buffer.from(part));
    cap.size += part.length;
    if (cap.size > this.maxHeldBytes) this.maxHeldBytes = cap.size;
    if (cap.size > this.o.maxValueBytes) {
      throw new JsonStreamError(`a single value in the response is larger than ${this.o.maxValueBytes} bytes; kubetape does not buffer it to mask it`);
    }
  }

  /** Consume bytes of the value being captured from `start`; returns where scanning continues. */
  private scanCapture(chunk: Buffer, start: number): number {
    const cap = this.cap!;
    let i = start;
    const n = chunk.length;
    if (cap.shape === 'unknown') {
      const b = chunk[i];
      if (b === OPEN_OBJ || b === OPEN_ARR) cap.shape = 'container';
      else if (b === QUOTE) cap.shape = 'string';
      else if (b === CLOSE_OBJ || b === CLOSE_ARR || b === COMMA || b === COLON) throw this.unexpected(b, 'a value');
      else cap.shape = 'primitive';
    }
    while (i < n) {
      if (cap.inString) {
        i = this.scanString(chunk, i, cap);
        if (cap.inString) return n; // the string goes on in the next chunk
        if (cap.shape === 'string') return this.finish(chunk, i);
        continue;
      }
      const b = chunk[i];
      if (cap.shape === 'primitive') {
        // true/false/null/numbers end at the first byte that cannot be part of them.
        if (isSpace(b) || b === COMMA || b === CLOSE_OBJ || b === CLOSE_ARR) return this.finish(chunk, i);
        if (b === QUOTE || b === OPEN_OBJ || b === OPEN_ARR || b === COLON) throw this.unexpected(b, 'a delimiter after a value');
        i++;
        continue;
      }
      i++;
      if (b === QUOTE) cap.inString = true;
      else if (b === OPEN_OBJ || b === OPEN_ARR) cap.depth++;
      else if (b === CLOSE_OBJ || b === CLOSE_ARR) {
        cap.depth--;
        if (cap.depth === 0) return this.finish(chunk, i);
      }
    }
    return n;
  }

  /** Inside a string: skip to its closing quote, honouring backslash escapes. */
  private scanString(chunk: Buffer, start: number, cap: Capture): number {
    let i = start;
    const n = chunk.length;
    if (this.quoteChunk !== chunk) {
      this.quoteChunk = chunk;
      this.nextQuote = -1;
      this.nextBackslash = -1;
    }
    while (i < n) {
      if (cap.escaped) {
        // The escaped byte (`"`, `\`, `u`...) is never structure; a \uXXXX's hex digits are plain bytes.
        cap.escaped = false;
        i++;
        continue;
      }
      if (this.nextBackslash !== n && this.nextBackslash < i) {
        const at = chunk.indexOf(BACKSLASH, i);
        this.nextBackslash = at === -1 ? n : at;
      }
      if (this.nextQuote !== n && this.nextQuote < i) {
        const at = chunk.indexOf(QUOTE, i);
        this.nextQuote = at === -1 ? n : at;
      }
      const q = this.nextQuote;
      if (this.nextBackslash < q) {
        i = this.nextBackslash + 1;
        cap.escaped = true;
        continue;
      }
      if (q === n) return n;
      cap.inString = false;
      return q + 1;
    }
    return n;
  }

  /** The captured value ended just before `end` in this chunk: hand it over. */
  private finish(chunk: Buffer, end: number): number {
    const cap = this.cap!;
    if (end > this.pendingStart) this.keep(chunk.subarray(this.pendingStart, end));
    this.cap = undefined;
    this.pendingStart = end;
    const value = cap.parts.length === 1 ? cap.parts[0] : Buffer.concat(cap.parts, cap.size);
    switch (this.phase) {
      case 'in-key':
        this.key = parseKey(value);
        this.phase = 'colon';
        break;
      case 'in-value':
        this.phase = 'after-member';
        this.handler.member(this.key, value);
        break;
      case 'in-element':
        this.phase = 'after-element';
        this.handler.element(value);
        break;
      case 'scalar-document':
        // A top-level non-object: everything after it must be whitespace.
        this.phase = 'done';
        this.handler.document(value);
        break;
      default:
        throw new JsonStreamError(`scanner in an impossible state (${this.phase})`);
    }
    return end;
  }

  private unexpected(b: number, wanted: string): JsonStreamError {
    const shown = b >= 0x20 && b < 0x7f ? JSON.stringify(String.fromCharCode(b)) : `byte 0x${b.toString(16)}`;
    return new JsonStreamError(`malformed JSON: ${shown} where ${wanted} was expected (${this.phase})`);
  }
}

function parseKey(raw: Buffer): string {
  try {
    return JSON.parse(raw.toString('utf8')) as string;
  } catch {
    throw new JsonStreamError('malformed JSON: a member name is not a valid string');
  }
}
