// The CDK app, synthesized offline, checked property by property: what an
// auditor would look for in the template (recordings cannot be quietly
// deleted or read, people get only their group's access), and that the table
// and the config are the ones kubetape's own code expects.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { KubetapeStack } from '../lib/kubetape-stack.js';
import { ACCESS_POLICIES, readSettings, SettingsError } from '../lib/settings.js';
import { TABLE_SCHEMA } from '../../src/store/aws/table-schema.js';
import { readConfigFile, resolveConfig } from '../../src/config/config.js';
import { loadPolicyFile, PolicyError } from '../../src/authorize/policy/load.js';
import { APPROVALS_WEBHOOK_ENV } from '../lib/policy.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

const BASE_CONTEXT: Record<string, unknown> = {
  issuer: 'https://idp.example.com/realms/ops',
  clientId: 'kubetape-cli',
  clusters: 'prod,staging',
  groups: JSON.stringify([
    { group: 'platform-admins', access: 'cluster-admin' },
    { group: 'developers', access: 'edit', namespaces: ['apps', 'jobs'] },
    { group: 'auditors', access: 'view', namespaces: ['apps'] },
  ]),
  tlsSecretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:kubetape-tls-AbCdEf`,
  [`availability-zones:account=${ACCOUNT}:region=${REGION}`]: [`${REGION}a`, `${REGION}b`, `${REGION}c`],
};

type Resource = { Type: string; Properties: Record<string, any> };

function synth(extra: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'kubetape-cdk-'));
  const app = new App({ outdir, context: { ...BASE_CONTEXT, ...extra } });
  const stack = new KubetapeStack(app, 'Kubetape', { imageDirectory: REPO_ROOT, env: { account: ACCOUNT, region: REGION } });
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  return { app, stack, assembly, template, outdir, json: template.toJSON() as { Resources: Record<string, Resource>; Outputs: Record<string, any> } };
}

function ofType(json: { Resources: Record<string, Resource> }, type: string): [string, Resource][] {
  return Object.entries(json.Resources).filter(([, r]) => r.Type === type);
}

function asList<T>(v: T | T[]): T[] {
  return Array.isArray(v) ? v : [v];
}

// No credentials, no Docker: synth must not need either.
const savedEnv = { ...process.env };
for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
process.env['CDK_DOCKER'] = '/nonexistent/docker-must-not-run';
const main = synth();
Object.assign(process.env, savedEnv);
if (!('CDK_DOCKER' in savedEnv)) delete process.env['CDK_DOCKER'];
t.teardown(() => rmSync(main.outdir, { recursive: true, force: true }));
const { template, json } = main;

t.test('synth works offline and only stages the Dockerfile context for the image', async (t) => {
  const artifact = main.assembly.getStackByName('Kubetape');
  t.ok(artifact.template.Resources, 'a template was written');
  const assetsFile = main.assembly.artifacts.find((a) => a.id === 'Kubetape.assets');
  t.ok(assetsFile, 'an assets manifest exists');
  const manifest = JSON.parse(readFileSync(join(main.outdir, 'Kubetape.assets.json'), 'utf8'));
  const images = Object.values<{ source: { directory: string; dockerFile?: string } }>(manifest.dockerImages ?? {});
  t.equal(images.length, 1, 'one container image asset');
  const staged = join(main.outdir, images[0].source.directory);
  t.equal(
    readFileSync(join(staged, 'Dockerfile'), 'utf8'),
    readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'),
    'the repository Dockerfile is the build recipe',
  );
  t.throws(() => readFileSync(join(staged, 'node_modules', '.package-lock.json')), '.dockerignore keeps node_modules out of the build context');
});

t.test('the table is exactly the one src/store/aws/table-schema.ts defines', async (t) => {
  const tables = ofType(json, 'AWS::DynamoDB::Table');
  t.equal(tables.length, 1);
  const p = tables[0][1].Properties;
  t.equal(p.TableName, TABLE_SCHEMA.defaultTableName);
  t.equal(p.BillingMode, TABLE_SCHEMA.billingMode);
  t.same(p.KeySchema, [
    { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
    { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
  ]);
  const attrs = (p.AttributeDefinitions as { AttributeName: string; AttributeType: string }[]).map((a) => `${a.AttributeName}:${a.AttributeType}`).sort();
  t.same(attrs, TABLE_SCHEMA.attributes.map((a) => `${a.name}:${a.type}`).sort(), 'every declared key attribute, with its type, and no other');
  const gsis = (p.GlobalSecondaryIndexes as any[]).map((g) => ({ name: g.IndexName, keys: g.KeySchema, projection: g.Projection.ProjectionType }));
  t.same(
    gsis.sort((a, b) => a.name.localeCompare(b.name)),
    TABLE_SCHEMA.globalSecondaryIndexes
      .map((g) => ({
        name: g.name,
        keys: [
          { AttributeName: g.partitionKey, KeyType: 'HASH' },
          { AttributeName: g.sortKey, KeyType: 'RANGE' },
        ],
        projection: g.projection,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
  t.same(p.TimeToLiveSpecification, { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true });
});

t.test('the table: point-in-time recovery, deletion protection, the customer key, retained', async (t) => {
  const [[, table]] = ofType(json, 'AWS::DynamoDB::Table') as [[string, Resource]];
  const [[keyId]] = ofType(json, 'AWS::KMS::Key') as [[string, Resource]];
  t.same(table.Properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
  t.equal(table.Properties.DeletionProtectionEnabled, true);
  t.same(table.Properties.SSESpecification, { KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] }, SSEEnabled: true, SSEType: 'KMS' });
  template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: { EnableKeyRotation: true, PendingWindowInDays: 30 } });
});

t.test('the bucket: Object Lock, versioning, customer key with bucket key, no public access, retained', async (t) => {
  const [[, bucket]] = ofType(json, 'AWS::S3::Bucket') as [[string, Resource]];
  const [[keyId]] = ofType(json, 'AWS::KMS::Key') as [[string, Resource]];
  const p = bucket.Properties;
  t.equal(p.ObjectLockEnabled, true);
  t.same(p.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 365 } } });
  t.same(p.VersioningConfiguration, { Status: 'Enabled' });
  t.same(p.BucketEncryption.ServerSideEncryptionConfiguration, [
    { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } } },
  ]);
  t.same(p.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  const [rule] = p.LifecycleConfiguration.Rules;
  t.equal(rule.ExpirationInDays, 365, 'objects expire when their retention ends');
  t.same(
    rule.Transitions.map((x: any) => x.StorageClass),
    ['STANDARD_IA', 'GLACIER_IR'],
    'and move to colder storage before',
  );
});

t.test('the bucket policy refuses anything but TLS', async (t) => {
  const [[bucketId]] = ofType(json, 'AWS::S3::Bucket') as [[string, Resource]];
  const [[, policy]] = ofType(json, 'AWS::S3::BucketPolicy') as [[string, Resource]];
  t.same(policy.Properties.Bucket, { Ref: bucketId });
  const deny = (policy.Properties.PolicyDocument.Statement as any[]).find((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false');
  t.ok(deny, 'a Deny on aws:SecureTransport=false');
  t.equal(deny.Action, 's3:*');
  t.same(deny.Principal, { AWS: '*' });
  t.ok(
    (policy.Properties.PolicyDocument.Statement as any[]).some((s) => s.Effect === 'Deny' && s.Condition?.NumericLessThan?.['s3:TlsVersion'] === 1.2),
    'and TLS older than 1.2',
  );
});

t.test('compliance mode and retention days are configurable', async (t) => {
  const other = synth({ objectLockMode: 'compliance', retentionDays: '2555' });
  t.teardown(() => rmSync(other.outdir, { recursive: true, force: true }));
  other.template.hasResourceProperties('AWS::S3::Bucket', { ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } } } });
  other.template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 2555 })] } });
});

t.test("role trust: only AssumeRoleWithWebIdentity from the IdP provider, for kubetape's audience", async (t) => {
  const [[providerId, provider]] = ofType(json, 'AWS::IAM::OIDCProvider') as [[string, Resource]];
  t.equal(provider.Properties.Url, 'https://idp.example.com/realms/ops');
  t.same(provider.Properties.ClientIdList, ['kubetape-cli']);
  const roles = ofType(json, 'AWS::IAM::Role');
  let federated = 0;
  for (const [id, role] of roles) {
    const statements = role.Properties.AssumeRolePolicyDocument.Statement as any[];
    t.equal(statements.length, 1, `${id}: one trust statement`);
    const s = statements[0];
    t.equal(s.Effect, 'Allow');
    if (s.Principal.Federated) {
      federated++;
      t.equal(s.Action, 'sts:AssumeRoleWithWebIdentity', `${id}: web identity only`);
      t.same(s.Principal, { Federated: { Ref: providerId } }, `${id}: from this provider only`);
      t.same(s.Condition, { StringEquals: { 'idp.example.com/realms/ops:aud': 'kubetape-cli' } }, `${id}: for kubetape's audience`);
      t.equal(role.Properties.MaxSessionDuration, 3600, `${id}: bounded sessions`);
    } else {
      t.same(s.Principal, { Service: 'ecs-tasks.amazonaws.com' }, `${id}: otherwise only ECS tasks`);
      t.equal(s.Action, 'sts:AssumeRole');
    }
  }
  t.equal(federated, 3, 'one role per mapped group');
});

