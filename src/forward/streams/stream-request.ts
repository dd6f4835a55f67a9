// What an exec, attach or port-forward asks for, read from its query before
// anything is dialed: this is what gets recorded with the request and what
// the authorization hook decides on.
import type { ExecRequest, PortForwardRequest } from '../../model/recording.js';
import type { RequestAttributes } from '../../model/request-attributes.js';
import { queryBool, type RequestTarget } from '../../model/request-target.js';

export type StreamKind = 'exec' | 'attach' | 'portforward';

/** exec, attach or portforward on pods; undefined for any other upgrade (WebSocket watches, proxy). */
export function streamKind(a: RequestAttributes): StreamKind | undefined {
  if (!a.isResourceRequest || a.apiGroup !== '' || a.resource !== 'pods' || !a.name) return undefined;
  if (a.subresource === 'exec' || a.subresource === 'attach' || a.subresource === 'portforward') return a.subresource;
  return undefined;
}

/**
 * The API server reads these flags with apimachinery's query conversion:
 * absent, "0" and "false" (any case) are false, anything else is true, so
 * `tty=yes` is a terminal and must be recorded and decided as one.
 */
const flag = queryBool;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function parseExecRequest(kind: 'exec' | 'attach', target: RequestTarget): Parsed<ExecRequest> {
  const q = target.params;
  const tty = flag(target, 'tty');
  const r: ExecRequest = {
    command: kind === 'exec' ? q.getAll('command') : [],
    tty,
    stdin: flag(target, 'stdin'),
    stdout: flag(target, 'stdout'),
    // The kubelet drops stderr when there is a terminal; so do we, on both sides.
    stderr: flag(target, 'stderr') && !tty,
  };
  const container = q.get('container');
  if (container) r.container = container;
  if (kind === 'exec' && r.command.length === 0) return { ok: false, message: 'you must specify at least 1 command' };
  if (!r.stdin && !r.stdout && !r.stderr) return { ok: false, message: 'you must specify at least 1 of stdin, stdout, stderr' };
  return { ok: true, value: r };
}

export function parsePortForwardRequest(target: RequestTarget): Parsed<PortForwardRequest> {
  const ports: number[] = [];
  for (const value of target.params.getAll('ports')) {
    for (const p of value.split(',')) {
      const n = Number(p.trim());
      if (!/^\d+$/.test(p.trim()) || n < 1 || n > 65535) return { ok: false, message: `unable to parse "${value}" as a port` };
      ports.push(n);
    }
  }
  return { ok: true, value: { ports } };
}

/** A SPDY port-forward stream's `port` header. */
export function parsePortHeader(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return n >= 1 && n <= 65535 ? n : undefined;
}
