// Request bodies: objects for create/update (JSON or YAML, checked against the
// endpoint's kind, with fieldValidation for unknown fields) and DeleteOptions.
import { parse as parseYaml } from 'yaml';
import { addWarning, fieldValidation, type RequestCtx } from './context.js';
import { badRequest, unsupportedMediaType } from './errors.js';
import { isObject } from './merge.js';
import { decodeProtobufObject, isProtobuf, ProtobufError } from './protobuf.js';
import { groupVersion, type ResourceDef } from './resources.js';
import type { KubeObject } from './types.js';
import { unknownFields } from './validation.js';

export function mediaType(ctx: RequestCtx): string {
  return String(ctx.req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
}

function kindDescription(d: ResourceDef): string {
  return `${d.kind} in version "${d.version}" cannot be handled as a ${d.kind}`;
}

/** Parses the body as JSON, or YAML when the Content-Type (or `as`) says so. */
export function parseDocument(ctx: RequestCtx, d: ResourceDef | undefined, as?: 'application/yaml'): unknown {
  const type = as ?? mediaType(ctx);
  const text = ctx.body.toString('utf8');
  if (type === 'application/yaml') {
    try {
      return parseYaml(text);
    } catch (e) {
      throw badRequest(`${d ? `${kindDescription(d)}: ` : ''}yaml: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (isProtobuf(type)) {
    try {
      return decodeProtobufObject(ctx.body);
    } catch (e) {
      if (e instanceof ProtobufError && e.message.startsWith('no protobuf decoder')) throw unsupportedMediaType(e.message);
      throw badRequest(`${d ? `${kindDescription(d)}: ` : ''}protobuf: ${(e as Error).message}`);
    }
  }
  if (type && type !== 'application/json' && type !== '*/*') {
    throw unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

/** A create/update body, checked the way the server's decoder and fieldValidation check it. */
export function decodeObject(ctx: RequestCtx, d: ResourceDef): KubeObject {
  const raw = parseDocument(ctx, d);
  if (!isObject(raw))
    throw badRequest(
      `couldn't get version/kind; json parse error: json: cannot unmarshal ${Array.isArray(raw) ? 'array' : typeof raw} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`,
    );
  const text = ctx.body.toString('utf8');
  if (typeof raw.kind !== 'string' || !raw.kind) throw badRequest(`Object 'Kind' is missing in '${text.slice(0, 1024)}'`);
  if (typeof raw.apiVersion !== 'string' || !raw.apiVersion) throw badRequest(`Object 'apiVersion' is missing in '${text.slice(0, 1024)}'`);
  const gv = groupVersion(d);
  if (raw.apiVersion !== gv) throw badRequest(`the API version in the data (${raw.apiVersion}) does not match the expected API version (${gv})`);
  if (raw.kind !== d.kind) throw badRequest(`the kind in the data (${raw.kind}) does not match the expected kind (${d.kind})`);
  if (raw.metadata !== undefined && !isObject(raw.metadata))
    throw badRequest(`${kindDescription(d)}: json: cannot unmarshal ${typeof raw.metadata} into Go struct field ${d.kind}.metadata of type v1.ObjectMeta`);
  checkUnknownFields(ctx, d, raw);
  if (d.kind === 'Secret' && isObject(raw.data)) {
    for (const v of Object.values(raw.data)) {
      if (typeof v !== 'string') throw badRequest(`${kindDescription(d)}: json: cannot unmarshal ${typeof v} into Go struct field Secret.data of type []uint8`);
      const bad = firstBadBase64(v);
      if (bad >= 0) throw badRequest(`${kindDescription(d)}: illegal base64 data at input byte ${bad}`);
    }
  }
  const obj = raw as unknown as KubeObject;
  obj.metadata = { ...(isObject(raw.metadata) ? raw.metadata : {}) };
  return obj;
}

function firstBadBase64(s: string): number {
  const m = /[^A-Za-z0-9+/=]/.exec(s);
  if (m) return m.index;
  const pad = s.indexOf('=');
  if (pad >= 0 && /[^=]/.test(s.slice(pad))) return pad;
  if (s.length % 4 !== 0) return s.length - (s.length % 4);
  return -1;
}

/** fieldValidation=Strict rejects unknown fields, Warn (the default) reports them in Warning headers. */
export function checkUnknownFields(ctx: RequestCtx, d: ResourceDef, raw: Record<string, unknown>): void {
  const mode = fieldValidation(ctx.query);
  if (mode === 'Ignore') return;
  const unknown = unknownFields(d.kind, raw);
  if (!unknown.length) return;
  if (mode === 'Strict') {
    throw badRequest(`${kindDescription(d)}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
  }
  for (const f of unknown) addWarning(ctx.res, `unknown field "${f}"`);
}

export interface DeleteOptions {
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun: boolean;
}

/** DeleteOptions from the body (kubectl sends {"propagationPolicy":"Background"}) and the query. */
export function decodeDeleteOptions(ctx: RequestCtx, dryRunQuery: boolean): DeleteOptions {
  let raw: Record<string, unknown> = {};
  if (ctx.body.length) {
    const parsed = parseDocument(ctx, undefined);
    if (!isObject(parsed)) throw badRequest('DeleteOptions must be an object');
    raw = parsed;
  }
  const q = ctx.query;
  const policy = (raw.propagationPolicy as string | undefined) ?? q.get('propagationPolicy') ?? undefined;
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
  }
  const graceRaw = raw.gracePeriodSeconds ?? (q.get('gracePeriodSeconds') !== null ? Number(q.get('gracePeriodSeconds')) : undefined);
  const dryRunBody = Array.isArray(raw.dryRun) && raw.dryRun.includes('All');
  const pre = isObject(raw.preconditions) ? (raw.preconditions as { uid?: string; resourceVersion?: string }) : undefined;
  return {
    propagationPolicy: policy,
    gracePeriodSeconds: typeof graceRaw === 'number' && Number.isFinite(graceRaw) ? graceRaw : undefined,
    preconditions: pre,
    dryRun: dryRunQuery || dryRunBody,
  };
}