t.test('no wildcard actions, and the data plane is never granted on "*"', async (t) => {
  const dataPlane = /^(dynamodb|s3|kms|eks):/;
  for (const [id, policy] of ofType(json, 'AWS::IAM::Policy')) {
    for (const s of policy.Properties.PolicyDocument.Statement as any[]) {
      t.equal(s.Effect, 'Allow', `${id}: allow statements only`);
      for (const action of asList(s.Action) as string[]) {
        t.notMatch(action, /\*/, `${id}: ${action} is not a wildcard`);
        t.notMatch(
          action,
          /Delete|PutBucketPolicy|PutObjectRetention|BypassGovernance|PutObjectLegalHold|ScheduleKeyDeletion|DisableKey/,
          `${id}: ${action} cannot remove or unlock recordings`,
        );
        if (dataPlane.test(action)) t.not(s.Resource, '*', `${id}: ${action} is scoped to resources`);
      }
    }
  }
});

t.test("the task role can reach exactly the table, the bucket's prefix, the key and the mapped clusters", async (t) => {
  const [[, taskPolicy]] = ofType(json, 'AWS::IAM::Policy').filter(([, p]) =>
    (p.Properties.PolicyDocument.Statement as any[]).some((s) => s.Sid === 'RecordingIndex'),
  ) as [[string, Resource]];
  const bySid = Object.fromEntries((taskPolicy.Properties.PolicyDocument.Statement as any[]).map((s) => [s.Sid, s]));
  t.same(Object.keys(bySid).sort(), ['CheckpointKey', 'DescribeMappedClusters', 'RecordingBucket', 'RecordingChunks', 'RecordingIndex', 'RecordingKey']);
  t.same([...asList(bySid['RecordingChunks'].Action)].sort(), ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], 'chunks: write and read, never delete');
  t.match(JSON.stringify(bySid['RecordingChunks'].Resource), /\/recordings\/\*/, 'objects under the recordings prefix only');
  t.notOk(JSON.stringify(taskPolicy).includes('sts:'), 'no STS permission: AssumeRoleWithWebIdentity is unsigned');
  t.match(JSON.stringify(bySid['DescribeMappedClusters'].Resource), /cluster\/prod.*cluster\/staging/);
});

