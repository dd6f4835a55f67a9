// Joins a client end to an upstream end of an exec/attach and records every
// channel as it passes: the recording is the tee of what was forwarded.
// Each frame is recorded before it is forwarded (exchange.relay); when the
// recording cannot go on (a write failed, a budget is spent: the exchange is
// stopped), nothing more is forwarded either way, the client gets a Failure
// Status saying why, and both sides close.
import type { Exchange } from '../../record/recorder.js';
import type { ExecClientEnd, ExecUpstreamEnd } from './exec-types.js';
import { errorChannelBytes, failureOutcome, type ExecOutcome } from './exec-status.js';
import { Valve, forward } from './flow.js';
import type { TypedDenial, TypedLineGuard } from './typed-line.js';
import { InlineMasker, type InlineMasking } from './inline-mask.js';

export interface ExecResult {
  outcome?: ExecOutcome;
  /** Why the exec did not end normally (client gone, upstream broken). */
  error?: string;
  /** The client closed the connection before the exec ended (not a protocol error): ended, not failed. */
  endedByClient?: boolean;
}

/**
 * Runs the exec to its end; resolves once both sides are closed (or closing)
 * and the exchange is finished. `inline`: patterns masked in stdout/stderr as
 * they go to the client (the recording is masked by the recorder either way).
 */
export function bridgeExec(
  client: ExecClientEnd,
  upstream: ExecUpstreamEnd,
  exchange: Exchange,
  typed?: TypedLineGuard,
  inline?: InlineMasking,
): Promise<ExecResult> {
  exchange.setStreamProtocol(client.label, upstream.label);
  // Output waits for the client; input waits for the cluster.
  const towardsClient = new Valve(
    () => upstream.pause(),
    () => upstream.resume(),
  );
  const towardsUpstream = new Valve(
    () => client.pause(),
    () => client.resume(),
  );

  return new Promise((resolve) => {
    let over = false;
    // Without inline masking output takes the direct path below: no per-chunk cost at all.
    const sendOut = (dest: ExecClientEnd['stdout']) => (chunk: Buffer) => {
      if (!over && !refusing && !exchange.stopError) forward(dest, chunk, towardsClient);
    };
    const stdoutMask = inline && client.stdout ? new InlineMasker(inline.patterns, sendOut(client.stdout), inline.maxHoldMs) : undefined;
    const stderrMask = inline && client.stderr ? new InlineMasker(inline.patterns, sendOut(client.stderr), inline.maxHoldMs) : undefined;
    const end = (result: ExecResult): void => {
      if (over) return;
      over = true;
      stdoutMask?.close();
      stderrMask?.close();
      if (result.outcome?.exitCode !== undefined) exchange.setExitCode(result.outcome.exitCode);
      exchange.finish(result.error ?? result.outcome?.error, 101, result.endedByClient ? 'client' : undefined);
      resolve(result);
    };

    // A denied line: its Enter never goes upstream; the person reads why, and the session ends.
    let refusing = false;
    const refuseLine = (before: Buffer, denial: TypedDenial): void => {
      stdoutMask?.flush();
      stderrMask?.flush();
      refusing = true;
      if (before.length > 0 && upstream.stdin) forward(upstream.stdin, before, towardsUpstream);
      upstream.close();
      exchange.setTypedDenial(denial);
      const text = Buffer.from(`\r\nkubetape: ${denial.message}\r\n`);
      if (client.stdout) {
        exchange.streamEvent('stdout', text);
        client.stdout.write(text);
      }
      const message = `kubetape: ${denial.message} (typed line refused by policy rule "${denial.rule}")`;
      const outcome: ExecOutcome = {
        raw: Buffer.alloc(0),
        status: { metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 },
        error: message,
      };
      exchange.streamEvent('status', JSON.stringify(outcome.status));
      client.finish(errorChannelBytes(outcome, client.statusJson, false)).then(
        () => end({ outcome }),
        (err: Error) => end({ outcome, error: `${message}; could not tell the client: ${err.message}` }),
      );
    };

    // The recording cannot go on: stop both directions now, and say why on the error channel.
    exchange.onStopped((reason) => {
      if (over || refusing) return;
      refusing = true;
      stdoutMask?.close();
      stderrMask?.close();
      upstream.close();
      const outcome = failureOutcome(`kubetape stopped the exec: ${reason.message}`, reason.statusCode, reason.reason);
      client.finish(errorChannelBytes(outcome, client.statusJson, false)).then(
        () => end({ outcome }),
        (err: Error) => end({ outcome, error: `${outcome.error}; could not tell the client: ${err.message}` }),
      );
    });

    client.start({
      stdin(chunk) {
        if (over || refusing || !upstream.stdin) return;
        const stdin = upstream.stdin;
        // The attempt is recorded as typed, the denied Enter included; what is forwarded waits for its record.
        const checked = typed?.inspect(chunk);
        exchange.relay('stdin', chunk, () => {
          if (over || refusing) return;
          if (checked?.denial) refuseLine(checked.forward, checked.denial);
          else forward(stdin, chunk, towardsUpstream);
        });
      },
      stdinEnd() {
        if (over || refusing) return;
        if (exchange.streamEvent('close', 'stdin')) upstream.stdin?.end();
      },
      resize(size) {
        if (over || refusing) return;
        exchange.relay(
          'resize',
          Buffer.from(size.text),
          () => {
            if (!over && !refusing) upstream.resize(size.size);
          },
          {},
          { merge: 'last' },
        );
      },
      closed(reason, protocolError) {
        if (over || refusing) return;
        upstream.close();
        end({ error: reason, endedByClient: !protocolError });
      },
    });

    upstream.start({
      stdout(chunk) {
        if (over || refusing || !client.stdout) return;
        const dest = client.stdout;
        exchange.relay('stdout', chunk, () => {
          if (over || refusing) return;
          if (stdoutMask) stdoutMask.push(chunk);
          else forward(dest, chunk, towardsClient);
        });
      },
      stderr(chunk) {
        if (over || refusing || !client.stderr) return;
        const dest = client.stderr;
        exchange.relay('stderr', chunk, () => {
          if (over || refusing) return;
          if (stderrMask) stderrMask.push(chunk);
          else forward(dest, chunk, towardsClient);
        });
      },
      done(outcome) {
        if (over || refusing) return;
        // Output still held for its record goes out first, then what the maskers hold, then the status.
        exchange.drain();
        if (exchange.stopError) return;
        stdoutMask?.flush();
        stderrMask?.flush();
        if (outcome.raw.length > 0 && !exchange.streamEvent('status', outcome.raw)) return;
        const bytes = errorChannelBytes(outcome, client.statusJson, upstream.statusJson);
        upstream.close();
        client.finish(bytes).then(
          () => end({ outcome }),
          (err: Error) => end({ outcome, error: `could not deliver the end of the exec to the client: ${err.message}` }),
        );
      },
    });
  });
}
