// Reading exec/attach/port-forward recordings back, for `sessions show`,
// `replay` and `export`. Sessions are read as a stream of events (a request
// always precedes its stream events), so a long recording is never held
// whole in memory.
import type { RecordEvent, RequestEvent, ResponseEvent, StreamEvent } from '../model/recording.js';
import type { RecordingStore } from '../store/store.js';
import type { VerifyReport } from '../store/verify.js';
import { humanBytes } from './format.js';
import { CliError } from './errors.js';
import { NoTerminalError, eventBytes, isTerminalRequest, terminalEvents as readTerminalEvents, type TimedStreamEvent } from '../console/terminal-events.js';

/** A full session id from an id or unique prefix, or a one-line error. */
export async function resolveSession(store: RecordingStore, idArg: string): Promise<string> {
  let id: string | undefined;
  try {
    id = await store.resolveId(idArg);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (!id) throw new CliError(`no session "${idArg}"; see \`kubetape sessions list\``);
  return id;
}

/**
 * Checks the chain of the session about to be shown, replayed or exported
 * (RecordingStore.verify) and, when it does not verify, says so on stderr
 * before anything is displayed. Returns the report (undefined when the store
 * cannot verify).
 */
export async function warnUnlessVerified(store: RecordingStore, id: string): Promise<VerifyReport | undefined> {
  if (!store.verify) return undefined;
  let r: VerifyReport;
  try {
    r = await store.verify(id);
  } catch (e) {
    process.stderr.write(`kubetape: warning: session ${id} could not be verified (${(e as Error).message}); what follows is unchecked\n`);
    return undefined;
  }
  if (!r.ok)
    process.stderr.write(`kubetape: WARNING: session ${id} does not verify: ${r.problem}. What follows may have been changed; see \`kubetape verify ${id}\`\n`);
  return r;
}

export { isTerminalRequest, eventBytes, type TimedStreamEvent };

/** The session's exec/attach stream events on one clock (console/terminal-events.ts); nothing to play is a one-line CliError. */
export async function* terminalEvents(store: RecordingStore, id: string, seq?: number): AsyncGenerator<TimedStreamEvent> {
  try {
    yield* readTerminalEvents(store, id, seq);
  } catch (e) {
    if (e instanceof NoTerminalError) throw new CliError(e.message);
    throw e;
  }
}

/** One line about an exec/attach/port-forward for the `sessions show` timeline. */
export function describeStream(rq: RequestEvent, rs: ResponseEvent | undefined, events: readonly RecordEvent[]): string | undefined {
  const bytes = rs?.streamBytes ?? {};
  const size = (k: keyof typeof bytes): string => humanBytes(bytes[k] ?? 0);
  const protocol = rs?.streamProtocol ? `   (${rs.streamProtocol.client} -> ${rs.streamProtocol.upstream})` : '';
  if (rq.exec) {
    const e = rq.exec;
    const what = rq.attrs.subresource === 'attach' ? 'attach' : `exec ${JSON.stringify(e.command)}`;
    const flags = [e.container ? `container=${e.container}` : '', e.tty ? 'tty' : '', e.stdin ? 'stdin' : ''].filter(Boolean).join(' ');
    const exit = rs?.exitCode !== undefined ? `exit ${rs.exitCode}` : rs ? 'exit code unknown' : 'running';
    const channels = [`stdin ${size('stdin')}`, `stdout ${size('stdout')}`];
    if (!e.tty) channels.push(`stderr ${size('stderr')}`);
    if (bytes.resize) channels.push(`${countEvents(events, rq.seq, 'resize')} resizes`);
    return `${what}${flags ? ' ' + flags : ''}   ${exit}   ${channels.join(', ')}${protocol}`;
  }
  if (rq.portForward) {
    const ports =
      rq.portForward.ports.length > 0
        ? rq.portForward.ports
        : [...new Set(events.filter((x) => x.type === 'stream' && x.seq === rq.seq && x.channel === 'open').map((x) => (x as StreamEvent).port))];
    const connections = countEvents(events, rq.seq, 'open');
    return `port-forward ports ${ports.join(',') || '-'}   ${connections} connection${connections === 1 ? '' : 's'}   in ${size('in')}, out ${size('out')}${bytes.error ? `, error ${size('error')}` : ''}${protocol}`;
  }
  return undefined;
}

function countEvents(events: readonly RecordEvent[], seq: number, channel: StreamEvent['channel']): number {
  let n = 0;
  for (const x of events) if (x.type === 'stream' && x.seq === seq && x.channel === channel) n++;
  return n;
}