t.test('EKS access entries: one per group and cluster, scoped to the configured namespaces, named after the person', async (t) => {
  const entries = ofType(json, 'AWS::EKS::AccessEntry').map(([, e]) => e.Properties);
  t.equal(entries.length, 6, '3 groups x 2 clusters');
  t.same([...new Set(entries.map((e) => e.ClusterName))].sort(), ['prod', 'staging']);
  for (const e of entries) {
    t.equal(e.Username, '{{SessionName}}');
    t.equal(e.Type, 'STANDARD');
    t.equal(e.AccessPolicies.length, 1);
  }
  const scopes = entries.map((e) => ({
    policy: JSON.stringify(e.AccessPolicies[0].PolicyArn).match(/cluster-access-policy\/(\w+)/)![1],
    scope: e.AccessPolicies[0].AccessScope,
  }));
  for (const s of scopes) {
    if (s.policy === ACCESS_POLICIES['cluster-admin']) t.same(s.scope, { Type: 'cluster' });
    else if (s.policy === ACCESS_POLICIES.edit) t.same(s.scope, { Type: 'namespace', Namespaces: ['apps', 'jobs'] });
    else if (s.policy === ACCESS_POLICIES.view) t.same(s.scope, { Type: 'namespace', Namespaces: ['apps'] });
    else t.fail(`unexpected policy ${s.policy}`);
  }
  t.equal(scopes.filter((s) => s.scope.Type === 'cluster').length, 2, 'only the cluster-admin group is cluster-wide');
});

