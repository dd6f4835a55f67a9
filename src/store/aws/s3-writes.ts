// The uploader's S3 writes: every object carries Content-MD5 (S3 rejects a
// body that does not match, and Object Lock buckets require it) and, when a
// key is configured, SSE-KMS.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { md5Base64 } from './chunk-format.js';
import { withRetries, type RetryContext } from './retry.js';

export class S3Writes {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly kmsKeyId: string | undefined,
    private readonly ctx: RetryContext,
  ) {}

  async put(key: string, body: Buffer, contentType: string, md5 = md5Base64(body)): Promise<void> {
    await withRetries(this.ctx, 's3', `put ${key}`, (abortSignal) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentMD5: md5,
          ContentType: contentType,
          ...(this.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.kmsKeyId } : {}),
        }),
        { abortSignal },
      ),
    );
  }

  /** An object's bytes, or undefined when there is none (the uploader's own checkpoints, after a crash). */
  async get(key: string): Promise<Buffer | undefined> {
    return withRetries(this.ctx, 's3', `get ${key}`, async (abortSignal) => {
      try {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (e) {
        const name = (e as { name?: string }).name;
        if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
        throw e;
      }
    });
  }
}
