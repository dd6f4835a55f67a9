// The credential for a cluster kubetape reaches with its own identity: its
// credential plus Impersonate-User / Impersonate-Group naming the caller, so
// the cluster's RBAC and audit log see the person. kubetape's own identity
// needs the `impersonate` verb on users and groups, and `create` on
// subjectaccessreviews if callers are to use kubectl --as (each requested
// impersonation is then checked for the caller with a SubjectAccessReview).
import type { CallerImpersonation, CredentialSource, UpstreamAuth } from '../model/upstream.js';
import type { Identity, UpstreamPrincipal } from '../model/identity.js';
import {
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

export class ImpersonatingCredentialSource implements CredentialSource {
  readonly perCaller = true;
  readonly callerImpersonation?: CallerImpersonation;

  constructor(
    private readonly own: OwnCredential,
    reviewer?: ImpersonationReviewer,
  ) {
    if (reviewer) this.callerImpersonation = this.impersonationVia(reviewer);
  }

  private groups(identity: Identity): string[] {
    return identity.groups.includes(AUTHENTICATED) ? identity.groups : [...identity.groups, AUTHENTICATED];
  }

  principal(identity: Identity): UpstreamPrincipal {
    return { method: 'impersonation', user: identity.user, groups: this.groups(identity) };
  }

  async get(identity?: Identity): Promise<UpstreamAuth> {
    // Without a caller there is nobody to impersonate: kubetape's own identity is never lent out.
    if (!identity) throw new Error('impersonation needs a caller');
    const auth = await this.own.get();
    return { ...auth, headers: { ...auth.headers, 'Impersonate-User': identity.user, 'Impersonate-Group': this.groups(identity) } };
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
