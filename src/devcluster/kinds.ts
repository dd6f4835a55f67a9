// What happens to each kind on its way into storage: the defaults the real
// API server fills in, the status a kubelet or controller would soon report
// (pods Running, deployments available), and kind-specific validation.
import { randomBytes } from 'node:crypto';
import type { FieldError } from './errors.js';
import { deepEqual, isObject, type JsonObject } from './merge.js';
import type { ResourceDef } from './resources.js';
import type { KubeObject } from './types.js';
import { validateDataKeys, validateName } from './validation.js';
import { textOf } from '../model/text.js';

export const NODE_NAME = 'fake-node';
const HOST_IP = '10.0.0.10';

/** Hands out pod and cluster IPs; one per server so addresses stay unique. */
export class IpAllocator {
  private pod = 10;
  private service = 10;
  podIp(): string {
    const n = this.pod++;
    return `10.244.${Math.floor(n / 250)}.${(n % 250) + 2}`;
  }
  clusterIp(): string {
    const n = this.service++;
    return `10.96.${Math.floor(n / 250)}.${(n % 250) + 2}`;
  }
}

export function timestamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (isObject(v) ? v : {});

function defaultContainer(c: Obj): void {
  const image = typeof c.image === 'string' ? c.image : '';
  const tagged = /:[^/]+$/.test(image.replace(/@.*$/, '')) || image.includes('@');
  c.imagePullPolicy ??= !tagged || image.endsWith(':latest') ? 'Always' : 'IfNotPresent';
  c.resources ??= {};
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) p.protocol ??= 'TCP';
}

function defaultPodSpec(spec: Obj): void {
  for (const list of ['initContainers', 'containers']) {
    const cs = spec[list];
    if (Array.isArray(cs)) for (const c of cs) if (isObject(c)) defaultContainer(c);
  }
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.serviceAccountName ??= 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
}

function containerStatus(c: Obj, startedAt: string): Obj {
  const image = textOf(c.image ?? '');
  const digest = randomBytes(32).toString('hex');
  return {
    name: c.name,
    state: { running: { startedAt } },
    lastState: {},
    ready: true,
    restartCount: 0,
    image: image.includes('/') ? image : `docker.io/library/${image}`,
    imageID: `docker.io/library/${image.replace(/:.*$/, '')}@sha256:${digest}`,
    containerID: `containerd://${randomBytes(32).toString('hex')}`,
    started: true,
  };
}

/** What a kubelet reports for a pod whose containers all started. */
function runningPodStatus(pod: KubeObject, ips: IpAllocator): Obj {
  const spec = obj(pod.spec);
  const now = timestamp();
  const podIP = ips.podIp();
  const containers = Array.isArray(spec.containers) ? spec.containers.filter(isObject) : [];
  const condition = (type: string): Obj => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
  return {
    phase: 'Running',
    conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
    hostIP: HOST_IP,
    hostIPs: [{ ip: HOST_IP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: now,
    containerStatuses: containers.map((c) => containerStatus(c as Obj, now)),
    qosClass: 'BestEffort',
  };
}

function defaultService(svc: KubeObject, ips: IpAllocator, old?: KubeObject): void {
  const spec = (svc.spec = obj(svc.spec));
  const oldSpec = old ? obj(old.spec) : {};
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isObject(p)) continue;
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port ?? null;
    }
  }
  // The cluster IP is allocated once and survives updates that leave it out.
  spec.clusterIP ??= oldSpec.clusterIP ?? (spec.type === 'ExternalName' ? undefined : ips.clusterIp());
  if (spec.clusterIP !== undefined) spec.clusterIPs ??= oldSpec.clusterIPs ?? [spec.clusterIP];
  if (spec.type !== 'ExternalName') {
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    spec.internalTrafficPolicy ??= 'Cluster';
  }
  svc.status ??= { loadBalancer: {} };
}

function defaultDeployment(dep: KubeObject): void {
  const spec = (dep.spec = obj(dep.spec));
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  const strategy = obj(spec.strategy);
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') strategy.rollingUpdate = { maxUnavailable: '25%', maxSurge: '25%', ...obj(strategy.rollingUpdate) };
  spec.strategy = strategy;
  const template = obj(spec.template);
  if (isObject(template.spec)) defaultPodSpec(template.spec);
}

