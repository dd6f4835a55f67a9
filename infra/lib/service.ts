// kubetape itself: the container on ECS Fargate behind a Network Load
// Balancer, its least-privilege task role, logs and alarms.
//
// Why Fargate and not a Deployment on one of the recorded EKS clusters:
// kubetape is the audit trail *of* those clusters, so it should not run on
// them (a cluster-admin could stop or alter the recorder of their own
// actions), and it should stay up when a cluster is broken, which is when
// people reach for kubectl. Fargate gives that with no nodes to patch.
//
// Why an NLB: kubectl's exec, attach and port-forward upgrade the HTTP/1.1
// connection (SPDY or WebSocket); a layer-4 balancer passes those bytes
// through untouched, where an ALB would terminate HTTP and could speak
// HTTP/2 to clients.
import {
  Duration,
  aws_applicationautoscaling as appscaling,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ADMIN_PORT, API_PORT, CONTAINER_PATHS, type Configuration } from './configuration.js';
import type { Identity } from './identity.js';
import { APPROVALS_WEBHOOK_ENV } from './policy.js';
import type { DeploymentSettings } from './settings.js';
import type { Storage } from './storage.js';

/** The uid:gid of the `kubetape` user the Dockerfile creates. */
export const CONTAINER_USER = '10001:10001';

/** kubetape's log lines that mean a recording is at risk; each becomes a metric and an alarm. */
export const RECORDING_LOG_ALARMS = [
  {
    id: 'RecordingFailures',
    pattern: '"RECORDING FAILURE"',
    metric: 'RecordingFailures',
    what: 'a request could not be recorded (with failMode closed it was refused)',
  },
  {
    id: 'UploadFailures',
    pattern: '"recording upload cycle failed"',
    metric: 'UploadFailures',
    what: 'uploads of the spool to DynamoDB/S3 are failing (the spool grows)',
  },
  { id: 'RecordingConflicts', pattern: '"CONFLICT"', metric: 'RecordingConflicts', what: 'a chunk or session was already indexed with another hash' },
] as const;

export const METRIC_NAMESPACE = 'kubetape';

export interface ServiceProps {
  settings: DeploymentSettings;
  storage: Storage;
  identity: Identity;
  configuration: Configuration;
  image: ecs.ContainerImage;
}

