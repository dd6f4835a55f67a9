// Who may do what on the clusters: the IdP as an IAM OIDC provider, one IAM
// role per mapped group that only a token from that IdP for kubetape's
// client id can assume, and an EKS access entry per role and cluster that
// grants the group's access in its namespaces. kubetape assumes the role with
// the caller's own ID token and names the session after the caller, so the
// cluster's audit log shows the person ({{SessionName}}), not kubetape.
import { Arn, Duration, Stack, aws_eks as eks, aws_iam as iam } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ACCESS_POLICIES, type GroupMapping } from './settings.js';

export interface IdentityProps {
  issuer: string;
  clientId: string;
  clusters: string[];
  groups: GroupMapping[];
  sessionDurationSeconds: number;
}

export interface GroupRole {
  group: string;
  role: iam.Role;
}

export class Identity extends Construct {
  readonly provider: iam.OidcProviderNative;
  readonly roles: GroupRole[] = [];
  /** ARNs of the mapped EKS clusters, for eks:DescribeCluster. */
  readonly clusterArns: string[];

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // The native provider (AWS::IAM::OIDCProvider): no custom-resource Lambda; IAM
    // fetches the issuer's certificate thumbprint itself.
    this.provider = new iam.OidcProviderNative(this, 'Provider', { url: props.issuer, clientIds: [props.clientId] });
    this.clusterArns = props.clusters.map((name) => Arn.format({ service: 'eks', resource: 'cluster', resourceName: name }, stack));
    // IAM condition keys name the provider by its URL without the scheme.
    const providerKey = props.issuer.replace(/^https:\/\//, '');

    props.groups.forEach((g, i) => {
      // Only the aud claim is tested: IAM cannot read a groups claim, so which role a
      // person gets is kubetape's choice (by their groups); the trust policy makes sure
      // only tokens issued to kubetape's client by this IdP are accepted at all.
      const role = new iam.Role(this, `GroupRole${i}`, {
        description: `kubetape: people in IdP group "${g.group}" (${g.access}${g.namespaces.length ? ` in ${g.namespaces.join(', ')}` : ''})`,
        assumedBy: new iam.WebIdentityPrincipal(this.provider.oidcProviderArn, {
          StringEquals: { [`${providerKey}:aud`]: props.clientId },
        }),
        maxSessionDuration: Duration.seconds(props.sessionDurationSeconds),
      });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['eks:DescribeCluster'], resources: this.clusterArns }));
      this.roles.push({ group: g.group, role });

      props.clusters.forEach((cluster, c) => {
        new eks.CfnAccessEntry(this, `Access${i}On${c}`, {
          clusterName: cluster,
          principalArn: role.roleArn,
          type: 'STANDARD',
          username: '{{SessionName}}',
          accessPolicies: [
            {
              policyArn: `arn:${stack.partition}:eks::aws:cluster-access-policy/${ACCESS_POLICIES[g.access]}`,
              accessScope: g.access === 'cluster-admin' ? { type: 'cluster' } : { type: 'namespace', namespaces: g.namespaces },
            },
          ],
        });
      });
    });
  }
}
