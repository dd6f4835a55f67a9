// Is a chunk of stream output text (stored and matched as text) or binary?
// Terminal output is text with a few control bytes (escape sequences);
// mostly-control data is binary. A sample decides: scanning every byte of a
// busy stream cost a fifth of kubetape's CPU in bench/streams.ts, so up to
// 1 KiB spread over the chunk is looked at.

/** `nulMeansBinary`: one NUL in the sample is enough (inline masking must never rewrite binary output). */
export function looksLikeText(b: Buffer, nulMeansBinary = false): boolean {
  const step = b.length <= 1024 ? 1 : Math.floor(b.length / 1024);
  let control = 0;
  let seen = 0;
  for (let i = 0; i < b.length; i += step) {
    const byte = b[i];
    seen++;
    if (byte === 0 && nulMeansBinary) return false;
    if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x1b && byte !== 0x08 && byte !== 0x07) || byte === 0x7f) control++;
  }
  return control * 8 <= seen;
}
