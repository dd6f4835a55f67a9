// What an operator chooses at deploy time, read from CDK context
// (`-c key=value` or cdk.json). Every key is checked here, once, so a typo
// fails `cdk synth` with a message naming the key instead of deploying a
// stack that records nothing or trusts the wrong issuer.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPolicySetting } from './policy.js';

/** The EKS access policies an IdP group can be given, by the name operators write. */
export const ACCESS_POLICIES = {
  view: 'AmazonEKSViewPolicy',
  edit: 'AmazonEKSEditPolicy',
  admin: 'AmazonEKSAdminPolicy',
  'cluster-admin': 'AmazonEKSClusterAdminPolicy',
} as const;

export type AccessLevel = keyof typeof ACCESS_POLICIES;

export interface GroupMapping {
  /** The group as the IdP puts it in the groups claim. */
  group: string;
  access: AccessLevel;
  /** Namespaces the access applies to; required for every level but cluster-admin (which is cluster-wide by nature). */
  namespaces: string[];
}

export type ObjectLockMode = 'governance' | 'compliance';

export interface DeploymentSettings {
  account?: string;
  region?: string;
  /** OIDC issuer URL (https), exactly the `iss` of the ID tokens. */
  issuer: string;
  /** OAuth client id: the `aud` of the ID tokens, tested by every role's trust policy. */
  clientId: string;
  groupsClaim: string;
  usernameClaim?: string;
  /** EKS cluster names in the stack's region; each is served at /clusters/NAME. */
  clusters: string[];
  groups: GroupMapping[];
  /** Deploy into this VPC (looked up); default: a new two-AZ VPC. */
  vpcId?: string;
  /** Secrets Manager secret (complete ARN) holding {"cert": PEM chain, "key": PEM key}: TLS passthrough, kubetape terminates. */
  tlsSecretArn?: string;
  /** ACM certificate: the NLB terminates TLS and re-encrypts to kubetape (still layer 4, upgrades pass). */
  certificateArn?: string;
  /** Name the operator points at the NLB (a CNAME); used in the outputs. */
  domainName?: string;
  internetFacing: boolean;
  tableName: string;
  retentionDays: number;
  objectLockMode: ObjectLockMode;
  /** Largest STS session a role allows (seconds), and what kubetape asks for. */
  sessionDurationSeconds: number;
  minTasks: number;
  maxTasks: number;
  /** Average open connections per task above which the service scales out. */
  connectionsPerTask: number;
  cpu: number;
  memoryMiB: number;
  /** kubetape's guardrails (`-c policyFile=...`), read and validated at synth; embedded in kubetape.yaml as `policy:`. */
  policy?: PolicySetting;
  /** Secrets Manager secret (complete ARN) holding the approvers' webhook URL as a plain string. */
  approvalsWebhookSecretArn?: string;
}

export interface PolicySetting {
  /** The file as the operator named it (error messages use this). */
  file: string;
  /** The YAML document as a plain object, already validated by kubetape's loader. */
  document: Record<string, unknown>;
}

export class SettingsError extends Error {}

type Lookup = (key: string) => unknown;

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const EKS_NAME = /^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * Read and check the settings; `get` is `node.tryGetContext` (values may be strings from -c or JSON from cdk.json).
 * A relative `policyFile` is read from `infraDir` (default: the infra/ directory).
 */
