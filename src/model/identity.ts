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
  /**
   * Who is calling: a person, or a machine (an agent, a CI job, an MCP server).
   * machine: the token came from an issuer configured `kind: machine`, or it
   * carries an `act` claim (an agent acting for its subject). Absent: person
   * (identities made before agents were told apart).
   */
  kind?: 'person' | 'machine';
  /** kind machine: the agent's name (its username, or the actor an `act` claim names). */
  agent?: string;
  /** An agent acting for someone: that person's username, as the token stated it (`act`'s subject, or the issuer's actingForClaim). */
  actingFor?: string;
  /** The delegation chain as the token stated it: the current actor first, then the actors before it (nested `act`). */
  delegation?: string[];
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
  /** impersonation: the extras sent as Impersonate-Extra-* (clusters[].agentExtras). */
  extra?: Record<string, string[]>;
}
