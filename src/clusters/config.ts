// The `clusters` and `aws` sections: many clusters behind one kubetape,
// reached at /clusters/NAME. An EKS cluster is reached with each caller's
// own IAM role (picked by their groups); any other cluster with kubetape's
// own credential (from a kubeconfig) plus impersonation of the caller.
import { ConfigError } from '../model/config-error.js';
import { checkUrl, list, mapping, onlyKeys, optionalBoolean, optionalNumber, optionalString, requiredString } from '../model/validate.js';
import type { RoleMapping } from '../credentials/role-selection.js';

export interface AwsConfig {
  /** Region of the STS endpoint kubetape calls (default: the first EKS cluster's region). */
  region: string;
  /** STS endpoint override (a VPC endpoint; moto_server in tests). */
  stsEndpoint?: string;
  /** EKS API endpoint override, for DescribeCluster. */
  eksEndpoint?: string;
  /** DurationSeconds asked of STS (default 3600; 900 to 43200, within the role's maximum). */
  sessionDurationSeconds: number;
  /** Each STS/EKS call may take this long (default 10). */
  timeoutSeconds: number;
}

export interface ClusterSpec {
  /** The path segment: https://kubetape/clusters/NAME; also the name recordings carry. */
  name: string;
  eks?: { name: string; region: string };
  /** API server URL: required for non-EKS clusters without a kubeconfig; for EKS, overrides DescribeCluster (private endpoints). */
  server?: string;
  /** PEM file of the API server's CA; overrides DescribeCluster / the kubeconfig. */
  ca?: string;
  insecureSkipTlsVerify: boolean;
  /** EKS: which group gets which IAM role. */
  roles: RoleMapping[];
  /** Non-EKS: kubetape's own credential for the cluster, from this kubeconfig and context. */
  kubeconfig?: string;
  context?: string;
  /** Non-EKS: send an agent's name and whom it acts for as user extras (Impersonate-Extra-kubetape.io/...). */
  agentExtras?: boolean;
}

export interface ClustersConfig {
  aws?: AwsConfig;
  clusters: ClusterSpec[];
}

const CLUSTER_KEYS = ['name', 'eks', 'server', 'ca', 'insecureSkipTlsVerify', 'roles', 'kubeconfig', 'context', 'agentExtras'] as const;
const AWS_KEYS = ['region', 'stsEndpoint', 'eksEndpoint', 'sessionDurationSeconds', 'timeoutSeconds'] as const;
const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

function parseRole(raw: unknown, where: string): RoleMapping {
  const o = mapping(raw, where);
  onlyKeys(o, ['group', 'roleArn', 'priority'], where);
  const roleArn = requiredString(o, 'roleArn', where);
  if (!ROLE_ARN.test(roleArn))
    throw new ConfigError(`${where}.roleArn must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME), got ${JSON.stringify(roleArn)}`);
  return { group: requiredString(o, 'group', where), roleArn, priority: optionalNumber(o, 'priority', where, -1e6, 1e6) ?? 0 };
}

