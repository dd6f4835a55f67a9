// The policy point for exec, attach and port-forward: called with what the
// caller asked for (parsed from the query, already recorded) before anything
// is dialed. Allow-all unless guardrails give admission their own decision.
import type { ExecRequest, PolicyRecord, PortForwardRequest } from '../../model/recording.js';
import type { Identity } from '../../model/identity.js';
import type { InlineMasking } from './inline-mask.js';
import type { StreamKind } from './stream-request.js';
import type { TypedLineRules } from './typed-line.js';

export interface StreamRequestInfo {
  identity: Identity;
  kind: StreamKind;
  namespace: string;
  pod: string;
  /** Path and query as the client sent them. */
  uri: string;
  exec?: ExecRequest;
  portForward?: PortForwardRequest;
  /** Aborted when the client goes away while the decision waits (a `hold:` for approval). */
  signal?: AbortSignal;
}

/**
 * `typed`: line rules that watch what is typed into an allowed interactive
 * exec/attach. `inline`: credential patterns masked in the output sent to
 * the client. `policy`: the decision as the request event records it.
 * `gone`: the client left while the request was held for approval.
 */
export type StreamDecision =
  | { allow: true; typed?: TypedLineRules; inline?: InlineMasking; policy?: PolicyRecord }
  | { allow: false; message: string; policy?: PolicyRecord; gone?: boolean };

export type StreamAuthorizer = (info: StreamRequestInfo) => Promise<StreamDecision>;

/** The default: everything authenticated callers ask for goes to the cluster, whose RBAC decides. */
export const allowAllStreams: StreamAuthorizer = async () => ({ allow: true });

/** Asks `authorizer`; one that throws denies (fail closed). */
export async function authorizeStream(authorizer: StreamAuthorizer, info: StreamRequestInfo): Promise<StreamDecision> {
  try {
    return await authorizer(info);
  } catch (err) {
    return { allow: false, message: `kubetape could not decide whether to allow this ${info.kind}: ${(err as Error).message}` };
  }
}