t.test('tasks run as a non-root user, in the image and in the task definition', async (t) => {
  const [[, task]] = ofType(json, 'AWS::ECS::TaskDefinition') as [[string, Resource]];
  const [container] = task.Properties.ContainerDefinitions;
  t.match(container.User, /^[1-9]\d*:[1-9]\d*$/, 'a numeric non-zero uid:gid');
  t.notOk(container.Privileged, 'not privileged');
  const users = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /^USER\s/.test(l));
  t.ok(users.length > 0, 'the Dockerfile sets USER');
  t.notMatch(users.at(-1)!, /^USER\s+(root|0)(:|\s|$)/, 'and the last USER is not root');
});

t.test('the service: two or more tasks behind an NLB passing TCP 443 through to kubetape', async (t) => {
  template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2, LaunchType: 'FARGATE' });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'TCP' });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
    Port: 8443,
    Protocol: 'TCP',
    TargetType: 'ip',
    HealthCheckPort: '9443',
    HealthCheckPath: '/readyz',
  });
  template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2 });
  const [[, service]] = ofType(json, 'AWS::ECS::Service') as [[string, Resource]];
  t.equal(service.Properties.NetworkConfiguration.AwsvpcConfiguration.Subnets.length, 2, 'tasks spread over two AZs');
  const policies = ofType(json, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(([, p]) => p.Properties);
  t.ok(
    policies.some((p) => p.TargetTrackingScalingPolicyConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType === 'ECSServiceAverageCPUUtilization'),
    'scales on CPU',
  );
  t.ok(
    policies.some((p) => p.PolicyType === 'StepScaling'),
    'and on connections',
  );
  template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '"RECORDING FAILURE"' });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'RecordingFailures', Namespace: 'kubetape' });
});

t.test('an ACM certificate moves TLS to the NLB, still layer 4', async (t) => {
  const other = synth({ tlsSecretArn: '', certificateArn: `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/0000-1111` });
  t.teardown(() => rmSync(other.outdir, { recursive: true, force: true }));
  other.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'TLS' });
  other.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 8443, Protocol: 'TLS' });
  const [[, task]] = ofType(other.json, 'AWS::ECS::TaskDefinition') as [[string, Resource]];
  t.notOk(task.Properties.ContainerDefinitions[0].Secrets, 'no TLS secret in the task');
});

