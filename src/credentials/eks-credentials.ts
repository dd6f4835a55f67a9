// The credential for an EKS cluster, per caller: their groups pick an IAM
// role from the cluster's mapping, their OIDC token assumes it (RoleSessions),
// and an EKS token is minted locally from that session and reused for up to
// 14 minutes. The cluster then sees the person's own role session, which its
// access entries or aws-auth map to scoped RBAC.
import type { CredentialSource, UpstreamAuth } from '../model/upstream.js';
import type { Identity, UpstreamPrincipal } from '../model/identity.js';
import { CredentialError } from './credential-error.js';
import { mintEksToken } from './eks-token.js';
import { selectRole, type RoleMapping } from './role-selection.js';
import { RoleSessions } from './role-sessions.js';
import { roleSessionName } from './session-name.js';
import { SingleFlightCache } from './single-flight-cache.js';

export interface EksCredentialOptions {
  /** kubetape's name for the cluster (messages, recordings). */
  cluster: string;
  /** The EKS cluster name the token is bound to (x-k8s-aws-id). */
  eksName: string;
  region: string;
  roles: RoleMapping[];
  sessions: RoleSessions;
  now?: () => number;
}

/** Stop using a token this long before its role session expires. */
const SESSION_MARGIN_MS = 60_000;

export class EksCredentialSource implements CredentialSource {
  readonly perCaller = true;
  private readonly tokens: SingleFlightCache<string>;
  private readonly now: () => number;

  constructor(private readonly o: EksCredentialOptions) {
    this.now = o.now ?? Date.now;
    this.tokens = new SingleFlightCache(this.now);
  }

  principal(identity: Identity): UpstreamPrincipal | undefined {
    const role = selectRole(this.o.roles, identity.groups);
    return role ? { method: 'aws-role', roleArn: role.roleArn, roleSessionName: roleSessionName(identity.user) } : undefined;
  }

  async get(identity?: Identity): Promise<UpstreamAuth> {
    if (!identity) throw new CredentialError(403, `cluster "${this.o.cluster}" is reached with each caller's own AWS role; there is no caller`);
    const role = selectRole(this.o.roles, identity.groups);
    if (!role) {
      const groups = identity.groups.filter((g) => g !== 'system:authenticated');
      throw new CredentialError(
        403,
        `no IAM role on cluster "${this.o.cluster}" for your groups [${groups.join(', ')}]; the cluster maps groups [${[...new Set(this.o.roles.map((r) => r.group))].join(', ')}]`,
      );
    }
    const token = await this.tokens.get(RoleSessions.key(identity, role.roleArn), async () => {
      const credentials = await this.o.sessions.credentials(identity, role.roleArn);
      const signedAt = this.now();
      const minted = await mintEksToken({ clusterName: this.o.eksName, region: this.o.region, credentials, now: new Date(signedAt) });
      return { value: minted.token, refreshAt: Math.min(minted.reuseUntil.getTime(), credentials.expiration.getTime() - SESSION_MARGIN_MS) };
    });
    return { authorization: `Bearer ${token}` };
  }

  /** The cluster refused the token: mint a new one, from a new role session, next time. */
  invalidate(identity?: Identity): void {
    if (!identity) return;
    const role = selectRole(this.o.roles, identity.groups);
    if (!role) return;
    this.tokens.delete(RoleSessions.key(identity, role.roleArn));
    this.o.sessions.forget(identity, role.roleArn);
  }
}
