// From the `clusters` config to Upstreams the forwarders use: EKS clusters
// get per-caller role credentials (and their endpoint from DescribeCluster
// unless overridden, re-read hourly), other clusters kubetape's own
// kubeconfig credential wrapped in impersonation.
import { readFileSync } from 'node:fs';
import type { Upstream } from '../model/upstream.js';
import { kubeconfigPaths, loadKubeconfig, resolveUpstream } from '../kubeconfig/load.js';
import { UpstreamCredentials } from '../credentials/upstream-credentials.js';
import { ImpersonatingCredentialSource } from '../credentials/impersonating-credentials.js';
import { EksCredentialSource } from '../credentials/eks-credentials.js';
import { SubjectAccessReviewer } from '../authorize/subject-access-review.js';
import { RoleSessions } from '../credentials/role-sessions.js';
import { Sts } from '../credentials/sts.js';
import type { AwsConfig, ClusterSpec } from './config.js';
import { EksDescriber } from './eks-describe.js';

export interface BuiltClusters {
  upstreams: Upstream[];
  /** The shared role-session cache (tests count its STS calls). */
  sessions?: RoleSessions;
  close(): void;
}

const REDESCRIBE_MS = 3600_000;

function readCa(path: string, cluster: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cluster "${cluster}": cannot read ca ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** The `clusters:` and `aws:` sections of the config (a ServeConfig will do). */
export interface ClustersConfig {
  clusters?: ClusterSpec[];
  aws?: AwsConfig;
}

export async function buildClusters(c: ClustersConfig, log: (line: string) => void): Promise<BuiltClusters> {
  const specs = c.clusters ?? [];
  const sts = c.aws
    ? new Sts({ region: c.aws.region, timeoutMs: c.aws.timeoutSeconds * 1000, ...(c.aws.stsEndpoint ? { endpoint: c.aws.stsEndpoint } : {}) })
    : undefined;
  const sessions = sts && c.aws ? new RoleSessions(sts, { durationSeconds: c.aws.sessionDurationSeconds }) : undefined;
  let describer: EksDescriber | undefined;
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    for (const t of timers) clearInterval(t);
    describer?.close();
    sts?.close();
  };

  const upstreams: Upstream[] = [];
  try {
    for (const spec of specs) {
      if (spec.eks) {
        if (!sessions || !c.aws) throw new Error(`cluster "${spec.name}" is an EKS cluster but aws is not configured`);
        describer ??= new EksDescriber({ timeoutMs: c.aws.timeoutSeconds * 1000, ...(c.aws.eksEndpoint ? { endpoint: c.aws.eksEndpoint } : {}) });
        upstreams.push(await eksUpstream(spec, spec.eks, sessions, describer, timers, log));
      } else {
        upstreams.push(impersonationUpstream(spec, log));
      }
    }
  } catch (err) {
    close();
    throw err;
  }
  return { upstreams, ...(sessions ? { sessions } : {}), close };
}

async function eksUpstream(
  spec: ClusterSpec,
  eks: { name: string; region: string },
  sessions: RoleSessions,
  describer: EksDescriber,
  timers: NodeJS.Timeout[],
  log: (l: string) => void,
): Promise<Upstream> {
  const caOverride = spec.ca ? readCa(spec.ca, spec.name) : undefined;
  const needsDescribe = !spec.server || !caOverride;
  let server = spec.server;
  let ca = caOverride;
  if (needsDescribe) {
    const d = await describer.describe(eks.name, eks.region, !caOverride);
    server ??= d.endpoint;
    ca ??= d.caPem;
  }
  const u: Upstream = {
    name: spec.name,
    server: new URL(server!),
    insecureSkipTlsVerify: spec.insecureSkipTlsVerify,
    credentials: new EksCredentialSource({ cluster: spec.name, eksName: eks.name, region: eks.region, roles: spec.roles, sessions }),
  };
  if (ca) u.ca = ca;
  if (needsDescribe) {
    // Endpoints and CAs change rarely (a CA rotation); the forwarders read them per request.
    const t = setInterval(() => {
      describer.describe(eks.name, eks.region, !caOverride).then(
        (d) => {
          if (!spec.server) u.server = new URL(d.endpoint);
          if (!caOverride && d.caPem) u.ca = d.caPem;
        },
        (err: Error) => log(`kubetape: cluster "${spec.name}": keeping the last endpoint: ${err.message}`),
      );
    }, REDESCRIBE_MS);
    t.unref();
    timers.push(t);
  }
  return u;
}

function impersonationUpstream(spec: ClusterSpec, log: (l: string) => void): Upstream {
  const cfg = loadKubeconfig(kubeconfigPaths(spec.kubeconfig));
  const cluster = resolveUpstream(cfg, spec.context);
  const own = new UpstreamCredentials(cluster, { onPluginStderr: (t) => log(`kubetape: cluster "${spec.name}": credential plugin: ${t}`) });
  const u: Upstream = {
    name: spec.name,
    server: new URL(spec.server ?? cluster.server),
    insecureSkipTlsVerify: spec.insecureSkipTlsVerify || cluster.insecureSkipTlsVerify,
    // Callers' own Impersonate-* are checked against the cluster's RBAC with SubjectAccessReviews.
    credentials: new ImpersonatingCredentialSource(own, new SubjectAccessReviewer(() => u, own), { agentExtras: spec.agentExtras ?? false }),
  };
  const ca = spec.ca ? readCa(spec.ca, spec.name) : cluster.ca;
  if (ca) u.ca = ca;
  return u;
}
