// Kubernetes `Status` objects: the only error shape API clients understand.
// kubectl prints `Error from server (<reason>): <message>` from these.

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

/** Reason names as the API server spells them, by HTTP code. */
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function statusObject(code: number, message: string, reason?: string, details?: KubeStatus['details']): KubeStatus {
  const s: KubeStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    message,
    reason: reason ?? REASONS[code] ?? 'Unknown',
    code,
  };
  if (details) s.details = details;
  return s;
}

/** Minimal response surface so this works for node:http and express alike. */
interface StatusSink {
  headersSent: boolean;
  writableEnded: boolean;
  statusCode: number;
  setHeader(name: string, value: string | number): unknown;
  end(body?: string): unknown;
}

/** Write a Status as the response, unless the response has already begun. */
export function sendStatus(res: StatusSink, code: number, message: string, reason?: string, details?: KubeStatus['details']): void {
  if (res.headersSent || res.writableEnded) {
    res.end();
    return;
  }
  writeBody(res, code, 'application/json', JSON.stringify(statusObject(code, message, reason, details)));
}

/**
 * An error kubetape itself produces for a request. Resource requests get a
 * Status object. Non-resource requests (discovery, /version, /openapi) get
 * the message as text/plain: client-go reads those with Raw(), which shows
 * a text body verbatim but reduces any JSON error body to "unknown", so this
 * is the only way kubectl users see why discovery failed.
 */
export function sendError(res: StatusSink, resourceRequest: boolean, code: number, message: string, reason?: string): void {
  if (resourceRequest) return sendStatus(res, code, message, reason);
  if (res.headersSent || res.writableEnded) {
    res.end();
    return;
  }
  writeBody(res, code, 'text/plain; charset=utf-8', message + '\n');
}

function writeBody(res: StatusSink, code: number, contentType: string, body: string): void {
  res.statusCode = code;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-cache, private');
  res.end(body);
}
