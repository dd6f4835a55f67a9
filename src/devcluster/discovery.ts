// /version, legacy discovery (/api, /apis, /api/v1, ...) and aggregated
// discovery (apidiscovery.k8s.io v2 and v2beta1), all built from resources.ts.
import { apiGroups, groupVersion, resourcesIn, storageVersionHash, type ResourceDef } from './resources.js';

const GO_VERSIONS: Record<string, string> = {
  '27': 'go1.20.14',
  '28': 'go1.20.14',
  '29': 'go1.21.13',
  '30': 'go1.22.12',
  '31': 'go1.22.12',
  '32': 'go1.23.6',
  '33': 'go1.24.2',
};

export function versionInfo(minor: string, gitVersion?: string): Record<string, string> {
  const n = minor.replace(/\D.*$/, '');
  const v: Record<string, string> = { major: '1', minor };
  // 1.33 added the emulation/compatibility fields.
  if (Number(n) >= 33) Object.assign(v, { emulationMajor: '1', emulationMinor: n, minCompatibilityMajor: '1', minCompatibilityMinor: String(Number(n) - 1) });
  Object.assign(v, {
    gitVersion: gitVersion ?? `v1.${n}.0`,
    gitCommit: '0123456789abcdef0123456789abcdef01234567',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: GO_VERSIONS[n] ?? 'go1.23.6',
    compiler: 'gc',
    platform: 'linux/amd64',
  });
  return v;
}

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupEntry(name: string, version: string): object {
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: apiGroups().map((g) => groupEntry(g.name, g.version)) };
}

/** GET /apis/<group>, or undefined for groups not served. */
export function apiGroup(name: string): object | undefined {
  const g = apiGroups().find((x) => x.name === name);
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g.name, g.version) };
}

function sorted(defs: ResourceDef[]): ResourceDef[] {
  return [...defs].sort((a, b) => (a.resource < b.resource ? -1 : 1));
}

/** GET /api/v1 or /apis/<g>/<v>: resources and their subresources as "pods/log" entries. */
export function resourceList(group: string, version: string): object | undefined {
  if (group && !apiGroups().some((g) => g.name === group && g.version === version)) return undefined;
  if (!group && version !== 'v1') return undefined;
  const resources: object[] = [];
  for (const d of sorted(resourcesIn(group, version))) {
    const r: Record<string, unknown> = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: d.verbs };
    if (d.shortNames.length) r.shortNames = d.shortNames;
    if (d.categories.length) r.categories = d.categories;
    if (d.stored) r.storageVersionHash = storageVersionHash(d);
    resources.push(r);
    for (const s of d.subresources) {
      const sr: Record<string, unknown> = { name: `${d.resource}/${s.name}`, singularName: '', namespaced: d.namespaced };
      if (s.group !== undefined) Object.assign(sr, { group: s.group, version: s.version });
      Object.assign(sr, { kind: s.kind, verbs: s.verbs });
      resources.push(sr);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources };
}

function discoveryResource(d: ResourceDef): object {
  const r: Record<string, unknown> = {
    resource: d.resource,
    responseKind: { group: d.group, version: d.version, kind: d.kind },
    scope: d.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: d.singular,
    verbs: d.verbs,
  };
  if (d.shortNames.length) r.shortNames = d.shortNames;
  if (d.categories.length) r.categories = d.categories;
  if (d.subresources.length) {
    r.subresources = d.subresources.map((s) => ({
      subresource: s.name,
      responseKind: { group: s.group ?? d.group, version: s.version ?? d.version, kind: s.kind },
      verbs: s.verbs,
    }));
  }
  return r;
}

export const AGGREGATED_VERSIONS = ['v2', 'v2beta1'] as const;
export type AggregatedVersion = (typeof AGGREGATED_VERSIONS)[number];

export function aggregatedContentType(v: AggregatedVersion): string {
  return `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;
}

/** The aggregated document for /api (core) or /apis (every named group). */
export function aggregatedDiscovery(which: 'api' | 'apis', v: AggregatedVersion): object {
  const item = (group: string, version: string): object => {
    const metadata: Record<string, unknown> = group ? { name: group, creationTimestamp: null } : { creationTimestamp: null };
    return { metadata, versions: [{ version, resources: sorted(resourcesIn(group, version)).map(discoveryResource), freshness: 'Current' }] };
  };
  const items = which === 'api' ? [item('', 'v1')] : apiGroups().map((g) => item(g.name, g.version));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${v}`, metadata: {}, items };
}

/** Which aggregated version the Accept header asks for first, if any. */
export function wantsAggregated(accept: string | undefined): AggregatedVersion | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const params = part.split(';').map((s) => s.trim());
    if (params[0] !== 'application/json') continue;
    const p = new Map(params.slice(1).map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
    if (p.get('g') === 'apidiscovery.k8s.io' && p.get('as') === 'APIGroupDiscoveryList') {
      const v = p.get('v');
      if (v === 'v2' || v === 'v2beta1') return v;
      continue;
    }
    if (!p.has('as')) return undefined;
  }
  return undefined;
}
