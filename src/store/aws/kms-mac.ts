// HMAC checkpoints with a KMS key (GenerateMac / VerifyMac, key spec
// HMAC_256): the key never leaves KMS, so whoever can write the table and the
// bucket, but is not granted kms:GenerateMac on it, cannot sign a checkpoint.
//
// KMS speaks JSON 1.1 over a SigV4-signed POST. kubetape has no KMS client
// package; these few calls are signed with @smithy/signature-v4 (a direct
// dependency) using the credentials and region the DynamoDB client resolved
// from the standard configuration, and sent to AWS_ENDPOINT_URL_KMS,
// AWS_ENDPOINT_URL, or kms.REGION.amazonaws.com.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export const MAC_ALGORITHM = 'HMAC_SHA_256';

/** A KMS error by its type (KMSInvalidMacException, AccessDeniedException, NotFoundException ...). */
export class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(`KMS ${type}: ${message}`);
  }
}

export interface KmsMac {
  /** The key as configured (id, ARN or alias). */
  readonly keyId: string;
  /** MAC of `message` (base64). */
  generate(message: Buffer): Promise<string>;
  /** True when `mac` is the key's MAC of `message`; false when it is not (any other failure throws). */
  verify(message: Buffer, mac: string): Promise<boolean>;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): Buffer =>
  typeof d === 'string' ? Buffer.from(d, 'utf8') : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d);

/** SHA-256 / HMAC-SHA-256 for the signer, from node:crypto. */
class Sha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
  update(data: SourceData): void {
    this.h.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    this.h = this.fresh();
  }
}

/** One KMS call: `op` is the API action (GenerateMac, VerifyMac, CreateKey ...). */
export async function kmsCall(from: DynamoDBClient, op: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
  const region = await from.config.region();
  const credentials = await from.config.credentials();
  const endpoint = new URL(process.env['AWS_ENDPOINT_URL_KMS'] ?? process.env['AWS_ENDPOINT_URL'] ?? `https://kms.${region}.amazonaws.com`);
  const body = JSON.stringify(payload);
  const signer = new SignatureV4({ service: 'kms', region, sha256: Sha256, credentials });
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
    path: '/',
    headers: { host: endpoint.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${op}` },
    body,
  });
  const send = endpoint.protocol === 'http:' ? httpRequest : httpsRequest;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = send(
      { method: 'POST', hostname: endpoint.hostname, port: endpoint.port || undefined, path: '/', headers: signed.headers, timeout: 10_000 },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`KMS ${op}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text || '{}') as Record<string, unknown>;
  } catch {
    // not JSON: reported by status below
  }
  if (status < 200 || status >= 300) {
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const type = (str(json['__type']) ?? `HTTP ${status}`).split('#').pop()!;
    throw new KmsError(type, str(json['message']) ?? str(json['Message']) ?? text.slice(0, 200));
  }
  return json;
}

/** GenerateMac / VerifyMac with `keyId`, through the credentials and region of `from`. */
export function kmsMac(keyId: string, from: DynamoDBClient): KmsMac {
  return {
    keyId,
    async generate(message) {
      const r = await kmsCall(from, 'GenerateMac', { KeyId: keyId, MacAlgorithm: MAC_ALGORITHM, Message: message.toString('base64') });
      if (typeof r['Mac'] !== 'string') throw new KmsError('BadResponse', 'GenerateMac returned no Mac');
      return r['Mac'];
    },
    async verify(message, mac) {
      try {
        const r = await kmsCall(from, 'VerifyMac', { KeyId: keyId, MacAlgorithm: MAC_ALGORITHM, Message: message.toString('base64'), Mac: mac });
        return r['MacValid'] === true;
      } catch (e) {
        // A MAC that does not match, or one made with a key of another kind, is an answer, not a failure.
        if (e instanceof KmsError && (e.type === 'KMSInvalidMacException' || e.type === 'InvalidKeyUsageException')) return false;
        throw e;
      }
    },
  };
}
