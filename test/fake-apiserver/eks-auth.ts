// EKS token authentication for the test API server, the way
// aws-iam-authenticator does it: decode `k8s-aws-v1.` + base64url, check
// the presigned URL is an STS GetCallerIdentity signed over `x-k8s-aws-id`
// and dated within 15 minutes, verify its SigV4 signature for this
// cluster's id, learn the caller's ARN from STS, canonicalise the
// assumed-role ARN to its role, and map it through an aws-auth-style
// mapRoles list ({{SessionName}}, {{SessionNameRaw}}, {{AccountID}}).
//
// STS here is moto_server, which neither routes a presigned GET to STS nor
// checks signatures (see shared/notes/aws-and-tooling.md). So the signature
// is recomputed with @smithy/signature-v4 from the session's secret, which
// this "AWS side" reads from moto's state (as STS itself knows its keys),
// and moto is asked GetCallerIdentity with the signature moved into an
// Authorization header.
import { timingSafeEqual } from 'node:crypto';
import { request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../src/credentials/node-sha256.js';
import { AUTHENTICATED, type Identity } from '../../src/devcluster/rbac.js';

export interface MapRole {
  rolearn: string;
  /** May use {{SessionName}} ('@' becomes '-'), {{SessionNameRaw}}, {{AccountID}}. */
  username: string;
  groups?: string[];
}

export interface EksAuthOptions {
  /** The cluster id tokens must be signed for (x-k8s-aws-id): the EKS cluster name. */
  clusterId: string;
  /** moto_server's URL (http://127.0.0.1:PORT). */
  stsEndpoint: string;
  mapRoles: MapRole[];
  now?: () => number;
}

export const EKS_PREFIX = 'k8s-aws-v1.';
const VALID_MS = 15 * 60_000;
const STS_HOST = /^sts(\.[a-z]{2}(-[a-z]+)+-\d+)?\.amazonaws\.com(\.cn)?$/;

export type EksAuthResult = { ok: true; identity: Identity } | { ok: false; reason: string };

interface MotoSession {
  access_key_id: string;
  secret_access_key: string;
  session_token?: string;
}

function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('STS timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE (aws-iam-authenticator's Canonicalize). */
export function canonicalArn(arn: string): { canonical: string; accountId: string; sessionName?: string } {
  const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
  if (m) return { canonical: `arn:${m[1]}:iam::${m[2]}:role/${m[3]}`, accountId: m[2], sessionName: m[4] };
  const iam = /^arn:aws[a-z-]*:iam::(\d{12}):/.exec(arn);
  if (iam) return { canonical: arn, accountId: iam[1] };
  throw new Error(`not an IAM or STS ARN: ${arn}`);
}

export class EksTokenAuthenticator {
  /** Why tokens were refused, newest last (tests read it). */
  readonly rejections: string[] = [];
  /** Calls to STS for GetCallerIdentity. */
  stsCalls = 0;
  private readonly now: () => number;

  constructor(private readonly o: EksAuthOptions) {
    this.now = o.now ?? Date.now;
  }

  async authenticate(token: string): Promise<EksAuthResult> {
    try {
      const r = await this.check(token);
      if (!r.ok) this.rejections.push(r.reason);
      return r;
    } catch (err) {
      const reason = `EKS token check failed: ${(err as Error).message}`;
      this.rejections.push(reason);
      return { ok: false, reason };
    }
  }

  private async check(token: string): Promise<EksAuthResult> {
    if (!token.startsWith(EKS_PREFIX)) return { ok: false, reason: 'not an EKS token' };
    const encoded = token.slice(EKS_PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return { ok: false, reason: 'token is not base64url without padding' };
    let url: URL;
    try {
      url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'token does not hold a URL' };
    }
    if (url.protocol !== 'https:' || !STS_HOST.test(url.hostname) || url.pathname !== '/')
      return { ok: false, reason: `token URL is not an STS endpoint: ${url.origin}${url.pathname}` };
    const q = url.searchParams;
    for (const k of q.keys())
      if (k !== 'Action' && k !== 'Version' && !k.startsWith('X-Amz-')) return { ok: false, reason: `non-whitelisted query parameter ${JSON.stringify(k)}` };
    const one = (k: string) => (q.getAll(k).length === 1 ? q.get(k)! : undefined);
    if (one('Action') !== 'GetCallerIdentity') return { ok: false, reason: 'token does not presign GetCallerIdentity' };
    if (one('Version') !== '2011-06-15') return { ok: false, reason: 'unexpected STS API version' };
    if (one('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return { ok: false, reason: 'token is not SigV4-presigned' };
    const signedHeaders = (one('X-Amz-SignedHeaders') ?? '').split(';');
    if (!signedHeaders.includes('x-k8s-aws-id')) return { ok: false, reason: 'x-k8s-aws-id is not a signed header' };
    if (signedHeaders.some((h) => h !== 'host' && h !== 'x-k8s-aws-id')) return { ok: false, reason: `unexpected signed headers ${signedHeaders.join(';')}` };
    const date = one('X-Amz-Date') ?? '';
    const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
    if (!dm) return { ok: false, reason: 'X-Amz-Date is missing or malformed' };
    const signedAt = Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]);
    const age = this.now() - signedAt;
    if (age > VALID_MS) return { ok: false, reason: 'token has expired (signed more than 15 minutes ago)' };
    if (age < -60_000) return { ok: false, reason: 'token is dated in the future' };
    const cred = (one('X-Amz-Credential') ?? '').split('/');
    if (cred.length !== 5 || cred[3] !== 'sts' || cred[4] !== 'aws4_request') return { ok: false, reason: 'X-Amz-Credential is malformed' };
    const [accessKeyId, , region] = cred as [string, string, string, string, string];
    const signature = one('X-Amz-Signature') ?? '';

    const session = await this.session(accessKeyId);
    if (!session) return { ok: false, reason: 'unknown access key' };
    if ((one('X-Amz-Security-Token') ?? '') !== (session.session_token ?? '')) return { ok: false, reason: 'security token does not belong to the access key' };

    // The signature must hold for a request that carries *this* cluster's id: that is the cluster binding.
    const signer = new SignatureV4({
      service: 'sts',
      region,
      sha256: NodeSha256,
      credentials: { accessKeyId, secretAccessKey: session.secret_access_key, ...(session.session_token ? { sessionToken: session.session_token } : {}) },
    });
    const expected = await signer.presign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: url.hostname,
        path: '/',
        query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
        headers: Object.fromEntries(signedHeaders.map((h) => [h, h === 'host' ? url.hostname : this.o.clusterId])),
      },
      { signingDate: new Date(signedAt), expiresIn: Number(one('X-Amz-Expires') ?? '60') },
    );
    const want = Buffer.from(String(expected.query?.['X-Amz-Signature'] ?? ''), 'utf8');
    const got = Buffer.from(signature, 'utf8');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: `signature does not verify for cluster ${this.o.clusterId}` };

    const arn = await this.callerArn(url, signedHeaders, signature);
    const { canonical, accountId, sessionName } = canonicalArn(arn);
    const mapping = this.o.mapRoles.find((m) => m.rolearn === canonical);
    if (!mapping) return { ok: false, reason: `ARN ${canonical} is not mapped` };
    const user = mapping.username
      .replaceAll('{{SessionName}}', (sessionName ?? '').replaceAll('@', '-'))
      .replaceAll('{{SessionNameRaw}}', sessionName ?? '')
      .replaceAll('{{AccountID}}', accountId);
    const groups = [...(mapping.groups ?? [])];
    if (!groups.includes(AUTHENTICATED)) groups.push(AUTHENTICATED);
    const extra: Record<string, string[]> = { arn: [arn], canonicalArn: [canonical], accessKeyId: [accessKeyId] };
    if (sessionName) extra['sessionName'] = [sessionName];
    return { ok: true, identity: { user, groups, uid: `aws-iam-authenticator:${accountId}:${canonical}`, extra } };
  }

  private async session(accessKeyId: string): Promise<MotoSession | undefined> {
    const r = await httpGet(`${this.o.stsEndpoint}/moto-api/data.json`);
    const data = JSON.parse(r.body) as { sts?: { AssumedRole?: MotoSession[] } };
    return data.sts?.AssumedRole?.find((s) => s.access_key_id === accessKeyId);
  }

  /** GetCallerIdentity the way moto understands it: the presigned query's signature as an Authorization header. */
  private async callerArn(url: URL, signedHeaders: string[], signature: string): Promise<string> {
    const q = url.searchParams;
    const headers: Record<string, string> = {
      authorization: `AWS4-HMAC-SHA256 Credential=${q.get('X-Amz-Credential')}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`,
      'x-amz-date': q.get('X-Amz-Date') ?? '',
      'x-k8s-aws-id': this.o.clusterId,
    };
    const tok = q.get('X-Amz-Security-Token');
    if (tok) headers['x-amz-security-token'] = tok;
    this.stsCalls++;
    const r = await httpGet(`${this.o.stsEndpoint}/?Action=GetCallerIdentity&Version=2011-06-15`, headers);
    const arn = /<Arn>([^<]+)<\/Arn>/.exec(r.body)?.[1];
    if (r.status !== 200 || !arn) throw new Error(`STS GetCallerIdentity answered ${r.status}`);
    return arn;
  }
}
