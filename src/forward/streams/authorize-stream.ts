// The policy point for exec, attach and port-forward: called with what the
// caller asked for (parsed from the query, already recorded) before anything
// is dialed. Allow-all until guardrails plug in their own decision.
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

let current: StreamAuthorizer = allowAllStreams;

/** Asks the installed authorizer; a throwing authorizer denies (fail closed). */
export async function authorizeStream(info: StreamRequestInfo): Promise<StreamDecision> {
  try {
    return await current(info);
  } catch (err) {
    return { allow: false, message: `kubetape could not decide whether to allow this ${info.kind}: ${(err as Error).message}` };
  }
}

/** Installs the authorizer every later stream request is asked (guardrails call this); returns the previous one. */
export function setStreamAuthorizer(authorizer: StreamAuthorizer): StreamAuthorizer {
  const previous = current;
  current = authorizer;
  return previous;
}