/** What the deployment controller would report once every replica is up. */
function deploymentStatus(dep: KubeObject): Obj {
  const replicas = Number(obj(dep.spec).replicas ?? 1);
  const now = timestamp();
  const s: Obj = { observedGeneration: dep.metadata.generation ?? 1 };
  if (replicas > 0) Object.assign(s, { replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
  s.conditions = [
    {
      type: 'Available',
      status: 'True',
      lastUpdateTime: now,
      lastTransitionTime: now,
      reason: 'MinimumReplicasAvailable',
      message: 'Deployment has minimum availability.',
    },
    {
      type: 'Progressing',
      status: 'True',
      lastUpdateTime: now,
      lastTransitionTime: now,
      reason: 'NewReplicaSetAvailable',
      message: `ReplicaSet "${dep.metadata.name}-${randomBytes(5).toString('hex').slice(0, 10)}" has successfully progressed.`,
    },
  ];
  return s;
}

function decodeStringData(secret: KubeObject): void {
  const sd = secret.stringData;
  if (isObject(sd)) {
    const data = obj(secret.data);
    for (const [k, v] of Object.entries(sd)) data[k] = Buffer.from(textOf(v)).toString('base64');
    secret.data = data;
  }
  delete secret.stringData;
}

export interface PrepareContext {
  ips: IpAllocator;
  /** True for writes through the API; false for the test API (keeps a status the test set). */
  viaApi: boolean;
}

/** Defaults and synthesized status for a new object (metadata already filled). */
export function prepareForCreate(d: ResourceDef, o: KubeObject, ctx: PrepareContext): void {
  switch (d.kind) {
    case 'Pod': {
      const spec = (o.spec = obj(o.spec));
      defaultPodSpec(spec);
      spec.nodeName ??= NODE_NAME;
      if (ctx.viaApi || !isObject(o.status)) o.status = runningPodStatus(o, ctx.ips);
      break;
    }
    case 'Namespace':
      prepareNamespace(o);
      if (ctx.viaApi || !isObject(o.status)) o.status = { phase: 'Active' };
      break;
    case 'Secret':
      decodeStringData(o);
      o.type ??= 'Opaque';
      break;
    case 'Service':
      defaultService(o, ctx.ips);
      break;
    case 'Deployment':
      defaultDeployment(o);
      o.metadata.generation = 1;
      if (ctx.viaApi || !isObject(o.status)) o.status = deploymentStatus(o);
      break;
  }
}

function prepareNamespace(o: KubeObject): void {
  o.spec = { finalizers: ['kubernetes'], ...obj(o.spec) };
  o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': String(o.metadata.name) };
}

/** Carries server-owned state from `old` into an update of the main resource. */
export function prepareForUpdate(d: ResourceDef, old: KubeObject, o: KubeObject, ctx: PrepareContext): void {
  const hasStatus = d.subresources.some((s) => s.name === 'status');
  if (hasStatus && ctx.viaApi) {
    if (old.status === undefined) delete o.status;
    else o.status = old.status;
  }
  if (old.metadata.generation !== undefined) {
    o.metadata.generation = old.metadata.generation + (deepEqual(old.spec, o.spec) ? 0 : 1);
  }
  switch (d.kind) {
    case 'Pod': {
      const spec = (o.spec = obj(o.spec));
      defaultPodSpec(spec);
      spec.nodeName ??= obj(old.spec).nodeName;
      syncContainerImages(o);
      break;
    }
    case 'Namespace':
      prepareNamespace(o);
      break;
    case 'Secret':
      decodeStringData(o);
      o.type ??= old.type ?? 'Opaque';
      break;
    case 'Service':
      defaultService(o, ctx.ips, old);
      break;
    case 'Deployment':
      defaultDeployment(o);
      if (!deepEqual(old.spec, o.spec) || !isObject(o.status)) o.status = deploymentStatus(o);
      break;
  }
}

/** A kubelet restarts containers whose image changed; the status reports the new image. */
function syncContainerImages(pod: KubeObject): void {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  if (!Array.isArray(status.containerStatuses) || !Array.isArray(spec.containers)) return;
  for (const cs of status.containerStatuses) {
    if (!isObject(cs)) continue;
    const c = spec.containers.find((x) => isObject(x) && x.name === cs.name) as Obj | undefined;
    if (c && typeof c.image === 'string') {
      const image = c.image.includes('/') ? c.image : `docker.io/library/${c.image}`;
      if (cs.image !== image) cs.image = image;
    }
  }
}

function validateContainers(list: unknown, field: string, required: boolean): FieldError[] {
  if (!Array.isArray(list) || list.length === 0) return required ? [{ type: 'FieldValueRequired', field }] : [];
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  list.forEach((c, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(c)) {
      errs.push({ type: 'FieldValueInvalid', field: f, value: c, detail: 'must be an object' });
      return;
    }
    const name = c.name;
    if (typeof name !== 'string' || !name) errs.push({ type: 'FieldValueRequired', field: `${f}.name` });
    else if (seen.has(name)) errs.push({ type: 'FieldValueDuplicate', field: `${f}.name`, value: name });
    else {
      seen.add(name);
      const nameErrs = validateName({ resource: 'namespaces' } as ResourceDef, name, `${f}.name`);
      errs.push(...nameErrs);
    }
    if (typeof c.image !== 'string' || !c.image) errs.push({ type: 'FieldValueRequired', field: `${f}.image` });
  });
  return errs;
}

function goMap(m: unknown): string {
  const entries = Object.entries(obj(m)).sort(([a], [b]) => (a < b ? -1 : 1));
  return `map[string]string{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(', ')}}`;
}

/** Kind-specific validation of a create or update (`old` set on update). */
export function validateKind(d: ResourceDef, o: KubeObject, old?: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  switch (d.kind) {
    case 'Pod': {
      const spec = obj(o.spec);
      errs.push(...validateContainers(spec.containers, 'spec.containers', true));
      errs.push(...validateContainers(spec.initContainers, 'spec.initContainers', false));
      if (old && errs.length === 0 && !podUpdateAllowed(obj(old.spec), spec)) {
        errs.push({
          type: 'FieldValueForbidden',
          field: 'spec',
          detail:
            'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
        });
      }
      break;
    }
    case 'ConfigMap':
    case 'Secret': {
      errs.push(...validateDataKeys(o.data, 'data'));
      if (d.kind === 'ConfigMap') errs.push(...validateDataKeys(o.binaryData, 'binaryData'));
      if (d.kind === 'Secret' && isObject(o.data)) {
        for (const [k, v] of Object.entries(o.data)) {
          if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
            errs.push({ type: 'FieldValueInvalid', field: `data[${k}]`, value: v, detail: 'illegal base64 data' });
          }
        }
      }
      if (old && old.immutable === true) {
        if (!deepEqual(old.data, o.data)) errs.push({ type: 'FieldValueForbidden', field: 'data', detail: 'field is immutable when `immutable` is set' });
        if (o.immutable !== true) errs.push({ type: 'FieldValueForbidden', field: 'immutable', detail: 'field is immutable when `immutable` is set' });
      }
      if (d.kind === 'Secret' && old && old.type !== undefined && o.type !== old.type) {
        errs.push({ type: 'FieldValueInvalid', field: 'type', value: o.type, detail: 'field is immutable' });
      }
      break;
    }
    case 'Service': {
      const spec = obj(o.spec);
      if (spec.type !== 'ExternalName' && spec.clusterIP !== 'None' && (!Array.isArray(spec.ports) || spec.ports.length === 0)) {
        errs.push({ type: 'FieldValueRequired', field: 'spec.ports' });
      }
      if (Array.isArray(spec.ports)) {
        spec.ports.forEach((p, i) => {
          const port = obj(p).port;
          if (typeof port !== 'number' || port < 1 || port > 65535) {
            errs.push(
              port === undefined
                ? { type: 'FieldValueRequired', field: `spec.ports[${i}].port` }
                : { type: 'FieldValueInvalid', field: `spec.ports[${i}].port`, value: port, detail: 'must be between 1 and 65535, inclusive' },
            );
          }
        });
      }
      if (old && obj(old.spec).clusterIP !== undefined && spec.clusterIP !== obj(old.spec).clusterIP) {
        errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', value: spec.clusterIP, detail: 'may not change once set' });
      }
      break;
    }
    case 'Deployment': {
      const spec = obj(o.spec);
      const selector = obj(spec.selector);
      const template = obj(spec.template);
      const labels = obj(obj(template.metadata).labels);
      if (!isObject(spec.selector)) errs.push({ type: 'FieldValueRequired', field: 'spec.selector' });
      else if (Object.entries(obj(selector.matchLabels)).some(([k, v]) => labels[k] !== v)) {
        errs.push({
          type: 'FieldValueInvalid',
          field: 'spec.template.metadata.labels',
          value: goMap(labels),
          detail: '`selector` does not match template `labels`',
        });
      }
      errs.push(...validateContainers(obj(template.spec).containers, 'spec.template.spec.containers', true));
      if (old && !deepEqual(obj(old.spec).selector, spec.selector)) {
        errs.push({ type: 'FieldValueInvalid', field: 'spec.selector', value: spec.selector, detail: 'field is immutable' });
      }
      break;
    }
  }
  return errs;
}

/** Pod specs are immutable except images, activeDeadlineSeconds, tolerations and terminationGracePeriodSeconds. */
function podUpdateAllowed(oldSpec: Obj, newSpec: Obj): boolean {
  const mask = (s: Obj): JsonObject => {
    const c = JSON.parse(JSON.stringify(s)) as JsonObject;
    for (const list of ['containers', 'initContainers']) {
      const cs = c[list];
      if (Array.isArray(cs)) for (const x of cs) if (isObject(x)) delete x.image;
    }
    delete c.activeDeadlineSeconds;
    delete c.tolerations;
    delete c.terminationGracePeriodSeconds;
    return c;
  };
  return deepEqual(mask(oldSpec), mask(newSpec));
}
