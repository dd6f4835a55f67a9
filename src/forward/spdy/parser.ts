// Incremental SPDY frame parser. Input may arrive in any slicing (the
// WebSocket-tunnelled port-forward splits frames into tiny pieces), so bytes
// are buffered until a whole frame is present; nothing is concatenated before
// that, which keeps a large frame fed byte by byte linear.
import {
  FRAME_HEADER_SIZE,
  MAX_FRAME_PAYLOAD,
  SPDY_VERSION,
  SpdyProtocolError,
  decodeFrame,
  decodeFrameHead,
  type FrameHead,
  type SpdyFrame,
} from './frames.js';

export interface ParserLimits {
  /** Largest DATA payload accepted (default: the 24-bit field maximum). */
  maxDataPayload?: number;
  /** Largest control-frame payload accepted (default 1 MiB): header blocks of Kubernetes streams are tiny. */
  maxControlPayload?: number;
}

export interface ParseResult {
  frames: SpdyFrame[];
  /** Set when the input is malformed; frames before the fault are still returned. */
  error?: SpdyProtocolError;
}

export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private head: FrameHead | undefined;
  private fault: SpdyProtocolError | undefined;
  private readonly maxData: number;
  private readonly maxControl: number;

  constructor(limits: ParserLimits = {}) {
    this.maxData = Math.min(limits.maxDataPayload ?? MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD);
    this.maxControl = Math.min(limits.maxControlPayload ?? 1024 * 1024, MAX_FRAME_PAYLOAD);
  }

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feeds bytes. After an error the parser stays failed and returns that error again. */
  push(chunk: Buffer): ParseResult {
    const frames: SpdyFrame[] = [];
    if (this.fault) return { frames, error: this.fault };
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    try {
      for (;;) {
        if (!this.head) {
          if (this.buffered < FRAME_HEADER_SIZE) break;
          this.head = this.checkHead(decodeFrameHead(this.take(FRAME_HEADER_SIZE)));
        }
        if (this.buffered < this.head.length) break;
        const head = this.head;
        this.head = undefined;
        const frame = decodeFrame(head, this.take(head.length));
        if (frame) frames.push(frame);
      }
    } catch (err) {
      this.fault = err instanceof SpdyProtocolError ? err : new SpdyProtocolError(String((err as Error)?.message ?? err));
      this.chunks = [];
      this.buffered = 0;
      return { frames, error: this.fault };
    }
    return { frames };
  }

  // Rejects what can be judged from the 8-byte prefix alone, so garbage or a
  // hostile length fails at once instead of after megabytes are buffered.
  private checkHead(head: FrameHead): FrameHead {
    if (head.control) {
      if (head.version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${head.version}`);
      if (head.length > this.maxControl) throw new SpdyProtocolError(`control frame of ${head.length} bytes exceeds ${this.maxControl}`);
    } else if (head.length > this.maxData) {
      throw new SpdyProtocolError(`DATA frame of ${head.length} bytes exceeds ${this.maxData}`);
    }
    return head;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      this.buffered -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const use = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, use);
      filled += use;
      if (use === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(use);
    }
    this.buffered -= n;
    return out;
  }
}
