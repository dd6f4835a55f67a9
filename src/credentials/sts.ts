// STS AssumeRoleWithWebIdentity with the caller's own OIDC token, so IAM's
// trust policy (not kubetape) decides whether this issuer, audience and
// subject may have the role. The call is unsigned: kubetape needs no AWS
// credentials of its own for it. Bounded in time; failures become
// CredentialErrors that say whose fault they are.
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CredentialError } from './credential-error.js';
import type { AwsCredentials } from './eks-token.js';

export interface StsOptions {
  region: string;
  /** e.g. a VPC endpoint, or moto_server in tests. */
  endpoint?: string;
  timeoutMs: number;
}

export interface AssumeRequest {
  roleArn: string;
  roleSessionName: string;
  webIdentityToken: string;
  durationSeconds: number;
}

export interface AssumedRole {
  credentials: AwsCredentials & { expiration: Date };
  /** arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION */
  assumedRoleArn?: string;
}

/** STS errors that are about the caller's token or the role's trust policy. */
const CALLER_ERRORS = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'InvalidIdentityToken',
  'InvalidIdentityTokenException',
  'ExpiredTokenException',
  'IDPRejectedClaim',
  'IDPRejectedClaimException',
  'PackedPolicyTooLarge',
  'MalformedPolicyDocument',
]);

export class Sts {
  private readonly client: STSClient;

  constructor(private readonly o: StsOptions) {
    this.client = new STSClient({
      region: o.region,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      // One retry at most: a slow STS must not hold a kubectl call for a minute.
      maxAttempts: 2,
      // AssumeRoleWithWebIdentity is modelled noAuth, so the SDK sends it unsigned and looks for no credentials.
    });
  }

  async assumeRoleWithWebIdentity(r: AssumeRequest): Promise<AssumedRole> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.o.timeoutMs);
    try {
      const out = await this.client.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: r.roleArn,
          RoleSessionName: r.roleSessionName,
          WebIdentityToken: r.webIdentityToken,
          DurationSeconds: r.durationSeconds,
        }),
        { abortSignal: abort.signal },
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.Expiration)
        throw new CredentialError(503, `AWS STS answered AssumeRoleWithWebIdentity for ${r.roleArn} without credentials`);
      const assumed: AssumedRole = {
        credentials: {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          expiration: new Date(c.Expiration),
          ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        },
      };
      if (out.AssumedRoleUser?.Arn) assumed.assumedRoleArn = out.AssumedRoleUser.Arn;
      return assumed;
    } catch (err) {
      if (err instanceof CredentialError) throw err;
      const name = (err as Error).name;
      if (abort.signal.aborted)
        throw new CredentialError(
          503,
          `AWS STS did not answer within ${Math.round(this.o.timeoutMs / 100) / 10}s (AssumeRoleWithWebIdentity for ${r.roleArn}); try again`,
        );
      if (CALLER_ERRORS.has(name))
        throw new CredentialError(
          403,
          `AWS STS refused to let you assume ${r.roleArn} (${name}); the role's trust policy must allow your issuer, audience and subject`,
        );
      throw new CredentialError(
        503,
        `AWS STS failed (AssumeRoleWithWebIdentity for ${r.roleArn}): ${name}${(err as Error).message ? `: ${(err as Error).message.split('\n')[0]}` : ''}`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.client.destroy();
  }
}
