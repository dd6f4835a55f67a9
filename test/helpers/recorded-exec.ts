// An exec recording written straight into a store, the way the recorder
// writes one (session start, the exec request, its stream events, the 101
// response with the exit code, session end): for recordings longer or
// stranger than a test can make kubectl produce in seconds. The console and
// its player read it through the same store API as any other session.
import type { RecordingStore } from '../../src/store/store.js';
import { newSessionId } from '../../src/store/store.js';
import type { StreamEvent } from '../../src/model/recording.js';

export interface Frame {
  offsetMs: number;
  channel: StreamEvent['channel'];
  data: string;
}

export interface ExecRecording {
  user?: string;
  /** When the session started (milliseconds since the epoch). */
  at?: number;
  namespace?: string;
  pod?: string;
  tty?: boolean;
}

export async function writeExecRecording(store: RecordingStore, frames: Iterable<Frame>, o: ExecRecording = {}): Promise<string> {
  const at = o.at ?? Date.now() - 3_600_000;
  const id = newSessionId(at);
  const time = new Date(at).toISOString();
  const ns = o.namespace ?? 'prod';
  const pod = o.pod ?? 'web-0';
  const tty = o.tty ?? true;
  const w = await store.openSession({
    type: 'session.start',
    session: id,
    time,
    user: o.user ?? 'dana@example.com',
    groups: ['dev'],
    authMethod: 'token',
    cluster: 'c',
    source: '127.0.0.1',
    command: 'kubectl exec',
  });
  await w.append({
    type: 'request',
    session: id,
    seq: 1,
    time,
    method: 'POST',
    uri: `/api/v1/namespaces/${ns}/pods/${pod}/exec?command=sh&stdin=true&stdout=true${tty ? '&tty=true' : ''}`,
    attrs: { verb: 'create', apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: 'exec', namespace: ns, name: pod, isResourceRequest: true },
    headers: {},
    streaming: true,
    exec: { command: ['sh'], tty, stdin: true, stdout: true, stderr: !tty },
  });
  let last = 0;
  for (const f of frames) {
    last = Math.max(last, f.offsetMs);
    await w.append({ type: 'stream', session: id, seq: 1, offsetMs: f.offsetMs, channel: f.channel, encoding: 'utf8', data: f.data });
  }
  const end = new Date(at + last).toISOString();
  await w.append({ type: 'response', session: id, seq: 1, time: end, status: 101, durationMs: last, bytesIn: 0, bytesOut: 0, exitCode: 0 });
  await w.close({
    type: 'session.end',
    session: id,
    time: end,
    reason: 'connection-closed',
    summary: { requests: 1, bytesIn: 0, bytesOut: 0, verbs: ['create'], namespaces: [ns], resources: ['pods/exec'], errors: 0 },
  });
  return id;
}
