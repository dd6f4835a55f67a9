// Joins a client end to an upstream end of an exec/attach and records every
// channel as it passes: the recording is the tee of what was forwarded.
import type { Exchange } from '../../record/recorder.js';
import type { ExecClientEnd, ExecUpstreamEnd } from './exec-types.js';
import { errorChannelBytes, type ExecOutcome } from './exec-status.js';
import { Valve, forward } from './flow.js';
import type { TypedDenial, TypedLineGuard } from './typed-line.js';
import { InlineMasker, type InlineMasking } from './inline-mask.js';

export interface ExecResult {
  outcome?: ExecOutcome;
  /** Why the exec did not end normally (client gone, upstream broken). */
  error?: string;
}

/**
 * Runs the exec to its end; resolves once both sides are closed (or closing)
 * and the exchange is finished. `inline`: patterns masked in stdout/stderr as
 * they go to the client (the recording is masked by the recorder either way).
 */
export function bridgeExec(client: ExecClientEnd, upstream: ExecUpstreamEnd, exchange: Exchange, typed?: TypedLineGuard, inline?: InlineMasking): Promise<ExecResult> {
  exchange.setStreamProtocol(client.label, upstream.label);
  // Output waits for the client; input waits for the cluster.
  const towardsClient = new Valve(() => upstream.pause(), () => upstream.resume());
  const towardsUpstream = new Valve(() => client.pause(), () => client.resume());

  return new Promise((resolve) => {
    let over = false;
    // Without inline masking output takes the direct path below: no per-chunk cost at all.
    const sendOut = (dest: ExecClientEnd['stdout']) => (chunk: Buffer) => {
      if (!over && !refusing) forward(dest, chunk, towardsClient);
    };
    const stdoutMask = inline && client.stdout ? new InlineMasker(inline.patterns, sendOut(client.stdout), inline.maxHoldMs) : undefined;
    const stderrMask = inline && client.stderr ? new InlineMasker(inline.patterns, sendOut(client.stderr), inline.maxHoldMs) : undefined;
    const end = (result: ExecResult): void => {
      if (over) return;
      over = true;
      stdoutMask?.close();
      stderrMask?.close();
      if (result.outcome?.exitCode !== undefined) exchange.setExitCode(result.outcome.exitCode);
      exchange.finish(result.error ?? result.outcome?.error, 101);
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
      const outcome: ExecOutcome = { raw: Buffer.alloc(0), status: { metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 }, error: message };
      exchange.streamEvent('status', JSON.stringify(outcome.status));
      client.finish(errorChannelBytes(outcome, client.statusJson, false)).then(
        () => end({ outcome }),
        (err: Error) => end({ outcome, error: `${message}; could not tell the client: ${err.message}` }),
      );
    };

    client.start({
      stdin(chunk) {
        if (over || refusing || !upstream.stdin) return;
        // The attempt is recorded as typed, the denied Enter included.
        exchange.streamEvent('stdin', chunk);
        const checked = typed?.inspect(chunk);
        if (checked?.denial) return refuseLine(checked.forward, checked.denial);
        forward(upstream.stdin, chunk, towardsUpstream);
      },
      stdinEnd() {
        if (over || refusing) return;
        exchange.streamEvent('close', 'stdin');
        upstream.stdin?.end();
      },
      resize(size) {
        if (over || refusing) return;
        exchange.streamEvent('resize', size.text);
        upstream.resize(size.size);
      },
      closed(reason) {
        if (over || refusing) return;
        upstream.close();
        end({ error: reason });
      },
    });

    upstream.start({
      stdout(chunk) {
        if (over || refusing || !client.stdout) return;
        exchange.streamEvent('stdout', chunk);
        if (stdoutMask) stdoutMask.push(chunk);
        else forward(client.stdout, chunk, towardsClient);
      },
      stderr(chunk) {
        if (over || refusing || !client.stderr) return;
        exchange.streamEvent('stderr', chunk);
        if (stderrMask) stderrMask.push(chunk);
        else forward(client.stderr, chunk, towardsClient);
      },
      done(outcome) {
        if (over || refusing) return;
        // What the maskers still hold goes out before the client is told the exec ended.
        stdoutMask?.flush();
        stderrMask?.flush();
        if (outcome.raw.length > 0) exchange.streamEvent('status', outcome.raw);
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