/** The kubetape.yaml text the container gets, with stand-ins for what CloudFormation fills in at deploy time. */
function renderedConfig(json: { Resources: Record<string, Resource> }): string {
  const [[, task]] = ofType(json, 'AWS::ECS::TaskDefinition') as [[string, Resource]];
  const env = (task.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: any }[]).find((e) => e.Name === 'KUBETAPE_CONFIG')!;
  const fill = (part: any): string => {
    if (typeof part === 'string') return part;
    const getAtt = part['Fn::GetAtt'] as [string, string] | undefined;
    const ref = part.Ref as string | undefined;
    const type = json.Resources[getAtt?.[0] ?? ref ?? '']?.Type;
    if (ref === 'AWS::Region' || ref === 'AWS::Partition') return ref === 'AWS::Region' ? REGION : 'aws';
    if (type === 'AWS::IAM::Role') return `arn:aws:iam::${ACCOUNT}:role/${getAtt![0]}`;
    if (type === 'AWS::KMS::Key') return `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    if (type === 'AWS::S3::Bucket') return 'kubetape-storagebucket-abc123';
    if (type === 'AWS::DynamoDB::Table') return TABLE_SCHEMA.defaultTableName;
    throw new Error(`unexpected token in the config: ${JSON.stringify(part)}`);
  };
  return typeof env.Value === 'string' ? env.Value : (env.Value['Fn::Join'][1] as any[]).map(fill).join('');
}

t.test("the rendered kubetape.yaml is accepted by kubetape's own config reader", async (t) => {
  const text = renderedConfig(json);
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubetape.yaml'), text);
  const config = resolveConfig(readConfigFile(join(dir, 'kubetape.yaml')), {});
  t.equal(config.listen, '0.0.0.0:8443');
  t.equal(config.recording.store, 'aws');
  t.equal(config.recording.bucket, 'kubetape-storagebucket-abc123');
  t.equal(config.recording.failMode, 'closed');
  t.equal(config.recording.retentionDays, 365);
  t.same(
    config.clusters?.map((c) => c.name),
    ['prod', 'staging'],
  );
  t.same(
    config.clusters?.[0]?.roles.map((r) => r.group),
    ['platform-admins', 'developers', 'auditors'],
  );
  t.same(
    config.authentication?.oidc.map((o) => [o.issuer, o.audiences]),
    [['https://idp.example.com/realms/ops', ['kubetape-cli']]],
  );
  t.equal(config.tlsCert, '/etc/kubetape/tls/tls.crt');
});

t.test('outputs: the proxy URL and the kubeconfig rewrite command', async (t) => {
  t.ok(json.Outputs['ProxyUrl']);
  const cmd = JSON.stringify(json.Outputs['KubeconfigRewriteCommand'].Value);
  t.match(cmd, /kubetape kubeconfig rewrite --all --clusters --proxy https:\/\//);
  t.match(cmd, /--oidc-issuer https:\/\/idp\.example\.com\/realms\/ops --oidc-client-id kubetape-cli/);
});

t.test('bad settings fail synth with a message naming the key', async (t) => {
  const read = (over: Record<string, unknown>) => () => readSettings((k) => ({ ...BASE_CONTEXT, ...over })[k], 'kubetape-sessions');
  t.throws(read({ issuer: undefined }), new SettingsError('context "issuer" is required (-c issuer=...)'));
  t.throws(read({ issuer: 'http://idp.example.com' }), /https URL/);
  t.throws(read({ groups: JSON.stringify([{ group: 'dev', access: 'edit' }]) }), /needs "namespaces"/);
  t.throws(read({ groups: JSON.stringify([{ group: 'dev', access: 'root' }]) }), /access must be one of/);
  t.throws(read({ groups: 'not json' }), /JSON list/);
  t.throws(read({ certificateArn: `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/x` }), /exactly one of/);
  t.throws(read({ minTasks: '1' }), /minTasks/);
  t.throws(read({ objectLockMode: 'none' }), /objectLockMode/);
  t.throws(read({ clusters: '' }), /at least one EKS cluster/);
  t.equal(read({})().retentionDays, 365);
});

// Guardrails: the policy is validated at synth by kubetape's own loader and
// embedded in kubetape.yaml; the approvers' webhook URL only ever travels as
// an ECS secret.
const WEBHOOK_SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:kubetape-approvals-webhook-XyZ123`;
const EXAMPLE_POLICY = join(REPO_ROOT, 'examples', 'policy.yaml');

function containerOf(j: { Resources: Record<string, Resource> }): Record<string, any> {
  const [[, task]] = ofType(j, 'AWS::ECS::TaskDefinition') as [[string, Resource]];
  return task.Properties.ContainerDefinitions[0];
}

/** Reads the rendered config with kubetape's own reader, with `env` set meanwhile (the container's environment). */
function readRendered(t: Test, j: { Resources: Record<string, Resource> }, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubetape.yaml'), renderedConfig(j));
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return resolveConfig(readConfigFile(join(dir, 'kubetape.yaml')), {});
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

t.test('without policyFile the config has no policy', async (t) => {
  t.notOk(JSON.parse(renderedConfig(json)).policy);
});

t.test('policyFile (relative to infra/): the policy is embedded in kubetape.yaml and kubetape reads the same rules', async (t) => {
  const other = synth({ policyFile: '../examples/policy.yaml' });
  t.teardown(() => rmSync(other.outdir, { recursive: true, force: true }));
  const embedded = JSON.parse(renderedConfig(other.json)).policy;
  t.ok(embedded, 'kubetape.yaml has a policy: key');
  t.notOk(embedded.approvals, 'no approvals block: the example has no webhook');
  const config = readRendered(t, other.json);
  const fromFile = loadPolicyFile(EXAMPLE_POLICY);
  t.same(
    config.policy?.rules.map((r) => [r.name, r.action]),
    fromFile.rules.map((r) => [r.name, r.action]),
    "the rules kubetape loads from the config are the file's, names and actions",
  );
  t.ok(
    config.policy!.rules.some((r) => r.action === 'require-approval'),
    'approval rules included',
  );
  t.same(
    config.policy?.patterns.map((p) => p.name),
    fromFile.patterns.map((p) => p.name),
    'and the masking patterns',
  );
  t.notOk(
    containerOf(other.json).Secrets.some((x: any) => x.Name === APPROVALS_WEBHOOK_ENV),
    'no webhook secret without approvalsWebhookSecretArn',
  );
});

t.test('the task role covers what the DynamoDB approval store does (conditional PutItem, consistent Query)', async (t) => {
  const [[, taskPolicy]] = ofType(json, 'AWS::IAM::Policy').filter(([, p]) =>
    (p.Properties.PolicyDocument.Statement as any[]).some((s) => s.Sid === 'RecordingIndex'),
  ) as [[string, Resource]];
  const index = (taskPolicy.Properties.PolicyDocument.Statement as any[]).find((s) => s.Sid === 'RecordingIndex');
  for (const action of ['dynamodb:PutItem', 'dynamodb:Query']) t.ok(asList(index.Action).includes(action), action);
  const [[tableId]] = ofType(json, 'AWS::DynamoDB::Table') as [[string, Resource]];
  t.same(asList(index.Resource)[0], { 'Fn::GetAtt': [tableId, 'Arn'] }, 'on the recording table');
});

t.test('a broken policy fails synth with file:line, as `kubetape policy check` says it', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'rules:\n  - match: {verb: delete}\n    action: destroy\n' });
  const file = join(dir, 'bad.yaml');
  const err = (() => {
    try {
      const app = new App({ outdir: join(dir, 'cdk.out'), context: { ...BASE_CONTEXT, policyFile: file } });
      new KubetapeStack(app, 'Kubetape', { imageDirectory: REPO_ROOT, env: { account: ACCOUNT, region: REGION } });
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  t.ok(err instanceof SettingsError, 'a SettingsError (bin/kubetape.ts prints it without a stack)');
  t.equal(err?.message, `${file}:3: action must be one of deny, allow, mask, require-approval, got "destroy"`);
  t.throws(() => loadPolicyFile(file), new PolicyError(err!.message), "the very message kubetape's own loader gives");
  const read = (over: Record<string, unknown>) => () => readSettings((k) => ({ ...BASE_CONTEXT, ...over })[k], 'kubetape-sessions', dir);
  t.throws(read({ policyFile: 'missing.yaml' }), /context "policyFile": cannot read .*missing\.yaml/);
  t.throws(read({ policyFile: 'bad.yaml' }), /bad\.yaml:3: action must be one of/, 'a relative path is read from the infra directory given');
});

t.test('an inline approvals.webhook is refused, pointing to approvalsWebhookSecretArn', async (t) => {
  const dir = t.testdir({
    'hook.yaml': 'approvals:\n  webhook: https://hooks.slack.com/services/T000/B000/XXXX\nrules: []\n',
    'env.yaml': 'approvals:\n  webhookFromEnv: SOME_VAR\nrules: []\n',
    'ok.yaml': 'rules: []\n',
  });
  const read = (over: Record<string, unknown>) => () => readSettings((k) => ({ ...BASE_CONTEXT, ...over })[k], 'kubetape-sessions', dir);
  t.throws(read({ policyFile: 'hook.yaml' }), /^hook\.yaml:2: approvals\.webhook would put .* -c approvalsWebhookSecretArn=ARN/);
  t.throws(read({ policyFile: 'env.yaml' }), /^env\.yaml:2: leave approvals\.webhookFromEnv out .*approvalsWebhookSecretArn/);
  t.throws(read({ policyFile: 'ok.yaml', approvalsWebhookSecretArn: 'kubetape-approvals-webhook' }), /complete secret ARN/);
  t.throws(read({ approvalsWebhookSecretArn: WEBHOOK_SECRET_ARN }), /give -c policyFile=/);
  t.equal(read({ policyFile: 'ok.yaml', approvalsWebhookSecretArn: WEBHOOK_SECRET_ARN })().approvalsWebhookSecretArn, WEBHOOK_SECRET_ARN);
});

t.test('approvalsWebhookSecretArn: an ECS secret the execution role may read, and the policy says webhookFromEnv', async (t) => {
  const other = synth({ policyFile: EXAMPLE_POLICY, approvalsWebhookSecretArn: WEBHOOK_SECRET_ARN });
  t.teardown(() => rmSync(other.outdir, { recursive: true, force: true }));
  const container = containerOf(other.json);
  t.same(
    container.Secrets.find((x: any) => x.Name === APPROVALS_WEBHOOK_ENV),
    { Name: APPROVALS_WEBHOOK_ENV, ValueFrom: WEBHOOK_SECRET_ARN },
    'the whole secret string',
  );
  t.notOk(
    (container.Environment as any[]).some((e) => e.Name === APPROVALS_WEBHOOK_ENV),
    'not in the plain environment',
  );
  const embedded = JSON.parse(renderedConfig(other.json)).policy;
  t.same(embedded.approvals, { webhookFromEnv: APPROVALS_WEBHOOK_ENV });

  const execRoleId = Object.values(other.json.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!.Properties.ExecutionRoleArn['Fn::GetAtt'][0];
  const execPolicies = ofType(other.json, 'AWS::IAM::Policy').filter(([, p]) => (p.Properties.Roles as any[]).some((r) => r.Ref === execRoleId));
  const grants = execPolicies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]).filter((s) => s.Resource === WEBHOOK_SECRET_ARN);
  t.ok(
    grants.some((s) => asList(s.Action).includes('secretsmanager:GetSecretValue')),
    'the execution role reads the secret',
  );
  const taskRoleId = Object.values(other.json.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!.Properties.TaskRoleArn['Fn::GetAtt'][0];
  t.notOk(
    JSON.stringify(ofType(other.json, 'AWS::IAM::Policy').filter(([, p]) => (p.Properties.Roles as any[]).some((r) => r.Ref === taskRoleId))).includes(
      'secretsmanager',
    ),
    'the task role does not',
  );

  const url = 'https://hooks.slack.com/services/T000/B000/XXXX';
  const config = readRendered(t, other.json, { [APPROVALS_WEBHOOK_ENV]: url });
  t.equal(config.policy?.approvals?.webhook, url, "kubetape reads the URL from the secret's variable");
  t.throws(
    () => readRendered(t, other.json, { [APPROVALS_WEBHOOK_ENV]: '' }),
    new RegExp(`policy\\.approvals\\.webhookFromEnv: .*${APPROVALS_WEBHOOK_ENV} is not set`),
    'and refuses to start without it',
  );
});

t.test('the checkpoint key: an HMAC key kept in KMS; the task role may make and check MACs with it, nothing more; the config names it', async (t) => {
  const keys = ofType(json, 'AWS::KMS::Key');
  const hmac = keys.filter(([, k]) => k.Properties.KeySpec === 'HMAC_256');
  t.equal(hmac.length, 1, 'one HMAC key');
  const [[hmacId, key]] = hmac as [[string, Resource]];
  t.equal(key.Properties.KeyUsage, 'GENERATE_VERIFY_MAC');
  template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: { KeySpec: 'HMAC_256' } });
  t.equal(key.Properties.PendingWindowInDays, 30);
  const [[, taskPolicy]] = ofType(json, 'AWS::IAM::Policy').filter(([, p]) =>
    (p.Properties.PolicyDocument.Statement as any[]).some((s) => s.Sid === 'RecordingIndex'),
  ) as [[string, Resource]];
  const statements = taskPolicy.Properties.PolicyDocument.Statement as any[];
  const onKey = statements.filter((s) => JSON.stringify(s.Resource).includes(`"${hmacId}"`));
  t.same(
    onKey.map((s) => [s.Sid, [...asList(s.Action)].sort()]),
    [['CheckpointKey', ['kms:GenerateMac', 'kms:VerifyMac']]],
    'GenerateMac and VerifyMac on the checkpoint key, in one statement',
  );
  t.same(onKey[0].Resource, { 'Fn::GetAtt': [hmacId, 'Arn'] });
  const bucketStatement = statements.find((s) => s.Sid === 'RecordingBucket');
  t.same([...asList(bucketStatement.Action)].sort(), ['s3:ListBucket', 's3:ListBucketVersions'], 'verify lists the versions of the checkpoints');
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubetape.yaml'), renderedConfig(json));
  const config = resolveConfig(readConfigFile(join(dir, 'kubetape.yaml')), {});
  t.match(config.recording.checkpointKmsKeyId, /^arn:aws:kms:/, 'kubetape is configured to sign its checkpoints with it');
});
