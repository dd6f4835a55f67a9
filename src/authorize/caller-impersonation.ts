// A request carrying Impersonate-* headers, from parsed headers to the
// credential it is forwarded with, or the Status it is refused with: 400 for
// malformed headers, 403 when the cluster has no caller impersonation (EKS,
// single upstream) or denies one of the permissions, 503 when the cluster
// could not be asked. Shared by the REST and exec/port-forward paths.
import { credentialFailure } from '../credentials/credential-error.js';
import type { CredentialSource, UpstreamAuth } from '../model/upstream.js';
import type { Identity } from '../model/identity.js';
import type { RecordedImpersonation } from '../model/recording.js';
import { impersonationDeniedMessage, impersonationRefusal, type ParsedImpersonation } from './impersonation.js';
import { ReviewError } from './subject-access-review.js';

export type ImpersonationOutcome = { ok: true; auth: UpstreamAuth } | { ok: false; code: number; message: string; reason: string };

export async function credentialsForImpersonation(source: CredentialSource, caller: Identity, parsed: ParsedImpersonation): Promise<ImpersonationOutcome> {
  if (!source.callerImpersonation) return { ok: false, code: 403, message: impersonationRefusal(parsed.names), reason: 'Forbidden' };
  if (!parsed.ok) return { ok: false, code: 400, message: parsed.message, reason: 'BadRequest' };
  const imp = source.callerImpersonation;
  try {
    const denied = await imp.denied(caller, parsed.request);
    if (denied) return { ok: false, code: 403, message: impersonationDeniedMessage(caller.user, denied), reason: 'Forbidden' };
  } catch (err) {
    const why = err instanceof ReviewError ? err.message : `unexpected failure: ${(err as Error).message}`;
    return {
      ok: false,
      code: 503,
      message: `kubetape could not check the impersonation with the cluster, so nothing was forwarded: ${why}`,
      reason: 'ServiceUnavailable',
    };
  }
  try {
    return { ok: true, auth: await imp.credentialAs(parsed.request) };
  } catch (err) {
    const f = credentialFailure(err);
    return { ok: false, code: f.code, message: f.message, reason: f.reason ?? 'BadGateway' };
  }
}

/** For the request event: who asked, and whom they asked to act as (set whether or not it was allowed). */
export function recordedImpersonation(source: CredentialSource, caller: Identity, parsed: ParsedImpersonation | undefined): RecordedImpersonation | undefined {
  if (!parsed || !parsed.ok) return undefined;
  const principal = source.principal?.(caller);
  const r = parsed.request;
  const as: RecordedImpersonation['as'] = { user: r.user, groups: r.groups };
  if (r.uid) as.uid = r.uid;
  if (Object.keys(r.extra).length > 0) as.extra = r.extra;
  return { caller: { user: principal?.user ?? caller.user, groups: principal?.groups ?? caller.groups }, as };
}