export function readSettings(get: Lookup, defaultTableName: string, infraDir = findInfraDir()): DeploymentSettings {
  const issuer = requiredString(get, 'issuer');
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new SettingsError(`context "issuer" must be a URL, got ${JSON.stringify(issuer)}`);
  }
  // IAM accepts only https identity providers.
  if (url.protocol !== 'https:') throw new SettingsError(`context "issuer" must be an https URL (IAM OIDC providers require it), got ${issuer}`);

  const clusters = stringList(get('clusters'), 'clusters');
  if (clusters.length === 0) throw new SettingsError('context "clusters" must name at least one EKS cluster, e.g. -c clusters=prod,staging');
  for (const c of clusters) {
    if (!NAME.test(c) || !EKS_NAME.test(c))
      throw new SettingsError(`context "clusters": "${c}" is not a usable cluster name (lower-case letters, digits, '-', it becomes a URL path segment)`);
  }

  const retentionDays = integer(get, 'retentionDays', 365, 1, 36500);
  const objectLockMode = optionalString(get, 'objectLockMode') ?? 'governance';
  if (objectLockMode !== 'governance' && objectLockMode !== 'compliance') {
    throw new SettingsError(`context "objectLockMode" must be "governance" or "compliance", got ${JSON.stringify(objectLockMode)}`);
  }
  const tlsSecretArn = optionalString(get, 'tlsSecretArn');
  const certificateArn = optionalString(get, 'certificateArn');
  if (!tlsSecretArn === !certificateArn) {
    throw new SettingsError(
      'give exactly one of context "tlsSecretArn" (kubetape terminates TLS; a Secrets Manager secret with {"cert","key"}) or "certificateArn" (an ACM certificate on the NLB)',
    );
  }
  if (tlsSecretArn && !SECRET_ARN.test(tlsSecretArn)) {
    throw new SettingsError(`context "tlsSecretArn" must be the complete secret ARN (ending in the 6-character suffix), got ${tlsSecretArn}`);
  }
  if (certificateArn && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/.+$/.test(certificateArn)) {
    throw new SettingsError(`context "certificateArn" must be an ACM certificate ARN, got ${certificateArn}`);
  }
  const minTasks = integer(get, 'minTasks', 2, 2, 100);
  const maxTasks = integer(get, 'maxTasks', Math.max(6, minTasks), minTasks, 200);

  const s: DeploymentSettings = {
    issuer: issuer.replace(/\/+$/, ''),
    clientId: requiredString(get, 'clientId'),
    groupsClaim: optionalString(get, 'groupsClaim') ?? 'groups',
    clusters,
    groups: parseGroups(get('groups')),
    internetFacing: boolean(get, 'internetFacing', false),
    tableName: optionalString(get, 'tableName') ?? defaultTableName,
    retentionDays,
    objectLockMode,
    sessionDurationSeconds: integer(get, 'sessionDurationSeconds', 3600, 900, 43200),
    minTasks,
    maxTasks,
    connectionsPerTask: integer(get, 'connectionsPerTask', 500, 10, 100000),
    cpu: integer(get, 'cpu', 1024, 256, 16384),
    memoryMiB: integer(get, 'memoryMiB', 2048, 512, 122880),
  };
  for (const [key, field] of [
    ['account', 'account'],
    ['region', 'region'],
    ['usernameClaim', 'usernameClaim'],
    ['vpcId', 'vpcId'],
    ['domainName', 'domainName'],
  ] as const) {
    const v = optionalString(get, key);
    if (v) s[field] = v;
  }
  if (tlsSecretArn) s.tlsSecretArn = tlsSecretArn;
  if (certificateArn) s.certificateArn = certificateArn;

  const policyFile = optionalString(get, 'policyFile');
  const approvalsWebhookSecretArn = optionalString(get, 'approvalsWebhookSecretArn');
  if (approvalsWebhookSecretArn && !SECRET_ARN.test(approvalsWebhookSecretArn)) {
    throw new SettingsError(
      `context "approvalsWebhookSecretArn" must be the complete secret ARN (ending in the 6-character suffix), got ${approvalsWebhookSecretArn}`,
    );
  }
  if (approvalsWebhookSecretArn && !policyFile) {
    throw new SettingsError(
      'context "approvalsWebhookSecretArn" notifies approvers of require-approval rules, which come from a policy: give -c policyFile=... too',
    );
  }
  if (policyFile) {
    const path = isAbsolute(policyFile) ? policyFile : resolve(infraDir, policyFile);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new SettingsError(`context "policyFile": cannot read ${path}: ${(e as Error).message}`);
    }
    s.policy = readPolicySetting(text, policyFile, (message) => new SettingsError(message));
  }
  if (approvalsWebhookSecretArn) s.approvalsWebhookSecretArn = approvalsWebhookSecretArn;
  return s;
}

