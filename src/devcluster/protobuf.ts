// Decoding application/vnd.kubernetes.protobuf request bodies. kubectl's typed
// clients send them (`kubectl create configmap|secret|namespace|serviceaccount|
// deployment|service`, `kubectl auth can-i|whoami`), so a faithful server must
// read them. The envelope is "k8s\0" + runtime.Unknown{typeMeta, raw}; raw is
// the object message. Only the messages and fields those commands use are
// described here; unknown fields are skipped. Zero values of non-pointer
// fields are dropped, as Go's JSON omitempty would.
import { textOf } from '../model/text.js';

type Scalar = 'string' | 'bytes' | 'bool' | 'int32' | 'int64';
type Special = 'time' | 'intOrString' | 'quantity' | 'fieldsV1';
interface MapType {
  map: [Scalar, FieldType];
}
type FieldType = Scalar | Special | MapType | Schema;
interface FieldDef {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** Pointer fields: present even when zero (replicas: 0, immutable: false). */
  keepZero?: boolean;
}
type Schema = { [field: number]: FieldDef };

const f = (name: string, type: FieldType, extra: Partial<FieldDef> = {}): FieldDef => ({ name, type, ...extra });
const rep = (name: string, type: FieldType): FieldDef => ({ name, type, repeated: true });
const ptr = (name: string, type: FieldType): FieldDef => ({ name, type, keepZero: true });
const strMap: MapType = { map: ['string', 'string'] };

