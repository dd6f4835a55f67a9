// Recognising contexts made by `aws eks update-kubeconfig` (or for
// aws-iam-authenticator), and what they say about the EKS cluster.
import { basename } from 'node:path';
import type { UserConfig } from './types.js';

export interface EksInfo {
  clusterName?: string;
  region?: string;
}

const EKS_HOST = /\.eks\.amazonaws\.com(\.cn)?$/i;
// arn:aws:eks:us-west-2:111122223333:cluster/demo (also the aws-cn and aws-us-gov partitions)
const EKS_ARN = /^arn:aws[a-z-]*:eks:([a-z0-9-]+):\d+:cluster\/(.+)$/;

/** Value of `--flag VALUE` or `--flag=VALUE` among args. */
function flagValue(args: string[], ...flags: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    for (const f of flags) {
      if (a === f && i + 1 < args.length) return args[i + 1];
      if (a.startsWith(`${f}=`)) return a.slice(f.length + 1);
    }
  }
  return undefined;
}

function commandName(command: string): string {
  return basename(command.replace(/\\/g, '/')).replace(/\.(exe|cmd)$/i, '');
}

interface ExecFacts {
  clusterName?: string;
  flagRegion?: string;
  envRegion?: string;
}

/** Facts from an EKS token plugin stanza; undefined when the user does not run one. */
function eksExecFacts(user: UserConfig | undefined): ExecFacts | undefined {
  const exec = user?.exec;
  if (!exec) return undefined;
  const name = commandName(exec.command);
  const args = exec.args ?? [];
  let clusterName: string | undefined;
  if (name === 'aws' && args.includes('eks') && args.includes('get-token')) clusterName = flagValue(args, '--cluster-name', '--cluster-id');
  else if (name === 'aws-iam-authenticator') clusterName = flagValue(args, '-i', '--cluster-id');
  else return undefined;
  const env = (n: string) => exec.env?.find((e) => e.name === n)?.value || undefined;
  const facts: ExecFacts = {};
  if (clusterName) facts.clusterName = clusterName;
  const flagRegion = flagValue(args, '--region');
  if (flagRegion) facts.flagRegion = flagRegion;
  const envRegion = env('AWS_REGION') ?? env('AWS_DEFAULT_REGION');
  if (envRegion) facts.envRegion = envRegion;
  return facts;
}

/** The region of an EKS endpoint host (ABCDEF.gr7.us-west-2.eks.amazonaws.com), '' for a non-EKS host. */
function eksHostRegion(server: string | undefined): string | undefined {
  let host: string;
  try {
    host = server ? new URL(server).hostname : '';
  } catch {
    return '';
  }
  if (!EKS_HOST.test(host)) return '';
  const labels = host.split('.');
  const i = labels.indexOf('eks');
  const region = i > 0 ? labels[i - 1] : undefined;
  return region && /^[a-z]{2}(-[a-z]+)+-\d+$/.test(region) ? region : undefined;
}

/**
 * EKS facts for a context, or undefined when it does not look like EKS: it is
 * EKS when the user runs `aws eks get-token` or aws-iam-authenticator, or the
 * server is an *.eks.amazonaws.com(.cn) endpoint. Sources in order of trust:
 * the plugin's flags, the ARN-style cluster name, the endpoint host, the
 * plugin's AWS_REGION.
 */
export function detectEks(clusterName: string, server: string | undefined, user: UserConfig | undefined): EksInfo | undefined {
  const exec = eksExecFacts(user);
  const hostRegion = eksHostRegion(server);
  if (!exec && hostRegion === '') return undefined;
  const arn = EKS_ARN.exec(clusterName);
  const info: EksInfo = {};
  const name = exec?.clusterName ?? arn?.[2];
  const region = exec?.flagRegion ?? arn?.[1] ?? (hostRegion || undefined) ?? exec?.envRegion;
  if (name) info.clusterName = name;
  if (region) info.region = region;
  return info;
}
