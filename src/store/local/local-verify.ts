// `kubetape verify` for the local store: walk a session file's hash chain
// (line-chain.ts) and compare its end with what the index recorded at close.
import { readFile } from 'node:fs/promises';
import type { VerifyReport } from '../verify.js';
import { CHAIN_FIELD, GENESIS_LINE, lineHash } from './line-chain.js';

export async function verifyLocalSession(id: string, path: string | undefined, end: { lines?: number | undefined; headSha256?: string | undefined } | undefined): Promise<VerifyReport> {
  const report: VerifyReport = { id, ok: false, state: end ? 'ended' : 'live or interrupted', chunks: 0, events: 0, notes: [] };
  const fail = (problem: string): VerifyReport => ({ ...report, ok: false, problem });
  if (!path) return fail('its session file is missing');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return fail(`its session file cannot be read: ${(e as Error).message}`);
  }
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  if (tail !== '') report.notes.push('the last line is torn (kubetape stopped while writing it); it is not part of the recording');
  let prev = GENESIS_LINE;
  for (const [i, line] of lines.entries()) {
    const where = `${path} line ${i + 1}`;
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return fail(`${where} is not JSON (changed)`);
    }
    if (ev[CHAIN_FIELD] === undefined) return fail(`${where} carries no ${CHAIN_FIELD} (recorded before hash chains, or changed)`);
    if (ev[CHAIN_FIELD] !== prev) return fail(i === 0 ? `${where} is not the session's first line (lines removed or reordered)` : `${where} does not follow line ${i}: line ${i} was changed, removed or moved`);
    if (ev['session'] !== id) return fail(`${where} belongs to another session`);
    if (i === 0 && ev['type'] !== 'session.start') return fail(`${where} is not a session start`);
    prev = lineHash(line);
  }
  report.chunks = lines.length;
  report.events = lines.length;
  if (end?.lines !== undefined) {
    if (lines.length < end.lines) return fail(`${path} has ${lines.length} lines, the index recorded ${end.lines} at close: line ${lines.length + 1} on are missing`);
    if (lines.length > end.lines) return fail(`${path} line ${end.lines + 1} follows the session's end (added)`);
    if (end.headSha256 !== prev) return fail(`${path} line ${lines.length} was changed (its hash is not the one recorded at close)`);
  } else if (end) {
    report.notes.push('the index end line has no head hash (recorded before hash chains)');
  } else {
    report.notes.push('no end recorded (live or interrupted): lines after the last one cannot be checked for removal');
  }
  report.ok = true;
  return report;
}
