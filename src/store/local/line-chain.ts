// Tamper evidence for the local store: every line of a session file carries
// the SHA-256 of the line before it ("prevSha256", the last field, so the
// file stays readable with cat), and the index's end line records the hash
// of the last line and the count. Changing, removing or reordering a line
// breaks the chain at the next line; cutting lines off the end breaks the
// count. (Anyone who can rewrite both the file and the index can rewrite the
// chain too: the AWS store, with its anchors in DynamoDB, is the store for
// evidence that must survive a hostile host.)
import { createHash } from 'node:crypto';

export const CHAIN_FIELD = 'prevSha256';
/** The field of a session file's first line that places it in the index (index-chain.ts). */
export const LINK_FIELD = 'indexAt';
/** prevSha256 of a session's first line. */
export const GENESIS_LINE = '0'.repeat(64);

export const lineHash = (line: string): string => createHash('sha256').update(line, 'utf8').digest('hex');

/** lineHash of a line already encoded as UTF-8 (without its newline). */
export const lineBytesHash = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** `json` is one event's JSON object; returns it with the chain field appended. */
export function chainLine(json: string, prev: string): string {
  return `${json.slice(0, -1)},"${CHAIN_FIELD}":"${prev}"}`;
}

/** The event without its chain fields, as readers see it. */
export function unchain<T>(ev: T): T {
  if (ev && typeof ev === 'object') {
    if (CHAIN_FIELD in ev) delete (ev as Record<string, unknown>)[CHAIN_FIELD];
    if (LINK_FIELD in ev) delete (ev as Record<string, unknown>)[LINK_FIELD];
  }
  return ev;
}