/** infra/ itself (where cdk.json is), from the source (infra/lib) or the compiled layout (infra/dist/infra/lib). */
export function findInfraDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'cdk.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

function parseGroups(raw: unknown): GroupMapping[] {
  const example = '-c groups=\'[{"group":"developers","access":"edit","namespaces":["apps"]}]\'';
  if (raw === undefined || raw === null || raw === '')
    throw new SettingsError(`context "groups" is required: which IdP group gets which access, e.g. ${example}`);
  let value: unknown = raw;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      throw new SettingsError(`context "groups" must be a JSON list, e.g. ${example}`);
    }
  }
  if (!Array.isArray(value) || value.length === 0) throw new SettingsError(`context "groups" must be a non-empty JSON list, e.g. ${example}`);
  const seen = new Set<string>();
  return value.map((g: unknown, i: number) => {
    const where = `context "groups"[${i}]`;
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new SettingsError(`${where} must be an object {group, access, namespaces}`);
    const o = g as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['group', 'access', 'namespaces'].includes(k)) throw new SettingsError(`${where}: unknown key "${k}"`);
    if (typeof o['group'] !== 'string' || o['group'] === '') throw new SettingsError(`${where}.group must be a non-empty string`);
    if (seen.has(o['group'])) throw new SettingsError(`${where}: group "${o['group']}" is listed twice`);
    seen.add(o['group']);
    const access = o['access'];
    if (typeof access !== 'string' || !(access in ACCESS_POLICIES)) {
      throw new SettingsError(`${where}.access must be one of ${Object.keys(ACCESS_POLICIES).join(', ')}, got ${JSON.stringify(access)}`);
    }
    const namespaces = o['namespaces'] === undefined ? [] : stringList(o['namespaces'], `groups[${i}].namespaces`);
    for (const n of namespaces) if (!NAMESPACE.test(n)) throw new SettingsError(`${where}.namespaces: "${n}" is not a Kubernetes namespace name`);
    if (access === 'cluster-admin' && namespaces.length > 0)
      throw new SettingsError(`${where}: cluster-admin is cluster-wide; drop "namespaces" or use access "admin"`);
    // Least privilege by default: anything short of cluster-admin must say where it applies.
    if (access !== 'cluster-admin' && namespaces.length === 0)
      throw new SettingsError(`${where}: access "${access}" needs "namespaces" (the namespaces it applies to)`);
    return { group: o['group'], access: access as AccessLevel, namespaces };
  });
}

function optionalString(get: Lookup, key: string): string | undefined {
  const v = get(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new SettingsError(`context "${key}" must be a string, got ${JSON.stringify(v)}`);
  return v.trim();
}

function requiredString(get: Lookup, key: string): string {
  const v = optionalString(get, key);
  if (!v) throw new SettingsError(`context "${key}" is required (-c ${key}=...)`);
  return v;
}

function stringList(v: unknown, key: string): string[] {
  if (typeof v === 'string')
    return v
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.map((x: string) => x.trim());
  if (v === undefined || v === null) return [];
  throw new SettingsError(`context "${key}" must be a comma-separated list or a list of strings`);
}

function integer(get: Lookup, key: string, dflt: number, min: number, max: number): number {
  const v = get(key);
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw new SettingsError(`context "${key}" must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

function boolean(get: Lookup, key: string, dflt: boolean): boolean {
  const v = get(key);
  if (v === undefined || v === null || v === '') return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new SettingsError(`context "${key}" must be true or false, got ${JSON.stringify(v)}`);
}
