// The DynamoDB table kubetape records into, as plain data: kubetape's
// reader and writer, the CreateTable helper (tests, local emulators) and the
// CDK app in infra/ all derive from this one description, so they cannot
// drift apart. ARCHITECTURE.md ("Recordings in DynamoDB and S3") explains the
// access patterns behind every key and index.

export type KeyType = 'S' | 'N';

export interface IndexSchema {
  name: string;
  partitionKey: string;
  sortKey: string;
  /** Every index projects all attributes: only session items carry the index keys (sparse), and they are small. */
  projection: 'ALL';
}

export const TABLE_SCHEMA = {
  defaultTableName: 'kubetape-sessions',
  billingMode: 'PAY_PER_REQUEST',
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch seconds; DynamoDB TTL deletes items after it (startedAt + retentionDays). */
  ttlAttribute: 'expiresAt',
  /** Point-in-time recovery should be on in production (infra/ turns it on). */
  pointInTimeRecovery: true,
  attributes: [
    { name: 'pk', type: 'S' },
    { name: 'sk', type: 'S' },
    { name: 'userPk', type: 'S' },
    { name: 'userSk', type: 'S' },
    { name: 'clusterPk', type: 'S' },
    { name: 'clusterSk', type: 'S' },
    { name: 'timePk', type: 'S' },
    { name: 'timeSk', type: 'S' },
  ] as ReadonlyArray<{ name: string; type: KeyType }>,
  globalSecondaryIndexes: [
    /** Sessions of one user, newest first: userPk = "user#NAME", userSk = session id (ULIDs sort by start time). */
    { name: 'byUser', partitionKey: 'userPk', sortKey: 'userSk', projection: 'ALL' },
    /** Sessions on one cluster, newest first: clusterPk = "cluster#NAME". */
    { name: 'byCluster', partitionKey: 'clusterPk', sortKey: 'clusterSk', projection: 'ALL' },
    /** All sessions by time: timePk = "month#YYYY-MM#SHARD"; a month is spread over `timeShards` partitions. */
    { name: 'byTime', partitionKey: 'timePk', sortKey: 'timeSk', projection: 'ALL' },
  ] as ReadonlyArray<IndexSchema>,
  /** Partitions per month of the time index; a reader queries all of them and merges. */
  timeShards: 8,
} as const;

export type TableSchema = typeof TABLE_SCHEMA;
