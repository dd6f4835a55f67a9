// A minimal exec client over WebSocket v5.channel.k8s.io, written with `ws`
// so the bench measures the paths and not a client: kubectl's own start-up
// and copying would dominate the figures. Frames are one channel byte then
// data: 1 stdout, 2 stderr, 3 the Status (JSON), 255 close-a-channel.
import WebSocket from 'ws';
import { performance } from 'node:perf_hooks';
import type { Target } from './load.js';

const V5 = 'v5.channel.k8s.io';
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;

export interface ExecRun {
  /** ms from starting the connection to the first stdout byte (NaN if none). */
  firstByteMs: number;
  /** ms from starting the connection to the Status / close. */
  totalMs: number;
  stdoutBytes: number;
  stderr: string;
  status: string;
}

export interface OpenExec {
  ws: WebSocket;
  /** Resolves once the upgrade is complete (the exec is running). */
  opened: Promise<void>;
  /** Resolves when the server ends the exec (Status or close). */
  done: Promise<ExecRun>;
}

function execUrl(target: Target, pod: string, command: string[], stdin: boolean): string {
  const q = new URLSearchParams();
  for (const c of command) q.append('command', c);
  q.set('stdout', 'true');
  q.set('stderr', 'true');
  if (stdin) q.set('stdin', 'true');
  const base = new URL(`/api/v1/namespaces/default/pods/${pod}/exec`, target.url);
  base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${base.toString()}?${q.toString()}`;
}

/** Starts `command` in `pod` through `target`; stdout bytes are counted, never kept. */
export function openExec(target: Target, pod: string, command: string[], o: { stdin?: boolean } = {}): OpenExec {
  const started = performance.now();
  const ws = new WebSocket(execUrl(target, pod, command, o.stdin === true), [V5], {
    headers: target.token ? { Authorization: `Bearer ${target.token}` } : {},
    ...(target.ca ? { ca: target.ca } : {}),
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  let firstByteMs = NaN;
  let stdoutBytes = 0;
  let stderr = '';
  let status = '';
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      if (ws.protocol !== V5) reject(new Error(`server chose subprotocol "${ws.protocol}", not ${V5}`));
      else resolve();
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`exec upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  opened.catch(() => undefined);
  ws.on('message', (data: Buffer) => {
    if (data.length < 2) return;
    const channel = data[0];
    if (channel === STDOUT) {
      if (stdoutBytes === 0) firstByteMs = performance.now() - started;
      stdoutBytes += data.length - 1;
    } else if (channel === STDERR) stderr += data.subarray(1).toString();
    else if (channel === STATUS) status += data.subarray(1).toString();
  });
  const done = new Promise<ExecRun>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('close', () => resolve({ firstByteMs, totalMs: performance.now() - started, stdoutBytes, stderr, status }));
  });
  done.catch(() => undefined);
  return { ws, opened, done };
}

/** Runs `command` to its end and returns what came back. */
export async function runExec(target: Target, pod: string, command: string[]): Promise<ExecRun> {
  const e = openExec(target, pod, command);
  await e.opened;
  const r = await e.done;
  if (r.status && !/"status":"Success"/.test(r.status)) throw new Error(`exec ${command.join(' ')} via ${target.label} failed: ${r.status} ${r.stderr}`);
  return r;
}