export class Service extends Construct {
  readonly vpc: ec2.IVpc;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly service: ecs.FargateService;
  readonly taskRole: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ServiceProps) {
    super(scope, id);
    const { settings: s, storage, identity } = props;

    this.vpc = s.vpcId ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: s.vpcId }) : new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 2 });
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc: this.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'kubetape tasks: write and read recordings, describe the mapped EKS clusters',
    });
    this.grantRecording(storage);
    // STS AssumeRoleWithWebIdentity is an unsigned call authorised by the caller's ID
    // token and the role's trust policy, so the task role needs no sts:* permission.
    this.taskRole.addToPolicy(new iam.PolicyStatement({ sid: 'DescribeMappedClusters', actions: ['eks:DescribeCluster'], resources: identity.clusterArns }));

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_YEAR });

    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: s.cpu,
      memoryLimitMiB: s.memoryMiB,
      taskRole: this.taskRole,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      // The spool lives on task storage until uploaded; room for spoolMaxBytes (1 GiB) and more.
      ephemeralStorageGiB: 30,
    });
    const secrets: Record<string, ecs.Secret> = {};
    if (s.tlsSecretArn) {
      const tls = secretsmanager.Secret.fromSecretCompleteArn(this, 'TlsSecret', s.tlsSecretArn);
      secrets['KUBETAPE_TLS_CERT'] = ecs.Secret.fromSecretsManager(tls, 'cert');
      secrets['KUBETAPE_TLS_KEY'] = ecs.Secret.fromSecretsManager(tls, 'key');
    }
    if (s.approvalsWebhookSecretArn) {
      // The whole secret string is the URL; ECS grants the execution role read on it.
      const webhook = secretsmanager.Secret.fromSecretCompleteArn(this, 'ApprovalsWebhookSecret', s.approvalsWebhookSecretArn);
      secrets[APPROVALS_WEBHOOK_ENV] = ecs.Secret.fromSecretsManager(webhook);
    }
    task.addContainer('kubetape', {
      image: props.image,
      user: CONTAINER_USER,
      // Writes the config (and the TLS pair, when kubetape terminates TLS) where the
      // image's entrypoint expects them, then becomes kubetape.
      entryPoint: ['/bin/sh', '-c'],
      command: [startScript()],
      environment: { KUBETAPE_CONFIG: props.configuration.text },
      secrets,
      portMappings: [{ containerPort: API_PORT }, { containerPort: ADMIN_PORT }],
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'kubetape' }),
      healthCheck: {
        command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${ADMIN_PORT}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(20),
      },
      // Time to close sessions and flush the spool on a rolling deployment or scale-in.
      stopTimeout: Duration.seconds(120),
    });

    const sg = new ec2.SecurityGroup(this, 'TaskSecurityGroup', { vpc: this.vpc, description: 'kubetape tasks: API and health from the NLB (inside the VPC)' });
    sg.addIngressRule(ec2.Peer.ipv4(this.vpc.vpcCidrBlock), ec2.Port.tcp(API_PORT), 'kubectl via the NLB');
    sg.addIngressRule(ec2.Peer.ipv4(this.vpc.vpcCidrBlock), ec2.Port.tcp(ADMIN_PORT), 'NLB health checks');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition: task,
      desiredCount: s.minTasks,
      securityGroups: [sg],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      // Fargate spreads a service's tasks over the subnets' AZs; two private subnets in two AZs.
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
    });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'Nlb', {
      vpc: this.vpc,
      internetFacing: s.internetFacing,
      crossZoneEnabled: true,
      vpcSubnets: { subnetType: s.internetFacing ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
    const listener = s.certificateArn
      ? this.loadBalancer.addListener('Https', {
          port: 443,
          protocol: elbv2.Protocol.TLS,
          certificates: [{ certificateArn: s.certificateArn }],
          sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        })
      : this.loadBalancer.addListener('Https', { port: 443, protocol: elbv2.Protocol.TCP });
    const targets = listener.addTargets('Kubetape', {
      port: API_PORT,
      protocol: s.certificateArn ? elbv2.Protocol.TLS : elbv2.Protocol.TCP,
      targets: [this.service.loadBalancerTarget({ containerName: 'kubetape', containerPort: API_PORT })],
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        port: String(ADMIN_PORT),
        path: '/readyz',
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      // Long enough for sessions to end and the spool to be uploaded.
      deregistrationDelay: Duration.seconds(90),
    });

    const scaling = this.service.autoScaleTaskCount({ minCapacity: s.minTasks, maxCapacity: s.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
    // Connections: open flows through the NLB, compared with what minTasks handle.
    // (Exec and watch hold connections open with little CPU, so CPU alone lags.)
    const flows = this.loadBalancer.metrics.activeFlowCount({ period: Duration.minutes(1), statistic: 'Average' });
    scaling.scaleOnMetric('Connections', {
      metric: flows,
      scalingSteps: [
        { upper: s.connectionsPerTask * s.minTasks * 0.5, change: -1 },
        { lower: s.connectionsPerTask * s.minTasks, change: +1 },
        { lower: s.connectionsPerTask * s.minTasks * 2, change: +2 },
      ],
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.minutes(3),
    });

    this.addAlarms(targets, s);
  }

  /** Exactly what the store does (src/store/aws): no deletes, no scans, nothing outside the table, the bucket and the key. */
  private grantRecording(storage: Storage): void {
    const table = storage.table;
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RecordingIndex',
        actions: [
          'dynamodb:DescribeTable',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:Query',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [table.tableArn, `${table.tableArn}/index/*`],
      }),
    );
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RecordingChunks',
        // GetObjectVersion: `kubetape verify --all` reads a checkpoint that was overwritten or hidden by a delete marker.
        actions: ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'],
        resources: [storage.bucket.arnForObjects(`${storage.prefix}*`)],
      }),
    );
    // ListBucketVersions: verify finds deleted and overwritten checkpoints among the bucket's versions.
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'RecordingBucket', actions: ['s3:ListBucket', 's3:ListBucketVersions'], resources: [storage.bucket.bucketArn] }),
    );
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RecordingKey',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [storage.key.keyArn],
      }),
    );
    // The checkpoints' MACs: made by the uploader, checked by `kubetape verify`. Nothing else on that key.
    this.taskRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'CheckpointKey', actions: ['kms:GenerateMac', 'kms:VerifyMac'], resources: [storage.checkpointKey.keyArn] }),
    );
  }

  private addAlarms(targets: elbv2.NetworkTargetGroup, s: DeploymentSettings): void {
    // kubetape's own figures (spool depth, upload failures, fail-closed refusals) are
    // Prometheus metrics on the admin port; shipping them to CloudWatch needs an agent
    // sidecar. Instead the alarms watch the log lines kubetape writes when recording is
    // at risk, plus the balancer's and the service's own metrics. HTTP 5xx are not
    // visible to a layer-4 balancer: scrape kubetape_requests_total for those.
    for (const a of RECORDING_LOG_ALARMS) {
      new logs.MetricFilter(this, `${a.id}Filter`, {
        logGroup: this.logGroup,
        filterPattern: logs.FilterPattern.literal(a.pattern),
        metricNamespace: METRIC_NAMESPACE,
        metricName: a.metric,
        metricValue: '1',
        defaultValue: 0,
      });
      const metric = new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: a.metric, statistic: 'Sum', period: Duration.minutes(5) });
      this.alarms.push(
        metric.createAlarm(this, `${a.id}Alarm`, {
          alarmDescription: `kubetape: ${a.what}`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    this.alarms.push(
      targets.metrics.unHealthyHostCount({ period: Duration.minutes(1) }).createAlarm(this, 'UnhealthyTasksAlarm', {
        alarmDescription: 'kubetape: a task fails its readiness check (/readyz: store unreachable?)',
        threshold: 1,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      }),
      targets.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }).createAlarm(this, 'TooFewTasksAlarm', {
        alarmDescription: `kubetape: fewer than ${s.minTasks} healthy tasks`,
        threshold: s.minTasks,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      this.loadBalancer.metrics.tcpTargetResetCount({ period: Duration.minutes(5) }).createAlarm(this, 'TargetResetsAlarm', {
        alarmDescription: 'kubetape: tasks reset many connections (crashes, or refusals under load)',
        threshold: 50,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      this.service.metricCpuUtilization({ period: Duration.minutes(5) }).createAlarm(this, 'CpuAlarm', {
        alarmDescription: 'kubetape: CPU stays high even after scaling out',
        threshold: 85,
        evaluationPeriods: 3,
      }),
    );
  }
}

/**
 * The container's start: materialise config and TLS pair from the environment, then exec kubetape.
 * KUBETAPE_APPROVALS_WEBHOOK stays set: the policy's webhookFromEnv reads it at every load.
 */
export function startScript(): string {
  return [
    'set -eu',
    'umask 077',
    `mkdir -p ${dirname(CONTAINER_PATHS.tlsCert)}`,
    `printf '%s\\n' "$KUBETAPE_CONFIG" > ${CONTAINER_PATHS.config}`,
    `if [ -n "\${KUBETAPE_TLS_CERT:-}" ]; then printf '%s\\n' "$KUBETAPE_TLS_CERT" > ${CONTAINER_PATHS.tlsCert}; printf '%s\\n' "$KUBETAPE_TLS_KEY" > ${CONTAINER_PATHS.tlsKey}; fi`,
    'unset KUBETAPE_TLS_KEY KUBETAPE_TLS_CERT KUBETAPE_CONFIG',
    `exec node bin/kubetape.js serve --config ${CONTAINER_PATHS.config}`,
  ].join('\n');
}

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf('/'));
}
