// kubetape.yaml for the deployed service, rendered from the deployment
// settings and the resources the other constructs created. YAML is a
// superset of JSON, so the file is JSON: CDK can then put resource names
// and ARNs (tokens at synth time) into it safely. It holds no secrets (the
// TLS key and the approvers' webhook URL come from Secrets Manager
// separately), so it travels in the task definition's environment: a change
// is a new task definition revision and a rolling deployment, and auditors
// can read it from the stack.
import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { embeddedPolicy } from './policy.js';
import type { DeploymentSettings } from './settings.js';
import type { Identity } from './identity.js';
import type { Storage } from './storage.js';

/** Paths inside the container; the Dockerfile creates these directories for the kubetape user. */
export const CONTAINER_PATHS = {
  config: '/etc/kubetape/kubetape.yaml',
  tlsCert: '/etc/kubetape/tls/tls.crt',
  tlsKey: '/etc/kubetape/tls/tls.key',
  dataDir: '/var/lib/kubetape',
} as const;

export const API_PORT = 8443;
export const ADMIN_PORT = 9443;

export interface ConfigurationProps {
  settings: DeploymentSettings;
  storage: Storage;
  identity: Identity;
}

export class Configuration extends Construct {
  /** kubetape's config as a plain object (tokens for resource names). */
  readonly document: Record<string, unknown>;
  /** The same, as the text of kubetape.yaml. */
  readonly text: string;

  constructor(scope: Construct, id: string, props: ConfigurationProps) {
    super(scope, id);
    const { settings: s, storage, identity } = props;
    const region = Stack.of(this).region;
    const oidc: Record<string, unknown> = { issuer: s.issuer, clientId: s.clientId, groupsClaim: s.groupsClaim };
    if (s.usernameClaim) oidc['usernameClaim'] = s.usernameClaim;
    const doc: Record<string, unknown> = {
      // Inside a task the NLB reaches the API port and the health checks the admin port.
      listen: `0.0.0.0:${API_PORT}`,
      adminListen: `0.0.0.0:${ADMIN_PORT}`,
      dataDir: CONTAINER_PATHS.dataDir,
      authentication: { oidc: [oidc] },
      clusters: s.clusters.map((name) => ({
        name,
        eks: { name, region },
        roles: identity.roles.map((r) => ({ group: r.group, roleArn: r.role.roleArn })),
      })),
      aws: { region, sessionDurationSeconds: s.sessionDurationSeconds },
      recording: {
        store: 'aws',
        table: storage.table.tableName,
        bucket: storage.bucket.bucketName,
        prefix: storage.prefix,
        retentionDays: s.retentionDays,
        kmsKeyId: storage.key.keyArn,
        checkpointKmsKeyId: storage.checkpointKey.keyArn,
        failMode: 'closed',
      },
    };
    // Passthrough: kubetape serves the operator's certificate. With an ACM certificate on
    // the NLB, each task serves its own generated one (the NLB does not verify targets).
    if (s.tlsSecretArn) {
      doc['tlsCert'] = CONTAINER_PATHS.tlsCert;
      doc['tlsKey'] = CONTAINER_PATHS.tlsKey;
    }
    // Guardrails inline (kubetape parses them with parsePolicyObject): a policy change is a
    // new task definition revision, rolled out like any other config change.
    if (s.policy) doc['policy'] = embeddedPolicy(s.policy, s.approvalsWebhookSecretArn !== undefined);
    this.document = doc;
    this.text = Stack.of(this).toJsonString(doc, 2);
  }
}
