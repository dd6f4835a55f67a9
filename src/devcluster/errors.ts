// Status objects shaped exactly like apimachinery's errors package builds them
// (same messages, reasons, details and JSON field order), thrown as ApiError by
// handlers and turned into responses in one place.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Built in Go's field order: kind, apiVersion, metadata, status, message, reason, details, code. */
export function status(code: number, reason: string, message: string, details?: StatusDetails): Status {
  const s: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 400 ? 'Success' : 'Failure' };
  if (message) s.message = message;
  if (reason) s.reason = reason;
  if (details) s.details = details;
  s.code = code;
  return s as unknown as Status;
}

export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
  }
  get code(): number {
    return this.status.code;
  }
}

/** A resource as errors name it: "pods" or "deployments.apps". */
export interface GroupResource {
  group: string;
  resource: string;
}

export function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function grDetails(gr: GroupResource, name?: string): StatusDetails {
  const d: StatusDetails = {};
  if (name) d.name = name;
  if (gr.group) d.group = gr.group;
  d.kind = gr.resource;
  return d;
}

export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError(status(404, 'NotFound', `${qualified(gr)} "${name}" not found`, grDetails(gr, name)));
}

export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError(status(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, grDetails(gr, name)));
}

export function conflict(gr: GroupResource, name: string, why: string): ApiError {
  return new ApiError(status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, grDetails(gr, name)));
}

export const MODIFIED_CONFLICT = 'the object has been modified; please apply your changes to the latest version and try again';

export function badRequest(message: string): ApiError {
  return new ApiError(status(400, 'BadRequest', message));
}

export function methodNotAllowed(): ApiError {
  return new ApiError(status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
}

export function unauthorized(): ApiError {
  return new ApiError(status(401, 'Unauthorized', 'Unauthorized'));
}

/** apimachinery NewForbidden: `pods "x" is forbidden: <why>`. */
export function forbidden(gr: GroupResource | undefined, name: string, why: string): ApiError {
  let message: string;
  if (!gr || !gr.resource) message = `forbidden: ${why}`;
  else if (!name) message = `${qualified(gr)} is forbidden: ${why}`;
  else message = `${qualified(gr)} "${name}" is forbidden: ${why}`;
  const details: StatusDetails = gr && gr.resource ? grDetails(gr, name) : {};
  return new ApiError(status(403, 'Forbidden', message, details));
}

export function genericNotFound(): ApiError {
  return new ApiError(status(404, 'NotFound', 'the server could not find the requested resource', {}));
}

export function expired(message: string): ApiError {
  return new ApiError(status(410, 'Expired', message));
}

export function tooLarge(limit: number): ApiError {
  return new ApiError(status(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`));
}

export function unsupportedMediaType(message: string): ApiError {
  return new ApiError(status(415, 'UnsupportedMediaType', message));
}

export function notAcceptable(message: string): ApiError {
  return new ApiError(status(406, 'NotAcceptable', message));
}

export function internalError(message: string): ApiError {
  return new ApiError(status(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }));
}

/** One field error, as field.Error prints: `metadata.name: Required value: ...`. */
export interface FieldError {
  type: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueNotSupported' | 'FieldValueTooLong' | 'FieldValueDuplicate';
  field: string;
  /** Present for Invalid/NotSupported: the offending value, Go-quoted when a string. */
  value?: unknown;
  detail?: string;
}

const TYPE_TEXT: Record<FieldError['type'], string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueForbidden: 'Forbidden',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueTooLong: 'Too long',
  FieldValueDuplicate: 'Duplicate value',
};

function goValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** The part after "field: ", as field.Error.ErrorBody renders it. */
function errorBody(e: FieldError): string {
  let s = TYPE_TEXT[e.type];
  if (e.type === 'FieldValueInvalid' || e.type === 'FieldValueNotSupported' || e.type === 'FieldValueDuplicate') {
    s += `: ${goValue(e.value)}`;
  }
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** apimachinery NewInvalid: `Pod "x" is invalid: [a, b]` with one cause per field error. */
export function invalid(kind: string, group: string, name: string, errs: FieldError[]): ApiError {
  const texts = errs.map((e) => `${e.field}: ${errorBody(e)}`);
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const details: StatusDetails = {};
  if (name) details.name = name;
  if (group) details.group = group;
  details.kind = kind;
  details.causes = errs.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field }));
  return new ApiError(status(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${agg}`, details));
}
