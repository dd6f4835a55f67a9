// The verbs and subresources a request can carry, as the data path names
// them (the API server's own RequestInfo: see model/request-attributes.ts and
// the stream authorizer in guard.ts). One list for the policy loader,
// `kubetape policy explain` and `kubetape sessions list --verb`: a rule, a
// question or a filter naming anything else can never match, so a typo
// (`verb: lsit`, `subresource: exce`) would silently leave a rule with no
// effect. They are refused instead, with the closest valid word.

/** Every verb a request through kubetape is decided and recorded under. exec, attach and port-forward are `create` on their pods/ subresource. */
export const KUBERNETES_VERBS: readonly string[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

/**
 * Subresources of Kubernetes' own APIs (pods, nodes, services, namespaces,
 * the apps and batch workloads, CRDs with status/scale, serviceaccounts,
 * certificatesigningrequests). A rule names "" for the object itself.
 */
export const KUBERNETES_SUBRESOURCES: readonly string[] = [
  'status',
  'scale',
  'log',
  'exec',
  'attach',
  'portforward',
  'proxy',
  'eviction',
  'binding',
  'ephemeralcontainers',
  'resize',
  'finalize',
  'token',
  'approval',
];

/**
 * API groups the API server itself serves. An aggregated API (another group)
 * may define subresources of its own (KubeVirt's `console`, custom metrics'
 * metric names), so a rule scoped only to such groups is not held to the list above.
 */
const KUBERNETES_API_GROUPS = new Set([
  '',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'apiregistration.k8s.io',
  'apps',
  'authentication.k8s.io',
  'authorization.k8s.io',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'extensions',
  'flowcontrol.apiserver.k8s.io',
  'internal.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
  'storagemigration.k8s.io',
]);

/** Verbs RBAC knows that are checked inside the API server; no request kubetape sees is ever named by them. */
const SERVER_SIDE_VERBS: Record<string, string> = {
  impersonate: 'kubetape refuses Impersonate-* headers itself (or the cluster checks them on impersonation clusters)',
  bind: 'the API server checks it when a RoleBinding is written (that request is create or update on rolebindings)',
  escalate: 'the API server checks it when a Role is written (that request is create or update on roles)',
  use: 'the API server checks it inside admission',
  approve: 'approving a CertificateSigningRequest is update on subresource "approval"',
  sign: 'signing a CertificateSigningRequest is update on subresource "status"',
  attest: 'the API server checks it inside admission',
};

/** Words people reach for that are not verbs, and what to write instead. */
const VERB_HINTS: Record<string, string> = {
  exec: 'exec is subresource "exec" of pods (the API server authorizes it as verb create)',
  attach: 'attach is subresource "attach" of pods (the API server authorizes it as verb create)',
  portforward: 'port-forward is subresource "portforward" of pods (the API server authorizes it as verb create)',
  'port-forward': 'port-forward is subresource "portforward" of pods (the API server authorizes it as verb create)',
  log: 'logs are subresource "log" of pods, read with verb get',
  logs: 'logs are subresource "log" of pods, read with verb get',
  evict: 'an eviction is verb create on subresource "eviction" of pods',
  eviction: 'an eviction is verb create on subresource "eviction" of pods',
  scale: 'scaling is verb update or patch on subresource "scale"',
  proxy: 'proxying is subresource "proxy" (of pods, services, nodes), with the verb of the proxied request',
  apply: 'kubectl apply sends patch (create when the object is new)',
  edit: 'kubectl edit sends patch',
  replace: 'kubectl replace sends update',
  post: 'a POST to a resource is verb create',
  put: 'a PUT to a resource is verb update',
  head: 'a HEAD of a resource is verb get',
};

const SUBRESOURCE_HINTS: Record<string, string> = {
  logs: 'the subresource is "log"',
  'port-forward': 'the subresource is "portforward"',
  evict: 'the subresource is "eviction"',
  ephemeral: 'the subresource is "ephemeralcontainers"',
  debug: 'kubectl debug adds subresource "ephemeralcontainers" (or creates a pod)',
};

export interface VocabularyOptions {
  /** `*` (any) is a word of the policy language, not of a request. */
  wildcard: boolean;
  /** How the value is introduced in the message: `verb` in a policy, `--verb` on the command line. */
  label?: string;
}

/** Why `verb` is not one a request can carry (with the closest one), or undefined when it is. */
export function verbProblem(verb: string, o: VocabularyOptions): string | undefined {
  if (KUBERNETES_VERBS.includes(verb) || (o.wildcard && verb === '*')) return undefined;
  const label = o.label ?? 'verb';
  const q = JSON.stringify(verb);
  const lower = verb.toLowerCase();
  if (SERVER_SIDE_VERBS[lower]) return `${label} ${q} never names a request kubetape sees: ${SERVER_SIDE_VERBS[lower]}`;
  if (VERB_HINTS[lower]) return `${label} ${q} is not a Kubernetes verb: ${VERB_HINTS[lower]}`;
  return `${label} ${q} is not a Kubernetes verb${suggestion(verb, KUBERNETES_VERBS, o.wildcard)}`;
}

/** Why `subresource` is not a Kubernetes subresource (with the closest one), or undefined when it is ("" is the object itself). */
export function subresourceProblem(subresource: string, o: VocabularyOptions): string | undefined {
  if (subresource === '' || KUBERNETES_SUBRESOURCES.includes(subresource) || (o.wildcard && subresource === '*')) return undefined;
  const label = o.label ?? 'subresource';
  const q = JSON.stringify(subresource);
  const hint = SUBRESOURCE_HINTS[subresource.toLowerCase()];
  if (hint) return `${label} ${q} is not a Kubernetes subresource: ${hint}`;
  return `${label} ${q} is not a Kubernetes subresource${suggestion(subresource, KUBERNETES_SUBRESOURCES, o.wildcard)}`;
}

/**
 * Whether subresources named together with these API groups are held to
 * KUBERNETES_SUBRESOURCES: yes unless every group named is outside the API
 * server's own (an aggregated API's subresources are its own business).
 */
export function subresourcesAreKubernetes(apiGroups: readonly string[] | undefined): boolean {
  return !apiGroups || apiGroups.some((g) => g === '*' || KUBERNETES_API_GROUPS.has(g));
}

function suggestion(word: string, valid: readonly string[], wildcard: boolean): string {
  const near = closest(word, valid);
  if (near) return `; did you mean ${JSON.stringify(near)}?`;
  return ` (${valid.join(', ')}${wildcard ? ', or "*" for any' : ''})`;
}

/** The valid word nearest to `word`, when it is near enough to be what was meant. */
export function closest(word: string, valid: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const v of valid) {
    const d = editDistance(w, v);
    if (d < bestDistance) {
      best = v;
      bestDistance = d;
    }
  }
  // One or two slips (three in a long word): a typo, not another word.
  const limit = Math.max(w.length, 1) >= 8 ? 3 : 2;
  return bestDistance <= Math.min(limit, Math.max(1, w.length - 1)) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps ("lsit" is one from "list"). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0][j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}
