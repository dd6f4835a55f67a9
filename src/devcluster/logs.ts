// Container logs: a LogSource tests write to, and the pods/log endpoint that
// streams it like a kubelet would (text/plain, chunked, one write per line).
//
// Test API, per (namespace, pod, container):
//   logs.set(ns, pod, c, lines)         replace the log (reopens an ended stream)
//   logs.append(ns, pod, c, line)       add a line; followers (`logs -f`) get it at once
//   logs.end(ns, pod, c)                the container stopped: followers' responses end,
//                                       later follows return the log and end
//   logs.setPrevious(ns, pod, c, lines) the previous instance's log (`--previous`)
//   logs.lines(ns, pod, c)              what is stored
//   logs.followers(ns, pod, c)          how many follow streams are open (tests wait on it)
import type { ServerResponse } from 'node:http';
import { badRequest, invalid, type FieldError } from './errors.js';
import { isObject } from './merge.js';
import type { KubeObject } from './types.js';
import { textOf } from '../model/text.js';

export interface LogLine {
  time: number;
  text: string;
}

type Follower = (line: LogLine | null) => void;

interface Stream {
  lines: LogLine[];
  previous?: LogLine[];
  ended: boolean;
  followers: Set<Follower>;
}

const key = (ns: string, pod: string, c: string): string => `${ns}/${pod}/${c}`;

function toLines(lines: Array<string | LogLine>): LogLine[] {
  const now = Date.now();
  return lines.map((l) => (typeof l === 'string' ? { time: now, text: l } : { ...l }));
}

export class LogSource {
  private readonly streams = new Map<string, Stream>();

  private stream(ns: string, pod: string, c: string): Stream {
    const k = key(ns, pod, c);
    let s = this.streams.get(k);
    if (!s) this.streams.set(k, (s = { lines: [], ended: false, followers: new Set() }));
    return s;
  }

  set(ns: string, pod: string, container: string, lines: Array<string | LogLine>): void {
    const s = this.stream(ns, pod, container);
    s.lines = toLines(lines);
    s.ended = false;
  }

  append(ns: string, pod: string, container: string, line: string): void {
    const s = this.stream(ns, pod, container);
    const l = { time: Date.now(), text: line };
    s.lines.push(l);
    for (const f of [...s.followers]) f(l);
  }

  end(ns: string, pod: string, container: string): void {
    const s = this.stream(ns, pod, container);
    s.ended = true;
    for (const f of [...s.followers]) f(null);
    s.followers.clear();
  }

  setPrevious(ns: string, pod: string, container: string, lines: Array<string | LogLine>): void {
    this.stream(ns, pod, container).previous = toLines(lines);
  }

  lines(ns: string, pod: string, container: string): string[] {
    return this.streams.get(key(ns, pod, container))?.lines.map((l) => l.text) ?? [];
  }

  followers(ns: string, pod: string, container: string): number {
    return this.streams.get(key(ns, pod, container))?.followers.size ?? 0;
  }

  /** Internal: the stream for the endpoint. */
  open(ns: string, pod: string, container: string): Stream {
    return this.stream(ns, pod, container);
  }

  /** Ends every follower (server shutdown). */
  closeAll(): void {
    for (const s of this.streams.values()) {
      for (const f of [...s.followers]) f(null);
      s.followers.clear();
    }
  }
}

type Obj = Record<string, unknown>;
const names = (list: unknown): string[] => (Array.isArray(list) ? list.filter(isObject).map((c) => String((c as Obj).name)) : []);

/**
 * The container a log/exec/attach request is for, validated like the pod
 * registry does: defaulted when the pod has one, 400 when ambiguous or unknown.
 */
