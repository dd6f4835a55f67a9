// The whole deployment, composed the way ARCHITECTURE.md draws it: storage
// for recordings, identity for people, the configuration that ties them to
// kubetape, and the service that runs it.
import { CfnOutput, Stack, type StackProps, aws_ecs as ecs } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../src/store/aws/table-schema.js';
import { Configuration } from './configuration.js';
import { Identity } from './identity.js';
import { Service } from './service.js';
import { readSettings, type DeploymentSettings } from './settings.js';
import { Storage } from './storage.js';

export interface KubetapeStackProps extends StackProps {
  /** Directory with kubetape's Dockerfile (the repository root). */
  imageDirectory: string;
  /** Settings; default: read from CDK context. */
  settings?: DeploymentSettings;
}

export class KubetapeStack extends Stack {
  readonly settings: DeploymentSettings;
  readonly storage: Storage;
  readonly identity: Identity;
  readonly configuration: Configuration;
  readonly service: Service;

  constructor(scope: Construct, id: string, props: KubetapeStackProps) {
    super(scope, id, props);
    const s = (this.settings = props.settings ?? readSettings((k) => this.node.tryGetContext(k), TABLE_SCHEMA.defaultTableName));

    this.storage = new Storage(this, 'Storage', { tableName: s.tableName, retentionDays: s.retentionDays, objectLockMode: s.objectLockMode });
    this.identity = new Identity(this, 'Identity', {
      issuer: s.issuer,
      clientId: s.clientId,
      clusters: s.clusters,
      groups: s.groups,
      sessionDurationSeconds: s.sessionDurationSeconds,
    });
    this.configuration = new Configuration(this, 'Configuration', { settings: s, storage: this.storage, identity: this.identity });
    this.service = new Service(this, 'Service', {
      settings: s,
      storage: this.storage,
      identity: this.identity,
      configuration: this.configuration,
      // Built from the repository's Dockerfile at deploy time; synth only hashes the files.
      image: ecs.ContainerImage.fromAsset(props.imageDirectory, { file: 'Dockerfile' }),
    });

    const host = s.domainName ?? this.service.loadBalancer.loadBalancerDnsName;
    const proxyUrl = `https://${host}`;
    const rewrite = [
      'kubetape kubeconfig rewrite --all --clusters',
      `--proxy ${proxyUrl}`,
      `--oidc-issuer ${s.issuer}`,
      `--oidc-client-id ${s.clientId}`,
      '--oidc-extra-scope groups',
      // rewrite pins a CA: the one that issued the operator's certificate, or Amazon's root for ACM.
      s.certificateArn ? '--ca AmazonRootCA1.pem' : '--ca YOUR_CERTIFICATE_CA.pem',
      '--in-place',
    ]
      .filter((x) => x !== '')
      .join(' ');
    new CfnOutput(this, 'ProxyUrl', { value: proxyUrl, description: 'Where kubectl reaches kubetape; clusters at /clusters/NAME' });
    new CfnOutput(this, 'KubeconfigRewriteCommand', {
      value: rewrite,
      description: "Run on each person's machine: points every context (named like the cluster) at kubetape",
    });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.service.loadBalancer.loadBalancerDnsName, description: 'Point your DNS name (domainName) here' });
    new CfnOutput(this, 'TableName', { value: this.storage.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'KmsKeyArn', { value: this.storage.key.keyArn });
    new CfnOutput(this, 'LogGroupName', { value: this.service.logGroup.logGroupName });
  }
}
