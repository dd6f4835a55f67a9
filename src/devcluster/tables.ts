// meta.k8s.io Table rendering: the columns and cells kubectl prints for real
// (pods NAME READY STATUS RESTARTS AGE, configmaps NAME DATA AGE, ...), with
// each row's object as PartialObjectMetadata, the full object, or nothing.
import { isObject } from './merge.js';
import type { ResourceDef } from './resources.js';
import type { KubeObject } from './types.js';
import { textOf } from '../model/text.js';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Obj = Record<string, unknown>;
type Cell = string | number | boolean;
const o = (v: unknown): Obj => (isObject(v) ? v : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObject) : []);

const NAME_DOC = 'Name must be unique within a namespace; see the metadata.name field of the object.';
const AGE_DOC = 'CreationTimestamp: when the server created this object (RFC 3339, UTC).';

function col(name: string, type = 'string', description = '', priority = 0, format = ''): ColumnDefinition {
  return { name, type, format, description, priority };
}
const NAME = col('Name', 'string', NAME_DOC, 0, 'name');
const AGE = col('Age', 'string', AGE_DOC);

/** duration.HumanDuration: "45s", "3m20s", "5h", "3d4h", ... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function since(ts: unknown): string {
  if (typeof ts !== 'string' || !ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(Date.now() - t);
}

function selectorString(sel: unknown): string {
  const m = o(sel);
  const labels = isObject(m.matchLabels) ? o(m.matchLabels) : m;
  const parts = Object.entries(labels)
    .filter(([, v]) => typeof v === 'string')
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort();
  for (const e of arr(m.matchExpressions)) {
    const vals = Array.isArray(e.values) ? e.values.join(',') : '';
    const op = textOf(e.operator ?? '');
    if (op === 'Exists') parts.push(String(e.key));
    else if (op === 'DoesNotExist') parts.push(`!${String(e.key)}`);
    else parts.push(`${String(e.key)} ${op.toLowerCase()} (${vals})`);
  }
  return parts.length ? parts.join(',') : '<none>';
}

function podRow(p: KubeObject): Cell[] {
  const spec = o(p.spec);
  const st = o(p.status);
  const containers = arr(spec.containers);
  let reason = textOf(st.reason ?? st.phase ?? '');
  let ready = 0;
  let restarts = 0;
  let lastRestart = 0;
  let hasRunning = false;
  const statuses = arr(st.containerStatuses);
  for (let i = statuses.length - 1; i >= 0; i--) {
    const cs = statuses[i];
    restarts += Number(cs.restartCount ?? 0);
    const finished = o(o(cs.lastState).terminated).finishedAt;
    if (typeof finished === 'string') lastRestart = Math.max(lastRestart, Date.parse(finished) || 0);
    const state = o(cs.state);
    const waiting = o(state.waiting);
    const terminated = o(state.terminated);
    if (waiting.reason) reason = textOf(waiting.reason);
    else if (terminated.reason) reason = textOf(terminated.reason);
    else if (isObject(state.terminated)) reason = terminated.signal ? `Signal:${textOf(terminated.signal)}` : `ExitCode:${String(terminated.exitCode)}`;
    else if (isObject(state.running) && cs.ready === true) {
      hasRunning = true;
      ready++;
    }
  }
  if (reason === 'Completed' && hasRunning) reason = 'Running';
  if (p.metadata.deletionTimestamp) reason = 'Terminating';
  const restartCell = lastRestart > 0 ? `${restarts} (${humanDuration(Date.now() - lastRestart)} ago)` : String(restarts);
  const readinessGates = arr(spec.readinessGates);
  return [
    String(p.metadata.name),
    `${ready}/${containers.length}`,
    reason,
    restartCell,
    since(p.metadata.creationTimestamp),
    textOf(st.podIP ?? '') || '<none>',
    textOf(spec.nodeName ?? '') || '<none>',
    textOf(st.nominatedNodeName ?? '') || '<none>',
    readinessGates.length ? `0/${readinessGates.length}` : '<none>',
  ];
}

function servicePorts(spec: Obj): string {
  const ports = arr(spec.ports);
  if (!ports.length) return '<none>';
  return ports
    .map((p) => (p.nodePort ? `${String(p.port)}:${textOf(p.nodePort)}/${textOf(p.protocol ?? 'TCP')}` : `${String(p.port)}/${textOf(p.protocol ?? 'TCP')}`))
    .join(',');
}

function externalIp(s: KubeObject): string {
  const spec = o(s.spec);
  const type = textOf(spec.type ?? 'ClusterIP');
  const external = Array.isArray(spec.externalIPs) ? (spec.externalIPs as string[]) : [];
  if (type === 'ExternalName') return textOf(spec.externalName ?? '<none>');
  if (type === 'LoadBalancer') {
    const ingress = arr(o(o(s.status).loadBalancer).ingress).map((i) => textOf(i.ip ?? i.hostname ?? ''));
    const all = [...ingress, ...external].filter(Boolean);
    return all.length ? all.join(',') : '<pending>';
  }
  return external.length ? external.join(',') : '<none>';
}

interface KindTable {
  columns: ColumnDefinition[];
  row(obj: KubeObject): Cell[];
}

const TABLES: Record<string, KindTable> = {
  Pod: {
    columns: [
      NAME,
      col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'string', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
      AGE,
      col('IP', 'string', 'IP address allocated to the pod.', 1),
      col('Node', 'string', 'The node the pod is bound to.', 1),
      col('Nominated Node', 'string', 'The node the scheduler nominated for this pod.', 1),
      col('Readiness Gates', 'string', 'Extra conditions evaluated for pod readiness.', 1),
    ],
    row: podRow,
  },
  ConfigMap: {
    columns: [NAME, col('Data', 'string', 'Number of keys in data and binaryData.'), AGE],
    row: (c) => [String(c.metadata.name), Object.keys(o(c.data)).length + Object.keys(o(c.binaryData)).length, since(c.metadata.creationTimestamp)],
  },
  Secret: {
    columns: [NAME, col('Type', 'string', 'Used to facilitate programmatic handling of secret data.'), col('Data', 'string', 'Number of keys in data.'), AGE],
    row: (s) => [String(s.metadata.name), textOf(s.type ?? ''), Object.keys(o(s.data)).length, since(s.metadata.creationTimestamp)],
  },
  Namespace: {
    columns: [NAME, col('Status', 'string', 'The status of the namespace'), AGE],
    row: (n) => [String(n.metadata.name), textOf(o(n.status).phase ?? ''), since(n.metadata.creationTimestamp)],
  },
  Service: {
    columns: [
      NAME,
      col('Type', 'string', 'How the service is exposed.'),
      col('Cluster-IP', 'string', 'The IP address of the service.'),
      col('External-IP', 'string', 'External addresses of the service.'),
      col('Port(s)', 'string', 'The ports the service exposes.'),
      AGE,
      col('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
    ],
    row: (s) => {
      const spec = o(s.spec);
      return [
        String(s.metadata.name),
        textOf(spec.type ?? 'ClusterIP'),
        textOf(spec.clusterIP ?? '') || '<none>',
        externalIp(s),
        servicePorts(spec),
        since(s.metadata.creationTimestamp),
        isObject(spec.selector) && Object.keys(spec.selector).length ? selectorString(spec.selector) : '<none>',
      ];
    },
  },
  ServiceAccount: {
    columns: [NAME, col('Secrets', 'string', 'Number of secrets of the service account.'), AGE],
    row: (s) => [String(s.metadata.name), arr(s.secrets).length, since(s.metadata.creationTimestamp)],
  },
  Deployment: {
    columns: [
      NAME,
      col('Ready', 'string', 'Number of the pod with ready state'),
      col('Up-to-date', 'string', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
      col('Available', 'string', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
      AGE,
      col('Containers', 'string', 'Names of each container in the template.', 1),
      col('Images', 'string', 'Images referenced by each container in the template.', 1),
      col('Selector', 'string', 'Label selector for pods.', 1),
    ],
    row: (dep) => {
      const spec = o(dep.spec);
      const st = o(dep.status);
      const cs = arr(o(o(spec.template).spec).containers);
      return [
        String(dep.metadata.name),
        `${Number(st.readyReplicas ?? 0)}/${Number(spec.replicas ?? 1)}`,
        Number(st.updatedReplicas ?? 0),
        Number(st.availableReplicas ?? 0),
        since(dep.metadata.creationTimestamp),
        cs.map((c) => String(c.name)).join(','),
        cs.map((c) => String(c.image)).join(','),
        selectorString(spec.selector),
      ];
    },
  },
  Event: {
    columns: [
      col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
      col('Type', 'string', 'Type of this event (Normal, Warning).'),
      col('Reason', 'string', 'Short, machine understandable string that gives the reason for the transition.'),
      col('Object', 'string', 'The object that this event is about.'),
      col('Subobject', 'string', 'The part of the object this event is about.', 1),
      col('Source', 'string', 'The component reporting this event.', 1),
      col('Message', 'string', 'A human-readable description of the status of this operation.'),
      col('First Seen', 'string', 'The time at which the event was first recorded.', 1),
      col('Count', 'string', 'The number of times this event has occurred.', 1),
      col('Name', 'string', NAME_DOC, 1, 'name'),
    ],
    row: (e) => {
      const io = o(e.involvedObject);
      const src = o(e.source);
      const last = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
      return [
        since(last),
        textOf(e.type ?? ''),
        textOf(e.reason ?? ''),
        `${textOf(io.kind ?? '').toLowerCase()}/${textOf(io.name ?? '')}`,
        textOf(io.fieldPath ?? ''),
        [src.component, src.host].filter(Boolean).join(', ') || textOf(e.reportingComponent ?? ''),
        textOf(e.message ?? ''),
        since(e.firstTimestamp ?? e.eventTime),
        textOf(e.count ?? 1),
        String(e.metadata.name),
      ];
    },
  },
};

/** The default convertor for kinds without a printer: NAME and CREATED AT. */
const DEFAULT_TABLE: KindTable = {
  columns: [NAME, col('Created At', 'date', AGE_DOC)],
  row: (x) => [String(x.metadata.name), String(x.metadata.creationTimestamp ?? '')],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  includeObject: IncludeObject;
  /** meta.k8s.io/v1 or meta.k8s.io/v1beta1, as negotiated. */
  apiVersion: string;
  /** Leave columnDefinitions null (watch events after the first). */
  noHeaders?: boolean;
  listMeta?: { resourceVersion: string; continue?: string; remainingItemCount?: number };
}

export function partialObjectMetadata(obj: KubeObject, apiVersion = 'meta.k8s.io/v1'): Obj {
  return { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata };
}

export function renderTable(d: ResourceDef, objects: KubeObject[], opts: TableOptions): Obj {
  const t = TABLES[d.kind] ?? DEFAULT_TABLE;
  const rows = objects.map((obj) => {
    const row: Obj = { cells: t.row(obj) };
    if (opts.includeObject === 'Object') row.object = obj;
    else if (opts.includeObject === 'Metadata') row.object = partialObjectMetadata(obj, opts.apiVersion);
    return row;
  });
  const metadata: Obj = {};
  if (opts.listMeta) {
    metadata.resourceVersion = opts.listMeta.resourceVersion;
    if (opts.listMeta.continue) metadata.continue = opts.listMeta.continue;
    if (opts.listMeta.remainingItemCount !== undefined) metadata.remainingItemCount = opts.listMeta.remainingItemCount;
  } else if (objects.length === 1 && objects[0].metadata.resourceVersion) {
    metadata.resourceVersion = objects[0].metadata.resourceVersion;
  }
  return { kind: 'Table', apiVersion: opts.apiVersion, metadata, columnDefinitions: opts.noHeaders ? null : t.columns, rows };
}
