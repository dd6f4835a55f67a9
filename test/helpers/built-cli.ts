// The built CLI (bin/kubetape.js, after `npm run build`) run as its own
// process, as a user runs it: exit code and output, never a thrown error.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

export const BIN = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/kubetape.js');
const run = promisify(execFile);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[]): Promise<CliRun> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
