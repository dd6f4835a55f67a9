// Where a request's target labels come from, for rules that match on them:
// the body for a create, the cluster (with the caller's own upstream
// credential) for anything naming an object, both for update and patch.
import type { Agent } from 'node:https';
import type { Upstream } from '../../model/upstream.js';
import type { Identity } from '../../model/identity.js';
import { CredentialError } from '../../credentials/credential-error.js';
import { fetchLabels, LabelLookupFailure, type LabelTarget } from './label-lookup.js';
import { labelsAfterPatch, labelsInBody } from './request-labels.js';
import type { LabelSource } from './evaluate.js';
import type { LabelFacts, PolicyRule } from './types.js';
import type { Labels } from './label-selector.js';

/** A request refused because its target's labels could not be read; the message names the object and the rule. */
export class LabelLookupError extends Error {
  constructor(
    readonly statusCode: 403 | 503,
    message: string,
    /** The rule that needed the labels. */
    readonly rule: PolicyRule,
  ) {
    super(message);
  }
}

export interface LabelLookupDeps {
  upstream: Upstream;
  agent?: Agent;
  /** Overrides the 5 s lookup timeout (tests). */
  timeoutMs?: number;
}

export interface RestLabelRequest extends LabelTarget {
  verb: string;
  subresource: string;
  identity: Identity;
  body?: Buffer;
  contentType?: string;
}

/**
 * A named request reads the object's current labels; create, update and
 * patch of the object itself (not a subresource: status and scale writes
 * leave labels alone) also carry the labels they would leave.
 */
export function restLabelSource(d: LabelLookupDeps, r: RestLabelRequest): LabelSource {
  return async (rule) => {
    const facts: LabelFacts = {};
    const writesLabels = r.subresource === '' && (r.verb === 'create' || r.verb === 'update' || r.verb === 'patch');
    let current: Labels | undefined;
    if (r.name) facts.current = current = await currentLabels(d, r.identity, r, rule);
    if (writesLabels) {
      if (r.verb === 'patch') facts.next = labelsAfterPatch(current ?? {}, r.body, r.contentType);
      else facts.next = labelsInBody(r.body, r.contentType);
    }
    return facts;
  };
}

/** exec, attach, port-forward: the pod's labels. */
export function podLabelSource(d: LabelLookupDeps, identity: Identity, namespace: string, pod: string): LabelSource {
  return async (rule) => ({ current: await currentLabels(d, identity, { apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace, name: pod }, rule) });
}

async function currentLabels(d: LabelLookupDeps, identity: Identity, t: LabelTarget, rule: PolicyRule): Promise<Labels> {
  const fail = (code: 403 | 503, reason: string): never => {
    throw new LabelLookupError(code, `kubetape could not read the labels of ${describeTarget(t)} to apply policy rule "${rule.name}": ${reason}`, rule);
  };
  let auth;
  try {
    auth = await d.upstream.credentials.get(identity);
  } catch (err) {
    return fail(err instanceof CredentialError ? err.statusCode : 503, `no upstream credential for ${identity.user}: ${(err as Error).message}`);
  }
  try {
    return await fetchLabels(d.upstream, d.agent, auth, t, d.timeoutMs);
  } catch (err) {
    if (err instanceof LabelLookupFailure) return fail(err.statusCode, err.reason);
    return fail(503, (err as Error).message);
  }
}

/** `pods "x" in namespace prod`, `namespaces "prod"`, `deployments.apps "api" in namespace web`. */
function describeTarget(t: LabelTarget): string {
  const kind = t.apiGroup ? `${t.resource}.${t.apiGroup}` : t.resource;
  const inNamespace = t.namespace && !(t.apiGroup === '' && t.resource === 'namespaces') ? ` in namespace ${t.namespace}` : '';
  return `${kind} "${t.name}"${inNamespace}`;
}