export function resolveContainer(pod: KubeObject, requested: string | null): string {
  const spec = isObject(pod.spec) ? (pod.spec as Obj) : {};
  const containers = names(spec.containers);
  const inits = names(spec.initContainers);
  const ephemeral = names(spec.ephemeralContainers);
  const podName = String(pod.metadata.name);
  if (!requested) {
    if (containers.length === 1) return containers[0];
    if (containers.length === 0) throw badRequest(`a container name must be specified for pod ${podName}`);
    let msg = `a container name must be specified for pod ${podName}, choose one of: [${containers.join(' ')}]`;
    if (inits.length) msg += ` or one of the init containers: [${inits.join(' ')}]`;
    if (ephemeral.length) msg += ` or one of the ephemeral containers: [${ephemeral.join(' ')}]`;
    throw badRequest(msg);
  }
  if (![...containers, ...inits, ...ephemeral].includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${podName}`);
  return requested;
}

/** A container that has not started has no log yet: the kubelet's 400. */
function checkStarted(pod: KubeObject, container: string): void {
  const st = isObject(pod.status) ? (pod.status as Obj) : {};
  const all = [
    ...(Array.isArray(st.containerStatuses) ? (st.containerStatuses as unknown[]) : []),
    ...(Array.isArray(st.initContainerStatuses) ? (st.initContainerStatuses as unknown[]) : []),
  ];
  const cs = all.find((c) => isObject(c) && c.name === container) as Obj | undefined;
  const waiting = cs && isObject(cs.state) && isObject((cs.state as Obj).waiting) ? ((cs.state as Obj).waiting as Obj) : undefined;
  if (waiting) {
    throw badRequest(`container "${container}" in pod "${String(pod.metadata.name)}" is waiting to start: ${textOf(waiting.reason ?? 'ContainerCreating')}`);
  }
}

function nanoTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

interface LogQuery {
  follow: boolean;
  timestamps: boolean;
  previous: boolean;
  tailLines?: number;
  sinceMs?: number;
  limitBytes?: number;
}

const truthy = (v: string | null): boolean => v === 'true' || v === '1';

function parseQuery(q: URLSearchParams, pod: string): LogQuery {
  const errs: FieldError[] = [];
  const int = (name: string, min: number): number | undefined => {
    const v = q.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw badRequest(`${name}: invalid value "${v}"`);
    if (n < min) errs.push({ type: 'FieldValueInvalid', field: name, value: n, detail: `must be greater than ${min === 0 ? 'or equal to 0' : min - 1}` });
    return n;
  };
  const out: LogQuery = { follow: truthy(q.get('follow')), timestamps: truthy(q.get('timestamps')), previous: truthy(q.get('previous')) };
  out.tailLines = int('tailLines', 0);
  out.limitBytes = int('limitBytes', 1);
  const sinceSeconds = int('sinceSeconds', 1);
  const sinceTime = q.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTime)
    errs.push({ type: 'FieldValueForbidden', field: 'sinceSeconds', detail: 'at most one of `sinceTime` or `sinceSeconds` may be specified' });
  if (sinceSeconds !== undefined) out.sinceMs = Date.now() - sinceSeconds * 1000;
  if (sinceTime) {
    const t = Date.parse(sinceTime);
    if (Number.isNaN(t)) throw badRequest(`sinceTime: invalid value "${sinceTime}"`);
    out.sinceMs = t;
  }
  if (errs.length) throw invalid('PodLogOptions', '', pod, errs);
  return out;
}

/** GET .../pods/<pod>/log: the pod is already fetched and authorized. */
export function serveLog(res: ServerResponse, pod: KubeObject, q: URLSearchParams, logs: LogSource): void {
  const ns = String(pod.metadata.namespace);
  const podName = String(pod.metadata.name);
  const container = resolveContainer(pod, q.get('container'));
  const opts = parseQuery(q, podName);
  const stream = logs.open(ns, podName, container);
  let source = stream.lines;
  if (opts.previous) {
    if (!stream.previous) throw badRequest(`previous terminated container "${container}" in pod "${podName}" not found`);
    source = stream.previous;
  } else {
    checkStarted(pod, container);
  }
  let lines = opts.sinceMs !== undefined ? source.filter((l) => l.time >= (opts.sinceMs as number)) : source;
  if (opts.tailLines !== undefined) lines = opts.tailLines === 0 ? [] : lines.slice(-opts.tailLines);

  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/plain');
  res.setHeader('Transfer-Encoding', 'chunked');
  res.flushHeaders();
  let budget = opts.limitBytes ?? Infinity;
  const write = (l: LogLine): boolean => {
    let text = (opts.timestamps ? `${nanoTimestamp(l.time)} ${l.text}` : l.text) + '\n';
    if (Buffer.byteLength(text) > budget) text = Buffer.from(text).subarray(0, budget).toString();
    budget -= Buffer.byteLength(text);
    res.write(text);
    return budget > 0;
  };
  for (const l of lines) {
    if (!write(l)) {
      res.end();
      return;
    }
  }
  if (!opts.follow || opts.previous || stream.ended) {
    res.end();
    return;
  }
  const follower: Follower = (l) => {
    if (l === null) {
      stream.followers.delete(follower);
      res.end();
    } else if (!write(l)) {
      stream.followers.delete(follower);
      res.end();
    }
  };
  stream.followers.add(follower);
  res.on('close', () => stream.followers.delete(follower));
}
