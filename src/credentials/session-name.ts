// The RoleSessionName for a person: readable (their username, so CloudTrail
// and EKS's {{SessionName}} show who it was) and collision-resistant. STS
// allows only [\w+=,.@-] and 2 to 64 characters, so other characters become
// '-' and long names are cut; since two usernames could then read the same,
// a hash of the full username is always appended.
import { createHash } from 'node:crypto';

const MAX = 64;
const HASH_CHARS = 10;

export function roleSessionName(username: string): string {
  const hash = createHash('sha256').update(username, 'utf8').digest('hex').slice(0, HASH_CHARS);
  const readable = username.replace(/[^\w+=,.@-]/g, '-').slice(0, MAX - HASH_CHARS - 1);
  return readable ? `${readable}-${hash}` : hash;
}

export function isValidRoleSessionName(s: string): boolean {
  return /^[\w+=,.@-]{2,64}$/.test(s);
}
