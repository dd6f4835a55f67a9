// The console's calls to kubetape's own API (/kubetape/v1/...). Same origin,
// with the session cookie; state-changing calls carry the CSRF token whoami
// gave. A 401 sends the browser to the login page and back.
import type { SessionSummary, RecordEvent } from '../../src/model/recording.js';

export interface WhoAmI {
  user: string;
  groups: string[];
  viewer: boolean;
  approver: boolean;
  csrfToken?: string;
}

export interface SessionRow extends SessionSummary {
  paths?: string[];
  execCommands?: string[];
}

export interface SessionPage {
  items: SessionRow[];
  nextCursor?: string;
}

export interface Verification {
  ok: boolean;
  problems: string[];
}

/** GET /sessions/ID; with ?verify=false the summary alone. */
export interface SessionDetail {
  summary: SessionRow;
  verification?: Verification;
}

export interface Access {
  time: string;
  user: string;
  action: string;
  session?: string;
  query?: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const API = '/kubetape/v1';
let csrf: string | undefined;

export function setCsrf(token: string | undefined): void {
  csrf = token;
}

export function loginUrl(): string {
  return `${API}/login?return=${encodeURIComponent(location.pathname + location.search)}`;
}

async function failure(r: Response): Promise<ApiError> {
  let message = `${r.status} ${r.statusText}`;
  try {
    const s = (await r.json()) as { message?: unknown };
    if (typeof s.message === 'string') message = s.message;
  } catch {
    // not a Status
  }
  return new ApiError(r.status, message);
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.method && init.method !== 'GET' && csrf) headers.set('X-Kubetape-CSRF', csrf);
  const r = await fetch(path, { ...init, headers, credentials: 'same-origin', redirect: 'error', cache: 'no-store' });
  if (!r.ok) throw await failure(r);
  return r;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call(path)).json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const r = await call(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return (await r.json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await call(path)).text();
}

/** NDJSON, one value per line, handed over as the lines arrive. */
export async function streamNdjson(path: string, onEvent: (ev: RecordEvent) => void, signal?: AbortSignal): Promise<void> {
  const r = await call(path, signal ? { signal } : {});
  if (!r.body) return;
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const lines = (rest + value).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) onEvent(JSON.parse(l) as RecordEvent);
  }
  if (rest.trim()) onEvent(JSON.parse(rest) as RecordEvent);
}

export const sessionPath = (id: string): string => `${API}/sessions/${encodeURIComponent(id)}`;
