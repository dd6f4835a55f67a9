// The credential for a cluster kubetape reaches with its own identity: its
// credential plus Impersonate-User / Impersonate-Group naming the caller, so
// the cluster's RBAC and audit log see the person. kubetape's own identity
// needs the `impersonate` verb on users and groups, and `create` on
// subjectaccessreviews if callers are to use kubectl --as (each requested
// impersonation is then checked for the caller with a SubjectAccessReview).
import type { CallerImpersonation, CredentialSource, UpstreamAuth } from '../model/upstream.js';
import type { Identity, UpstreamPrincipal } from '../model/identity.js';
import {
  agentExtras,
  impersonationChecks,
  impersonationRequestHeaders,
  type ImpersonationCheck,
  type ImpersonationRequest,
  type ReviewSubject,
} from '../model/impersonation.js';

const AUTHENTICATED = 'system:authenticated';

export interface OwnCredential {
  get(): Promise<UpstreamAuth>;
  invalidate(): void;
}

/** Answers "may this subject impersonate that?" (a SubjectAccessReviewer). */
export interface ImpersonationReviewer {
  allowed(subject: ReviewSubject, check: ImpersonationCheck): Promise<boolean>;
}

export interface ImpersonationOptions {
  /**
   * clusters[].agentExtras: an agent's name, and whom it acts for, go to the cluster as user extras
   * (Impersonate-Extra-kubetape.io/agent, .../acting-for), so its audit log names the agent too.
   * kubetape's identity then also needs `impersonate` on userextras.
   */
  agentExtras?: boolean;
}

export class ImpersonatingCredentialSource implements CredentialSource {
  readonly perCaller = true;
  readonly callerImpersonation?: CallerImpersonation;

  constructor(
    private readonly own: OwnCredential,
    reviewer?: ImpersonationReviewer,
    private readonly o: ImpersonationOptions = {},
  ) {
    if (reviewer) this.callerImpersonation = this.impersonationVia(reviewer);
  }

  private groups(identity: Identity): string[] {
    return identity.groups.includes(AUTHENTICATED) ? identity.groups : [...identity.groups, AUTHENTICATED];
  }

  /** Who the cluster is told the caller is: what get() sends and principal() records, made in one place. */
  private impersonated(identity: Identity): ImpersonationRequest {
    return { user: identity.user, groups: this.groups(identity), extra: this.o.agentExtras ? agentExtras(identity) : {} };
  }

  principal(identity: Identity): UpstreamPrincipal {
    const r = this.impersonated(identity);
    return { method: 'impersonation', user: r.user, groups: r.groups, ...(Object.keys(r.extra).length ? { extra: r.extra } : {}) };
  }

  async get(identity?: Identity): Promise<UpstreamAuth> {
    // Without a caller there is nobody to impersonate: kubetape's own identity is never lent out.
    if (!identity) throw new Error('impersonation needs a caller');
    const auth = await this.own.get();
    return { ...auth, headers: { ...auth.headers, ...impersonationRequestHeaders(this.impersonated(identity)) } };
  }

  invalidate(): void {
    this.own.invalidate();
  }

  private impersonationVia(reviewer: ImpersonationReviewer): CallerImpersonation {
    return {
      // The subject is the caller as kubetape would impersonate them, so the
      // cluster judges the person, not kubetape's own identity.
      denied: async (caller: Identity, request: ImpersonationRequest) => {
        const subject = { user: caller.user, groups: this.groups(caller) };
        for (const check of impersonationChecks(request)) {
          if (!(await reviewer.allowed(subject, check))) return check;
        }
        return undefined;
      },
      credentialAs: async (request: ImpersonationRequest) => {
        const auth = await this.own.get();
        return { ...auth, headers: { ...auth.headers, ...impersonationRequestHeaders(request) } };
      },
    };
  }
}
