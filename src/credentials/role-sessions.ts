// A person's own AWS role sessions, one per (issuer, subject, role): assumed
// with their OIDC token, named after them, reused until shortly before they
// expire, and shared by concurrent requests.
import type { Identity } from '../model/identity.js';
import { webIdentityOf } from '../model/web-identity.js';
import { CredentialError } from './credential-error.js';
import type { AwsCredentials } from './eks-token.js';
import { roleSessionName } from './session-name.js';
import { SingleFlightCache } from './single-flight-cache.js';
import type { Sts } from './sts.js';

export type SessionCredentials = AwsCredentials & { expiration: Date };

/** Renew this long before expiry: 10 % of the lifetime, at most 5 minutes. */
const MAX_MARGIN_MS = 5 * 60_000;

export interface RoleSessionsOptions {
  /** Requested DurationSeconds (900 to 43200; the role's maximum must allow it). */
  durationSeconds: number;
  now?: () => number;
}

export class RoleSessions {
  private readonly cache: SingleFlightCache<SessionCredentials>;
  private readonly now: () => number;

  constructor(
    private readonly sts: Pick<Sts, 'assumeRoleWithWebIdentity'>,
    private readonly o: RoleSessionsOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.cache = new SingleFlightCache(this.now);
  }

  /** STS calls made so far (tests). */
  get stsCalls(): number {
    return this.cache.loads;
  }

  static key(identity: Identity, roleArn: string): string {
    return `${identity.issuer ?? ''}\0${identity.subject ?? identity.user}\0${roleArn}`;
  }

  async credentials(identity: Identity, roleArn: string): Promise<SessionCredentials> {
    const web = webIdentityOf(identity);
    if (!web || !identity.issuer || !identity.subject) {
      throw new CredentialError(
        403,
        `this cluster is reached with your own AWS role, which needs an OIDC login; ${identity.method} callers have no token to assume it with`,
      );
    }
    return this.cache.get(RoleSessions.key(identity, roleArn), async () => {
      const started = this.now();
      const assumed = await this.sts.assumeRoleWithWebIdentity({
        roleArn,
        roleSessionName: roleSessionName(identity.user),
        webIdentityToken: web.token,
        durationSeconds: this.o.durationSeconds,
      });
      const expires = assumed.credentials.expiration.getTime();
      const margin = Math.min(MAX_MARGIN_MS, Math.max(0, expires - started) * 0.1);
      return { value: assumed.credentials, refreshAt: expires - margin };
    });
  }

  forget(identity: Identity, roleArn: string): void {
    this.cache.delete(RoleSessions.key(identity, roleArn));
  }
}
