// Secret masking for a JSON response body as it streams: a list's envelope
// goes out as it comes, its `items` (a Table's `rows`) are read, masked and
// written one at a time, so memory is bounded by the largest single object,
// not by the list. The output parses to exactly what maskJsonBody gives for
// the whole body (the envelope and items are re-serialised by JSON.stringify,
// so only whitespace can differ).
import { JsonStreamError, JsonTopLevelScanner, type TopLevelHandler } from './json-items-stream.js';
import { maskEnvelope, maskListItem, maskSecretsIn, maskTableRow } from './mask-secrets.js';

/**
 * The most a single object (or a non-list body) may take to be masked.
 * etcd caps an object near 1.5 MB; past this the response is aborted rather
 * than buffered without end.
 */
export const MAX_MASKED_OBJECT_BYTES = 8 * 1024 * 1024;

const STREAMED = new Set(['items', 'rows']);
const OPEN = Buffer.from('{');
const CLOSE = Buffer.from('}');
const COMMA = Buffer.from(',');
const CLOSE_ARRAY = Buffer.from(']');

export { JsonStreamError };

export class StreamingSecretMasker {
  private readonly scanner: JsonTopLevelScanner;
  private out: Buffer[] = [];
  /** Top-level members read whole, in order: the list's kind, apiVersion, metadata. */
  private readonly envelope: Record<string, unknown> = {};
  private envelopeBytes = 0;
  /** Keys of `envelope` not written yet. */
  private pending: string[] = [];
  /** `{` was written: the output is streaming. */
  private opened = false;
  private membersWritten = 0;
  private elementsWritten = 0;
  private arrayKey = '';
  /** The body was not an object and has been written. */
  private documentWritten = false;

  constructor(private readonly maxObjectBytes = MAX_MASKED_OBJECT_BYTES) {
    const handler: TopLevelHandler = {
      member: (key, raw) => {
        this.envelopeBytes += raw.length;
        if (this.envelopeBytes > this.maxObjectBytes) {
          throw new JsonStreamError(`the response's top-level fields are larger than ${this.maxObjectBytes} bytes; kubetape does not buffer them to mask them`);
        }
        if (!(key in this.envelope)) this.pending.push(key);
        this.envelope[key] = parse(raw);
      },
      arrayStart: (key) => {
        this.arrayKey = key;
        this.elementsWritten = 0;
        this.flushEnvelope();
        this.emitMember(key, '[');
      },
      element: (raw) => {
        const value = parse(raw);
        const masked = this.arrayKey === 'rows' ? maskTableRow(value) : maskListItem(value, this.envelope['kind']);
        if (this.elementsWritten++ > 0) this.out.push(COMMA);
        this.out.push(Buffer.from(JSON.stringify(masked)));
      },
      arrayEnd: () => {
        this.out.push(CLOSE_ARRAY);
      },
      document: (raw) => {
        // Not an object: maskSecretsIn leaves it as it is; re-serialise like maskJsonBody.
        this.documentWritten = true;
        this.out.push(Buffer.from(JSON.stringify(maskSecretsIn(parse(raw)))));
      },
    };
    this.scanner = new JsonTopLevelScanner(handler, { streamedArrays: STREAMED, maxValueBytes: maxObjectBytes });
  }

  /** The most bytes of one value held at once so far (envelope fields excluded): the memory bound at work. */
  get maxHeldBytes(): number {
    return this.scanner.maxHeldBytes;
  }

  /** Feed body bytes; returns the masked output they complete (may be empty). Throws JsonStreamError on bad input. */
  write(chunk: Buffer): Buffer {
    this.scanner.write(chunk);
    return this.take();
  }

  /** The body ended; returns the rest of the output. Throws JsonStreamError when the document is incomplete. */
  end(): Buffer {
    this.scanner.end();
    if (this.scanner.empty) return Buffer.alloc(0); // an empty body (HEAD, 204) stays empty
    if (this.opened) {
      this.flushEnvelope();
      this.out.push(CLOSE);
    } else if (!this.documentWritten) {
      // No streamed array: an object (a get, a Status) held whole, masked as maskJsonBody does.
      this.out.push(Buffer.from(JSON.stringify(maskSecretsIn(this.envelope))));
    }
    return this.take();
  }

  /** Write the envelope members read since the last flush, masked. */
  private flushEnvelope(): void {
    if (!this.opened) {
      this.out.push(OPEN);
      this.opened = true;
    }
    if (this.pending.length === 0) return;
    maskEnvelope(this.envelope);
    for (const key of this.pending) this.emitMember(key, JSON.stringify(this.envelope[key]));
    this.pending = [];
  }

  private emitMember(key: string, valueText: string): void {
    this.out.push(Buffer.from(`${this.membersWritten++ > 0 ? ',' : ''}${JSON.stringify(key)}:${valueText}`));
  }

  private take(): Buffer {
    if (this.out.length === 0) return EMPTY;
    const b = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    return b;
  }
}

const EMPTY = Buffer.alloc(0);

function parse(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new JsonStreamError(`malformed JSON from the cluster: ${(e as Error).message}`);
  }
}
