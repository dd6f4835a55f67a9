// WebSocket frames (RFC 6455) after an HTTP upgrade, one direction:
// header, length, mask key, payload (unmasked for the record). Bounded: a
// frame's payload beyond `limit` is counted, not kept; a length that needs
// more than 53 bits or reserved opcodes stop decoding.
import { DecodeError } from './types.js';

export interface WsFrame {
  fin: boolean;
  opcode: number;
  /** RSV1: permessage-deflate compressed. */
  compressed: boolean;
  payload: Buffer;
  size: number;
}

export class WebSocketReader {
  private head: Buffer = Buffer.alloc(0);
  private frame:
    { fin: boolean; opcode: number; compressed: boolean; mask?: Buffer; size: number; remaining: number; parts: Buffer[]; kept: number } | undefined;

  constructor(
    private readonly limit: number,
    private readonly onFrame: (f: WsFrame) => void,
  ) {}

  get partway(): boolean {
    return this.frame !== undefined || this.head.length > 0;
  }

  push(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      if (!this.frame) {
        const need = Math.min(14, buf.length - off);
        this.head = Buffer.concat([this.head, buf.subarray(off, off + need)]);
        const used = this.readHeader();
        if (used < 0) {
          off += need;
          continue;
        }
        // Bytes of this buffer beyond the header go back to the payload.
        off += need - (this.head.length - used);
        this.head = Buffer.alloc(0);
        if (this.frame!.remaining === 0) this.emit();
        continue;
      }
      const f = this.frame;
      const n = Math.min(f.remaining, buf.length - off);
      const room = this.limit - f.kept;
      if (room > 0) {
        const part = Buffer.from(buf.subarray(off, off + Math.min(n, room)));
        if (f.mask) {
          const at = f.size - f.remaining;
          for (let i = 0; i < part.length; i++) part[i] ^= f.mask[(at + i) & 3];
        }
        f.parts.push(part);
        f.kept += part.length;
      }
      off += n;
      f.remaining -= n;
      if (f.remaining === 0) this.emit();
    }
  }

  /** Bytes of the header used, or -1 when more are needed. */
  private readHeader(): number {
    const h = this.head;
    if (h.length < 2) return -1;
    const masked = (h[1] & 0x80) !== 0;
    let len = h[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (h.length < 4) return -1;
      len = h.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (h.length < 10) return -1;
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError('a WebSocket frame length over 2^53');
      len = Number(big);
      at = 10;
    }
    if (masked) {
      if (h.length < at + 4) return -1;
    }
    const opcode = h[0] & 0x0f;
    if ((opcode > 2 && opcode < 8) || opcode > 10) throw new DecodeError(`a reserved WebSocket opcode ${opcode}`);
    this.frame = { fin: (h[0] & 0x80) !== 0, opcode, compressed: (h[0] & 0x40) !== 0, size: len, remaining: len, parts: [], kept: 0 };
    if (masked) {
      this.frame.mask = Buffer.from(h.subarray(at, at + 4));
      at += 4;
    }
    return at;
  }

  private emit(): void {
    const f = this.frame!;
    this.frame = undefined;
    this.onFrame({ fin: f.fin, opcode: f.opcode, compressed: f.compressed, payload: Buffer.concat(f.parts, f.kept), size: f.size });
  }
}