const OwnerReference: Schema = {
  1: f('kind', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: ptr('controller', 'bool'),
  7: ptr('blockOwnerDeletion', 'bool'),
};
const ManagedFieldsEntry: Schema = {
  1: f('manager', 'string'),
  2: f('operation', 'string'),
  3: f('apiVersion', 'string'),
  4: f('time', 'time'),
  6: f('fieldsType', 'string'),
  7: f('fieldsV1', 'fieldsV1'),
  8: f('subresource', 'string'),
};
const ObjectMeta: Schema = {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  4: f('selfLink', 'string'),
  5: f('uid', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('generation', 'int64'),
  8: f('creationTimestamp', 'time'),
  9: f('deletionTimestamp', 'time'),
  10: ptr('deletionGracePeriodSeconds', 'int64'),
  11: f('labels', strMap),
  12: f('annotations', strMap),
  13: rep('ownerReferences', OwnerReference),
  14: rep('finalizers', 'string'),
  17: rep('managedFields', ManagedFieldsEntry),
};
const LocalObjectReference: Schema = { 1: f('name', 'string') };
const ObjectReference: Schema = {
  1: f('kind', 'string'),
  2: f('namespace', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('fieldPath', 'string'),
};
const LabelSelector: Schema = {
  1: f('matchLabels', strMap),
  2: rep('matchExpressions', { 1: f('key', 'string'), 2: f('operator', 'string'), 3: rep('values', 'string') }),
};
const Container: Schema = {
  1: f('name', 'string'),
  2: f('image', 'string'),
  3: rep('command', 'string'),
  4: rep('args', 'string'),
  5: f('workingDir', 'string'),
  6: rep('ports', { 1: f('name', 'string'), 2: f('hostPort', 'int32'), 3: f('containerPort', 'int32'), 4: f('protocol', 'string'), 5: f('hostIP', 'string') }),
  7: rep('env', { 1: f('name', 'string'), 2: f('value', 'string') }),
  8: f('resources', { 1: f('limits', { map: ['string', 'quantity'] }), 2: f('requests', { map: ['string', 'quantity'] }) }),
  9: rep('volumeMounts', { 1: f('name', 'string'), 2: f('readOnly', 'bool'), 3: f('mountPath', 'string'), 4: f('subPath', 'string') }),
  13: f('terminationMessagePath', 'string'),
  14: f('imagePullPolicy', 'string'),
  16: f('stdin', 'bool'),
  17: f('stdinOnce', 'bool'),
  18: f('tty', 'bool'),
  20: f('terminationMessagePolicy', 'string'),
};
const PodSpec: Schema = {
  2: rep('containers', Container),
  3: f('restartPolicy', 'string'),
  4: ptr('terminationGracePeriodSeconds', 'int64'),
  5: ptr('activeDeadlineSeconds', 'int64'),
  6: f('dnsPolicy', 'string'),
  7: f('nodeSelector', strMap),
  8: f('serviceAccountName', 'string'),
  9: f('serviceAccount', 'string'),
  10: f('nodeName', 'string'),
  11: f('hostNetwork', 'bool'),
  12: f('hostPID', 'bool'),
  13: f('hostIPC', 'bool'),
  14: f('securityContext', {}),
  15: rep('imagePullSecrets', LocalObjectReference),
  16: f('hostname', 'string'),
  17: f('subdomain', 'string'),
  19: f('schedulerName', 'string'),
  20: rep('initContainers', Container),
  22: rep('tolerations', {
    1: f('key', 'string'),
    2: f('operator', 'string'),
    3: f('value', 'string'),
    4: f('effect', 'string'),
    5: ptr('tolerationSeconds', 'int64'),
  }),
  24: f('priorityClassName', 'string'),
  25: ptr('priority', 'int32'),
};
const PodTemplateSpec: Schema = { 1: f('metadata', ObjectMeta), 2: f('spec', PodSpec) };
const ServiceSpec: Schema = {
  1: rep('ports', {
    1: f('name', 'string'),
    2: f('protocol', 'string'),
    3: f('port', 'int32'),
    4: f('targetPort', 'intOrString'),
    5: f('nodePort', 'int32'),
    6: f('appProtocol', 'string'),
  }),
  2: f('selector', strMap),
  3: f('clusterIP', 'string'),
  4: f('type', 'string'),
  5: rep('externalIPs', 'string'),
  7: f('sessionAffinity', 'string'),
  8: f('loadBalancerIP', 'string'),
  9: rep('loadBalancerSourceRanges', 'string'),
  10: f('externalName', 'string'),
  11: f('externalTrafficPolicy', 'string'),
  12: f('healthCheckNodePort', 'int32'),
  13: f('publishNotReadyAddresses', 'bool'),
  17: f('ipFamilyPolicy', 'string'),
  18: rep('clusterIPs', 'string'),
  19: rep('ipFamilies', 'string'),
  20: ptr('allocateLoadBalancerNodePorts', 'bool'),
  21: f('loadBalancerClass', 'string'),
  22: f('internalTrafficPolicy', 'string'),
};
const DeploymentSpec: Schema = {
  1: ptr('replicas', 'int32'),
  2: f('selector', LabelSelector),
  3: f('template', PodTemplateSpec),
  4: f('strategy', { 1: f('type', 'string'), 2: f('rollingUpdate', { 1: f('maxUnavailable', 'intOrString'), 2: f('maxSurge', 'intOrString') }) }),
  5: f('minReadySeconds', 'int32'),
  6: ptr('revisionHistoryLimit', 'int32'),
  7: f('paused', 'bool'),
  9: ptr('progressDeadlineSeconds', 'int32'),
};
const ResourceAttributes: Schema = {
  1: f('namespace', 'string'),
  2: f('verb', 'string'),
  3: f('group', 'string'),
  4: f('version', 'string'),
  5: f('resource', 'string'),
  6: f('subresource', 'string'),
  7: f('name', 'string'),
};

/** Object messages by "apiVersion/kind". Status fields are skipped (servers ignore them on write). */
const KINDS: Record<string, Schema> = {
  'v1/ConfigMap': { 1: f('metadata', ObjectMeta), 2: f('data', strMap), 3: f('binaryData', { map: ['string', 'bytes'] }), 4: ptr('immutable', 'bool') },
  'v1/Secret': {
    1: f('metadata', ObjectMeta),
    2: f('data', { map: ['string', 'bytes'] }),
    3: f('type', 'string'),
    4: f('stringData', strMap),
    5: ptr('immutable', 'bool'),
  },
  'v1/Namespace': { 1: f('metadata', ObjectMeta), 2: f('spec', { 1: rep('finalizers', 'string') }) },
  'v1/ServiceAccount': {
    1: f('metadata', ObjectMeta),
    2: rep('secrets', ObjectReference),
    3: rep('imagePullSecrets', LocalObjectReference),
    4: ptr('automountServiceAccountToken', 'bool'),
  },
  'v1/Service': { 1: f('metadata', ObjectMeta), 2: f('spec', ServiceSpec) },
  'v1/Pod': { 1: f('metadata', ObjectMeta), 2: f('spec', PodSpec) },
  'apps/v1/Deployment': { 1: f('metadata', ObjectMeta), 2: f('spec', DeploymentSpec) },
  'authorization.k8s.io/v1/SelfSubjectAccessReview': {
    1: f('metadata', ObjectMeta),
    2: f('spec', { 1: f('resourceAttributes', ResourceAttributes), 2: f('nonResourceAttributes', { 1: f('path', 'string'), 2: f('verb', 'string') }) }),
  },
  'authentication.k8s.io/v1/SelfSubjectReview': { 1: f('metadata', ObjectMeta) },
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const Unknown: Schema = {
  1: f('typeMeta', { 1: f('apiVersion', 'string'), 2: f('kind', 'string') }),
  2: f('raw', 'bytes'),
  3: f('contentEncoding', 'string'),
  4: f('contentType', 'string'),
};

export class ProtobufError extends Error {}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new ProtobufError('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 70n) throw new ProtobufError('varint too long');
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new ProtobufError('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new ProtobufError(`unsupported wire type ${wire}`);
  }
}

const toInt = (v: bigint, bits: 32 | 64): number => Number(BigInt.asIntN(bits, v));

function scalar(type: Scalar, r: Reader): unknown {
  switch (type) {
    case 'string':
      return r.bytes().toString('utf8');
    case 'bytes':
      return r.bytes().toString('base64');
    case 'bool':
      return r.varint() !== 0n;
    case 'int32':
      return toInt(r.varint(), 32);
    case 'int64':
      return toInt(r.varint(), 64);
  }
}

function isZero(v: unknown): boolean {
  return v === '' || v === false || v === 0 || v === null || v === undefined;
}

function special(type: Special, buf: Buffer): unknown {
  if (type === 'fieldsV1') {
    const raw = decode({ 1: f('raw', 'bytes') }, buf).raw;
    return raw ? JSON.parse(Buffer.from(textOf(raw), 'base64').toString('utf8')) : {};
  }
  if (type === 'quantity') return decode({ 1: f('string', 'string') }, buf).string ?? '';
  if (type === 'time') {
    const t = decode({ 1: f('seconds', 'int64'), 2: f('nanos', 'int32') }, buf);
    const seconds = Number(t.seconds ?? 0);
    return seconds === 0 ? null : new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  const ios = decode({ 1: f('type', 'int64'), 2: f('intVal', 'int32'), 3: f('strVal', 'string') }, buf);
  return Number(ios.type ?? 0) === 1 ? textOf(ios.strVal ?? '') : Number(ios.intVal ?? 0);
}

function value(type: FieldType, r: Reader): unknown {
  if (typeof type === 'string') {
    if (type === 'time' || type === 'intOrString' || type === 'quantity' || type === 'fieldsV1') return special(type, r.bytes());
    return scalar(type, r);
  }
  if ('map' in type) {
    const entry = decode({ 1: f('key', type.map[0]), 2: f('value', type.map[1], { keepZero: true }) }, r.bytes());
    return [textOf(entry.key ?? ''), entry.value ?? (type.map[1] === 'string' ? '' : undefined)];
  }
  return decode(type, r.bytes());
}

function decode(schema: Schema, buf: Buffer): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.done) {
    const key = Number(r.varint());
    const field = key >>> 3;
    const wire = key & 7;
    const def = schema[field];
    if (!def) {
      r.skip(wire);
      continue;
    }
    if (typeof def.type === 'object' && 'map' in def.type) {
      const [k, v] = value(def.type, r) as [string, unknown];
      const m = (out[def.name] ??= {}) as Record<string, unknown>;
      m[k] = v;
      continue;
    }
    if (def.repeated) {
      const list = (out[def.name] ??= []) as unknown[];
      if (wire === 2 && (def.type === 'int32' || def.type === 'int64' || def.type === 'bool')) {
        const packed = new Reader(r.bytes());
        while (!packed.done) list.push(scalar(def.type, packed));
      } else list.push(value(def.type, r));
      continue;
    }
    const v = value(def.type, r);
    if (def.type === 'intOrString' && v === 0) continue;
    if (isZero(v) && !def.keepZero) continue;
    out[def.name] = v;
  }
  return out;
}

export function isProtobuf(contentType: string): boolean {
  return contentType === 'application/vnd.kubernetes.protobuf';
}

/** Decodes a protobuf request body into the JSON form of the object (apiVersion and kind included). */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw new ProtobufError('missing the k8s protobuf magic prefix');
  const envelope = decode(Unknown, body.subarray(4));
  const tm = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const gvk = `${tm.apiVersion ?? ''}/${tm.kind ?? ''}`;
  const schema = KINDS[gvk];
  if (!schema) throw new ProtobufError(`no protobuf decoder for ${gvk} in this test API server`);
  const raw = Buffer.from(textOf(envelope.raw ?? ''), 'base64');
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...decode(schema, raw) };
}
