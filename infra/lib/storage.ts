// Where recordings live: the DynamoDB index (built from the one table
// definition the store code reads and writes, src/store/aws/table-schema.ts)
// and the S3 bucket of chunks, both encrypted with one customer key. Every
// resource is retained when the stack is deleted, and the bucket's Object
// Lock means even an administrator cannot quietly delete a recording before
// its retention ends.
import { Duration, RemovalPolicy, aws_dynamodb as dynamodb, aws_kms as kms, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { TABLE_SCHEMA, type KeyType } from '../../src/store/aws/table-schema.js';
import type { ObjectLockMode } from './settings.js';

export interface StorageProps {
  tableName: string;
  retentionDays: number;
  objectLockMode: ObjectLockMode;
}

/** Chunks move to Standard-IA after this many days, to Glacier Instant Retrieval after the next (both still readable at once by `kubetape replay`). */
export const INFREQUENT_ACCESS_AFTER_DAYS = 30;
export const GLACIER_IR_AFTER_DAYS = 90;

export class Storage extends Construct {
  readonly key: kms.Key;
  /**
   * The key kubetape MACs its checkpoints with (recording.checkpointKmsKeyId):
   * an HMAC key that never leaves KMS, so whoever can write the table and the
   * bucket still cannot forge a checkpoint without kms:GenerateMac on it.
   */
  readonly checkpointKey: kms.Key;
  readonly table: dynamodb.Table;
  readonly bucket: s3.Bucket;
  /** Key prefix of the chunks in the bucket (kubetape's recording.prefix). */
  readonly prefix = 'recordings/';

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);

    this.key = new kms.Key(this, 'Key', {
      description: 'kubetape recordings: DynamoDB index and S3 chunks',
      alias: 'alias/kubetape-recordings',
      enableKeyRotation: true,
      // Losing the key loses every recording: keep it, and wait the longest window before any deletion.
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.checkpointKey = new kms.Key(this, 'CheckpointKey', {
      description: 'kubetape recordings: MACs of the checkpoints of the chain heads (kubetape verify checks them)',
      alias: 'alias/kubetape-checkpoints',
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      // HMAC keys cannot rotate automatically; losing the key leaves the checkpoints unverifiable: keep it.
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The key policy is CDK's default: the account administers the key and grants
    // use through IAM; kubetape's task role gets encrypt/decrypt in its own policy
    // (Service grants it), the per-person roles get nothing. A deny outside
    // DynamoDB/S3 (kms:ViaService) was left out: untested against DynamoDB's
    // background use of the key, it could lock the table.
    this.table = new dynamodb.Table(this, 'Table', tableProps(props.tableName, this.key));
    for (const gsi of TABLE_SCHEMA.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: gsi.name,
        partitionKey: attribute(gsi.partitionKey),
        sortKey: attribute(gsi.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    const retention = Duration.days(props.retentionDays);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention:
        props.objectLockMode === 'compliance' ? s3.ObjectLockRetention.compliance(retention) : s3.ObjectLockRetention.governance(retention),
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [lifecycle(props.retentionDays, this.prefix)],
    });
  }
}

/** The table exactly as table-schema.ts describes it (GSIs are added after, from the same description). */
function tableProps(tableName: string, key: kms.IKey): dynamodb.TableProps {
  if (TABLE_SCHEMA.billingMode !== 'PAY_PER_REQUEST')
    throw new Error(`table-schema.ts billing mode ${JSON.stringify(TABLE_SCHEMA.billingMode)} is not handled here`);
  return {
    tableName,
    // On demand: recording traffic follows people's working hours and bursts with
    // `kubectl exec`; there is no capacity (and so no autoscaling) to tune.
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    partitionKey: attribute(TABLE_SCHEMA.partitionKey),
    sortKey: attribute(TABLE_SCHEMA.sortKey),
    timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: TABLE_SCHEMA.pointInTimeRecovery },
    deletionProtection: true,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}

function attribute(name: string): dynamodb.Attribute {
  const def = TABLE_SCHEMA.attributes.find((a) => a.name === name);
  if (!def) throw new Error(`table-schema.ts uses key attribute "${name}" without declaring its type`);
  return { name, type: attributeType(def.type) };
}

function attributeType(t: KeyType): dynamodb.AttributeType {
  return t === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER;
}

/** Colder storage as chunks age, and expiry when the lock (and the DynamoDB TTL) ends. */
function lifecycle(retentionDays: number, prefix: string): s3.LifecycleRule {
  const transitions: s3.Transition[] = [];
  if (retentionDays > INFREQUENT_ACCESS_AFTER_DAYS)
    transitions.push({ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(INFREQUENT_ACCESS_AFTER_DAYS) });
  if (retentionDays > GLACIER_IR_AFTER_DAYS)
    transitions.push({ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(GLACIER_IR_AFTER_DAYS) });
  return {
    id: 'RecordingsRetention',
    prefix,
    transitions,
    // Expiry adds a delete marker; the locked version itself is only removed by the
    // noncurrent rule, after the lock has ended (S3 refuses earlier deletions anyway).
    expiration: Duration.days(retentionDays),
    noncurrentVersionExpiration: Duration.days(1),
    abortIncompleteMultipartUploadAfter: Duration.days(7),
  };
}
