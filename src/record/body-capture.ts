// Keeps the first `limit` bytes of a body and counts the rest, so a 20 MB
// list costs the recorder at most `limit` bytes of memory.
import { isUtf8 } from 'node:buffer';
import type { RecordedBody } from '../model/recording.js';

export class BodyCapture {
  private chunks: Buffer[] = [];
  private kept = 0;
  size = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  toRecorded(meta: { contentType?: string | undefined; contentEncoding?: string | undefined; redact?: boolean }): RecordedBody {
    if (meta.redact) return withMeta({ encoding: 'utf8', data: '', size: this.size, truncated: false, redacted: 'secret' }, meta);
    const buf = Buffer.concat(this.chunks, this.kept);
    return withMeta(encodeBytes(buf, this.truncated, this.size, !meta.contentEncoding || meta.contentEncoding === 'identity'), meta);
  }
}

function withMeta(b: RecordedBody, meta: { contentType?: string | undefined; contentEncoding?: string | undefined }): RecordedBody {
  if (meta.contentType) b.contentType = meta.contentType;
  if (meta.contentEncoding && meta.contentEncoding !== 'identity') b.contentEncoding = meta.contentEncoding;
  return b;
}

/** Text stays text (readable in the file and in `show`); anything else is base64. */
export function encodeBytes(buf: Buffer, truncated: boolean, size: number, mayBeText = true): RecordedBody {
  if (mayBeText) {
    // A cut may split a multi-byte character: drop up to 3 trailing bytes to find valid UTF-8.
    for (let drop = 0; drop <= (truncated ? 3 : 0) && drop <= buf.length; drop++) {
      const b = drop ? buf.subarray(0, buf.length - drop) : buf;
      if (isUtf8(b)) return { encoding: 'utf8', data: b.toString('utf8'), size, truncated };
    }
  }
  return { encoding: 'base64', data: buf.toString('base64'), size, truncated };
}
