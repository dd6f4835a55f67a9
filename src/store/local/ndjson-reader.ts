// Reads newline-delimited JSON written by AppendLog, tolerating what a crash
// or a concurrent writer leaves behind: a last line without its newline is
// not yet (or never will be) complete, so it is skipped, as is any line that
// does not parse.
import { createReadStream } from 'node:fs';

/** `keep`: lines to parse (a cheap text test first, so a reader after one id parses only its lines). */
export async function* readNdjson<T>(path: string, keep?: (line: string) => boolean): AsyncGenerator<T> {
  let rest = '';
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      rest = rest ? rest + chunk : chunk;
      // Lines are cut from a moving position, and the rest is cut once per chunk, not once per line.
      let from = 0;
      let nl: number;
      while ((nl = rest.indexOf('\n', from)) >= 0) {
        const line = rest.slice(from, nl);
        from = nl + 1;
        if (line.length === 0 || (keep && !keep(line))) continue;
        try {
          yield JSON.parse(line) as T;
        } catch {
          // a torn or foreign line: skip it, keep the rest readable
        }
      }
      rest = rest.slice(from);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    stream.destroy();
  }
}
