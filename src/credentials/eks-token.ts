// EKS bearer tokens, minted locally the way `aws eks get-token` and
// aws-iam-authenticator do: a presigned STS GetCallerIdentity URL whose
// signature covers the `x-k8s-aws-id` header (the cluster name), as
// `k8s-aws-v1.` + base64url without padding. No network call: EKS checks the
// signature by forwarding the URL to STS itself. EKS accepts a token for 15
// minutes from its X-Amz-Date whatever X-Amz-Expires says, so kubetape
// reuses one for at most 14.
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './node-sha256.js';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
export const EKS_TOKEN_REUSE_MS = 14 * 60_000;

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface EksToken {
  token: string;
  /** When kubetape stops using it (14 minutes after signing). */
  reuseUntil: Date;
}

/** The STS host for a region (the regional endpoint; China regions use .amazonaws.com.cn). */
export function stsHost(region: string): string {
  return `sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** RFC 3986 query encoding, as SigV4's canonical form has it. */
function encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export async function mintEksToken(o: { clusterName: string; region: string; credentials: AwsCredentials; now?: Date }): Promise<EksToken> {
  const now = o.now ?? new Date();
  const hostname = stsHost(o.region);
  const signer = new SignatureV4({
    service: 'sts',
    region: o.region,
    sha256: NodeSha256,
    credentials: {
      accessKeyId: o.credentials.accessKeyId,
      secretAccessKey: o.credentials.secretAccessKey,
      ...(o.credentials.sessionToken ? { sessionToken: o.credentials.sessionToken } : {}),
    },
  });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, 'x-k8s-aws-id': o.clusterName },
    },
    { expiresIn: 60, signingDate: now },
  );
  const query = Object.entries(presigned.query ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x] as const) : v === null ? [] : [[k, v] as const]))
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .join('&');
  const url = `https://${hostname}/?${query}`;
  return { token: EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url'), reuseUntil: new Date(now.getTime() + EKS_TOKEN_REUSE_MS) };
}
