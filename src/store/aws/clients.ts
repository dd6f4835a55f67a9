// DynamoDB and S3 clients from the standard AWS SDK configuration: the
// credential chain, AWS_REGION (or the shared config file), and
// AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 for
// emulators and VPC endpoints. Nothing here overrides those.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

export interface AwsClients {
  dynamo: DynamoDBClient;
  s3: S3Client;
  destroy(): void;
}

export interface ClientOptions {
  s3ForcePathStyle: boolean;
  /**
   * The uploader retries every call itself (forever, with backoff, counted
   * in metrics), so its clients make one attempt and time out promptly: a
   * frozen endpoint must not hold a call for minutes.
   */
  forUploads: boolean;
}

export function createAwsClients(o: ClientOptions): AwsClients {
  const common = o.forUploads
    ? { maxAttempts: 1, requestHandler: { connectionTimeout: 3000, requestTimeout: 10_000, throwOnRequestTimeout: true } }
    : { maxAttempts: 3, requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000, throwOnRequestTimeout: true } };
  const dynamo = new DynamoDBClient({ ...common });
  // kubetape sends Content-MD5 itself (Object Lock buckets require an integrity header); no extra CRC32 header.
  const s3 = new S3Client({ ...common, forcePathStyle: o.s3ForcePathStyle, requestChecksumCalculation: 'WHEN_REQUIRED' });
  return {
    dynamo,
    s3,
    destroy() {
      dynamo.destroy();
      s3.destroy();
    },
  };
}

/** A clear message when no region is configured, instead of the SDK's at the first call. */
export async function checkRegion(c: AwsClients): Promise<void> {
  try {
    const r = await c.dynamo.config.region();
    if (!r) throw new Error('empty');
  } catch {
    throw new Error('recording.store is aws but no AWS region is configured: set AWS_REGION (or a region in ~/.aws/config)');
  }
}
