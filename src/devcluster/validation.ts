// Validation the real API server applies before storing: object names, label
// values, ConfigMap keys, and (for fieldValidation=Strict/Warn) unknown fields at
// the levels this fake knows the schema of (top level and metadata).
import type { FieldError } from './errors.js';
import type { ResourceDef } from './resources.js';
import { META_ORDER, type KubeObject } from './types.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

// The texts below are the API server's (clients and people match on them).
const MSG_SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const MSG_LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const MSG_1035 =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const MSG_CONFIG_KEY =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const MSG_LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const MSG_QUALIFIED =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/** Errors for a name in `field` ("metadata.name") under the rules of resource `d`. */
export function validateName(d: ResourceDef, name: string, field = 'metadata.name'): FieldError[] {
  if (d.resource === 'namespaces') {
    if (name.length > 63) return [{ type: 'FieldValueInvalid', field, value: name, detail: 'must be no more than 63 characters' }];
    return DNS1123_LABEL.test(name) ? [] : [{ type: 'FieldValueInvalid', field, value: name, detail: MSG_LABEL }];
  }
  if (d.resource === 'services') {
    if (name.length > 63) return [{ type: 'FieldValueInvalid', field, value: name, detail: 'must be no more than 63 characters' }];
    return DNS1035_LABEL.test(name) ? [] : [{ type: 'FieldValueInvalid', field, value: name, detail: MSG_1035 }];
  }
  if (name.length > 253) return [{ type: 'FieldValueInvalid', field, value: name, detail: 'must be no more than 253 characters' }];
  return DNS1123_SUBDOMAIN.test(name) ? [] : [{ type: 'FieldValueInvalid', field, value: name, detail: MSG_SUBDOMAIN }];
}

function validateLabels(labels: unknown, field: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels)) return [{ type: 'FieldValueInvalid', field, value: labels, detail: 'must be a map of strings' }];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    const namePart = k.includes('/') ? k.slice(k.lastIndexOf('/') + 1) : k;
    if (!QUALIFIED_NAME.test(namePart) || namePart.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: k, detail: MSG_QUALIFIED });
    if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: MSG_LABEL_VALUE });
  }
  return errs;
}

/** Metadata checks common to every kind. `name` may be empty only when generateName will fill it. */
export function validateMetadata(d: ResourceDef, obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata.name;
  if (!name) errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
  else errs.push(...validateName(d, name));
  if (d.namespaced && !obj.metadata.namespace) errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace' });
  errs.push(...validateLabels(obj.metadata.labels, 'metadata.labels'));
  const ann = obj.metadata.annotations;
  if (ann !== undefined && ann !== null && (typeof ann !== 'object' || Object.values(ann).some((v) => typeof v !== 'string'))) {
    errs.push({ type: 'FieldValueInvalid', field: 'metadata.annotations', value: ann, detail: 'must be a map of strings' });
  }
  return errs;
}

export function validateDataKeys(data: unknown, field: string): FieldError[] {
  if (!data || typeof data !== 'object') return [];
  return Object.keys(data)
    .filter((k) => !CONFIG_KEY.test(k) || k.length > 253)
    .map((k) => ({ type: 'FieldValueInvalid' as const, field: `${field}[${k}]`, value: k, detail: MSG_CONFIG_KEY }));
}

const COMMON_TOP = ['apiVersion', 'kind', 'metadata'];
const TOP_LEVEL: Record<string, string[]> = {
  Pod: ['spec', 'status'],
  Namespace: ['spec', 'status'],
  Service: ['spec', 'status'],
  Deployment: ['spec', 'status'],
  ConfigMap: ['data', 'binaryData', 'immutable'],
  Secret: ['data', 'stringData', 'type', 'immutable'],
  ServiceAccount: ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  Event: [
    'involvedObject',
    'reason',
    'message',
    'source',
    'firstTimestamp',
    'lastTimestamp',
    'count',
    'type',
    'eventTime',
    'series',
    'action',
    'related',
    'reportingComponent',
    'reportingInstance',
  ],
};
const METADATA_FIELDS: ReadonlySet<string> = new Set(META_ORDER);

/** Unknown fields, named the way strict decoding errors name them ("foo", "metadata.bar"). */
export function unknownFields(kind: string, body: Record<string, unknown>): string[] {
  const known = TOP_LEVEL[kind];
  if (!known) return [];
  const allowed = new Set([...COMMON_TOP, ...known]);
  const out = Object.keys(body).filter((k) => !allowed.has(k));
  const meta = body.metadata;
  if (meta && typeof meta === 'object' && !Array.isArray(meta)) {
    for (const k of Object.keys(meta)) if (!METADATA_FIELDS.has(k)) out.push(`metadata.${k}`);
  }
  return out;
}
