// Runs several kubetape CLI invocations from source in one process (a child
// of the test, started by cliFromSource in streams.ts) and prints, as one
// JSON line, each one's exit code and output. Output is base64 so binary
// terminal bytes survive.
import { main } from '../../src/cli/main.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const commands = JSON.parse(process.argv[2] ?? '[]') as string[][];
const realOut = process.stdout.write.bind(process.stdout);
const results: Result[] = [];
for (const argv of commands) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const capture = (into: Buffer[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      into.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    err.push(Buffer.from(`uncaught: ${(e as Error).stack ?? String(e)}\n`));
    code = 99;
  }
  results.push({ code, stdout: Buffer.concat(out).toString('base64'), stderr: Buffer.concat(err).toString('base64') });
}
process.stdout.write = realOut;
realOut(JSON.stringify(results) + '\n');
