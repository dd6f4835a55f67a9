// What a caller asks to act as with Impersonate-* headers: parsing them, and
// the refusal and denial messages. The checks the API server's impersonation
// filter would make for it (one `impersonate` permission per user, group,
// uid and extra value) are in model/impersonation.ts, beside the types, since
// credentials/ makes them too.
//
// Stripping the headers and going on would run `kubectl --as readonly
// delete ...` with the caller's full rights, the opposite of what they asked
// for; passing them on would let anyone borrow kubetape's identity. So a
// cluster either checks the caller's right to impersonate (impersonation
// clusters, see caller-impersonation.ts) or refuses the request; either way
// the attempt is recorded.
import type { ImpersonationCheck, ImpersonationRequest } from '../model/impersonation.js';
import { fromHeaderText, hasControlChars } from '../model/header-text.js';

export type ParsedImpersonation = { names: string[] } & ({ ok: true; request: ImpersonationRequest } | { ok: false; message: string });

const USER = 'impersonate-user';
const GROUP = 'impersonate-group';
const UID = 'impersonate-uid';
const EXTRA = 'impersonate-extra-';

/** `headers` as node's headersDistinct (each value a list, names lower-cased). Undefined when nothing is impersonated. */
export function parseImpersonation(headers: Record<string, string[] | undefined>): ParsedImpersonation | undefined {
  const names = Object.keys(headers).filter((n) => n.startsWith('impersonate-'));
  if (names.length === 0) return undefined;
  const fail = (message: string): ParsedImpersonation => ({ names, ok: false, message: `kubetape: ${message}` });
  const unknown = names.find((n) => n !== USER && n !== GROUP && n !== UID && !n.startsWith(EXTRA));
  if (unknown) return fail(`unknown impersonation header ${displayName(unknown)}`);
  // Values as the API server reads them: their bytes as UTF-8 (header-text.ts); what is checked is what is sent.
  let unreadable: string | undefined;
  const read = (n: string): string[] =>
    (headers[n] ?? []).map((v) => {
      const text = fromHeaderText(v);
      if (text === undefined || hasControlChars(text)) unreadable ??= n;
      return text ?? '';
    });
  const users = read(USER);
  const uids = read(UID);
  const groups = read(GROUP);
  if (users.length > 1) return fail('more than one Impersonate-User header');
  if (uids.length > 1) return fail('more than one Impersonate-Uid header');
  const extra: Record<string, string[]> = {};
  for (const n of names) {
    if (!n.startsWith(EXTRA)) continue;
    let key: string;
    try {
      key = decodeURIComponent(n.slice(EXTRA.length)).toLowerCase();
    } catch {
      return fail(`cannot decode the extra key in ${displayName(n)}`);
    }
    if (!key) return fail('an Impersonate-Extra- header without a key');
    (extra[key] ??= []).push(...read(n));
  }
  if (unreadable) return fail(`${displayName(unreadable)} is not UTF-8 text without control characters`);
  const request: ImpersonationRequest = { user: users[0] ?? '', groups, extra };
  if (uids[0]) request.uid = uids[0];
  if (!request.user) {
    // The API server answers this with a 500; it is the caller's mistake, so 400 here.
    const what = [
      ...request.groups.map((g) => `group ${g}`),
      ...uids.map((u) => `uid ${u}`),
      ...Object.entries(extra).flatMap(([k, vs]) => vs.map((v) => `extra ${k}=${v}`)),
    ];
    return fail(`requested [${what.join(', ')}] without impersonating a user`);
  }
  return { names, ok: true, request };
}

/** The API server's words for a denied impersonation: `users "admin" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`. */
export function impersonationDeniedMessage(caller: string, c: ImpersonationCheck): string {
  const resource = c.subresource ? `${c.resource}/${c.subresource}` : c.resource;
  const scope = c.namespace ? `in the namespace "${c.namespace}"` : 'at the cluster scope';
  return `${c.resource} "${c.name}" is forbidden: User "${caller}" cannot impersonate resource "${resource}" in API group "${c.group}" ${scope}`;
}

/**
 * For clusters without CallerImpersonation: EKS clusters (and the single
 * upstream of a one-cluster kubetape). On EKS the cluster sees the caller's
 * own IAM role session; a header cannot swap that role for another person's,
 * and kubetape has no identity there of its own to lend. A single upstream
 * is reached with kubetape's shared credential, and letting callers steer
 * its impersonation would lend them that credential's rights.
 */
export function impersonationRefusal(names: string[]): string {
  const shown = names.map(displayName).join(', ');
  return `kubetape does not forward impersonation headers [${shown}]; requests run as the authenticated caller on this cluster, so drop --as and --as-group`;
}

function displayName(n: string): string {
  return n.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
}