export function parseCluster(raw: unknown, where: string, resolvePath: (p: string) => string): ClusterSpec {
  const o = mapping(raw, where);
  onlyKeys(o, CLUSTER_KEYS, where);
  const name = requiredString(o, 'name', where);
  if (!NAME.test(name))
    throw new ConfigError(`${where}.name must be lower-case letters, digits, '.', '_' or '-' (it is a URL path segment), got ${JSON.stringify(name)}`);
  const spec: ClusterSpec = { name, insecureSkipTlsVerify: optionalBoolean(o, 'insecureSkipTlsVerify', where) ?? false, roles: [] };
  if (o['eks'] !== undefined) {
    const e = mapping(o['eks'], `${where}.eks`);
    onlyKeys(e, ['name', 'region'], `${where}.eks`);
    const region = requiredString(e, 'region', `${where}.eks`);
    if (!REGION.test(region)) throw new ConfigError(`${where}.eks.region must be an AWS region such as us-east-1, got ${JSON.stringify(region)}`);
    spec.eks = { name: requiredString(e, 'name', `${where}.eks`), region };
  }
  const server = optionalString(o, 'server', where);
  if (server) spec.server = checkUrl(server, `${where}.server`, { allowLoopbackHttp: true }).toString().replace(/\/+$/, '');
  const ca = optionalString(o, 'ca', where);
  if (ca) spec.ca = resolvePath(ca);
  const kubeconfig = optionalString(o, 'kubeconfig', where);
  if (kubeconfig) spec.kubeconfig = resolvePath(kubeconfig);
  const context = optionalString(o, 'context', where);
  if (context) spec.context = context;
  const agentExtras = optionalBoolean(o, 'agentExtras', where);
  if (agentExtras !== undefined) spec.agentExtras = agentExtras;
  if (o['roles'] !== undefined) spec.roles = list(o['roles'], `${where}.roles`).map((r, i) => parseRole(r, `${where}.roles[${i}]`));

  if (spec.eks) {
    if (spec.roles.length === 0) throw new ConfigError(`${where} is an EKS cluster: give it roles (which group gets which IAM role)`);
    if (spec.kubeconfig || spec.context)
      throw new ConfigError(`${where} is an EKS cluster: callers reach it with their own IAM role, so kubeconfig/context do not apply`);
    if (spec.agentExtras)
      throw new ConfigError(`${where}.agentExtras applies to clusters reached with impersonation: an EKS cluster sees the caller's own IAM role session`);
  } else {
    if (spec.roles.length > 0) throw new ConfigError(`${where}.roles apply to EKS clusters only (give the cluster an eks: {name, region})`);
    if (!spec.kubeconfig)
      throw new ConfigError(`${where} is not an EKS cluster: give kubeconfig (and context) for kubetape's own credential, which it uses with impersonation`);
  }
  return spec;
}

export function parseAws(raw: unknown, where = 'aws'): Partial<AwsConfig> {
  const o = mapping(raw, where);
  onlyKeys(o, AWS_KEYS, where);
  const a: Partial<AwsConfig> = {};
  const region = optionalString(o, 'region', where);
  if (region) {
    if (!REGION.test(region)) throw new ConfigError(`${where}.region must be an AWS region such as us-east-1, got ${JSON.stringify(region)}`);
    a.region = region;
  }
  const sts = optionalString(o, 'stsEndpoint', where);
  if (sts) a.stsEndpoint = checkUrl(sts, `${where}.stsEndpoint`, { allowLoopbackHttp: true }).toString();
  const eks = optionalString(o, 'eksEndpoint', where);
  if (eks) a.eksEndpoint = checkUrl(eks, `${where}.eksEndpoint`, { allowLoopbackHttp: true }).toString();
  const duration = optionalNumber(o, 'sessionDurationSeconds', where, 900, 43200);
  if (duration !== undefined) a.sessionDurationSeconds = duration;
  const timeout = optionalNumber(o, 'timeoutSeconds', where, 1, 120);
  if (timeout !== undefined) a.timeoutSeconds = timeout;
  return a;
}

/** Both sections together, with defaults and cross-checks. */
export function parseClustersConfig(rawClusters: unknown, rawAws: unknown, resolvePath: (p: string) => string): ClustersConfig {
  const clusters = list(rawClusters, 'clusters').map((c, i) => parseCluster(c, `clusters[${i}]`, resolvePath));
  const seen = new Set<string>();
  for (const c of clusters) {
    if (seen.has(c.name)) throw new ConfigError(`clusters: the name "${c.name}" is used twice`);
    seen.add(c.name);
  }
  const aws = rawAws === undefined || rawAws === null ? {} : parseAws(rawAws);
  const firstEks = clusters.find((c) => c.eks);
  const out: ClustersConfig = { clusters };
  if (firstEks || rawAws !== undefined) {
    const region = aws.region ?? firstEks?.eks?.region;
    if (!region) throw new ConfigError('aws.region is required');
    out.aws = { sessionDurationSeconds: 3600, timeoutSeconds: 10, ...aws, region };
  }
  return out;
}
