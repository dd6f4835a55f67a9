// Who a request is from, and who the cluster saw: the caller as
// authentication established it, and the principal kubetape presented
// upstream on their behalf. Shared by every stage; imports nothing of ours.

/** Who made a request, as authentication established it. */
export interface Identity {
  user: string;
  uid?: string;
  groups: string[];
  /** Which authenticator vouched for the caller: 'token-file' or 'oidc'. */
  method: string;
  /** OIDC: the issuer (`iss`) that signed the caller's token. */
  issuer?: string;
  /** OIDC: the caller's subject (`sub`) at that issuer; with `issuer`, the stable key for a person. */
  subject?: string;
}

/**
 * Who the cluster saw: what kubetape presented upstream on the caller's
 * behalf, so a recording joins with CloudTrail and the cluster's audit log.
 */
export interface UpstreamPrincipal {
  /** aws-role: the caller's own IAM role session (EKS); impersonation: kubetape's credential with Impersonate-*; shared: kubetape's credential alone. */
  method: 'aws-role' | 'impersonation' | 'shared';
  /** aws-role: the IAM role assumed with the caller's OIDC token. */
  roleArn?: string;
  /** aws-role: the RoleSessionName (CloudTrail and EKS's {{SessionName}} show it). */
  roleSessionName?: string;
  /** impersonation: the user and groups sent as Impersonate-User / Impersonate-Group. */
  user?: string;
  groups?: string[];
}
