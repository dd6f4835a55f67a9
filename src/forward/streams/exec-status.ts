// The end of an exec: what the cluster said on the error channel, and how to
// say it to a client that may speak another protocol version.
//
//   upstream v4/v5 (Status JSON)  -> client v4/v5: the same bytes
//                                 -> client v1..v3: the Status message as text on failure, nothing on success
//   upstream v1..v3 (text)        -> client v4/v5: a Failure Status with that message; the exit code is
//                                    recovered from the kubelet's "..., exit code N" wording when present
//                                 -> client v1..v3: the same text
//   upstream ended without status -> success if it closed cleanly, else a Failure Status (InternalError)
import { statusObject } from '../../model/status.js';

export interface ExecStatus {
  kind?: string;
  apiVersion?: string;
  metadata?: Record<string, unknown>;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: Array<{ reason?: string; message?: string; field?: string }>; [k: string]: unknown };
}

export interface ExecOutcome {
  /** The error channel's bytes exactly as the upstream sent them (empty: nothing was sent). */
  raw: Buffer;
  /** Parsed Status (JSON from v4+, or built from a v1..v3 message). Undefined means success. */
  status?: ExecStatus;
  /** 0 on success, the command's code on NonZeroExitCode; undefined when unknown. */
  exitCode?: number;
  /** Set when kubetape, not the cluster, ended the exec (the upstream connection broke). */
  error?: string;
}

const SUCCESS_JSON = '{"metadata":{},"status":"Success"}';

/** Reads the error channel of an upstream that spoke `statusJson` (v4+) or not. */
export function outcomeFromErrorChannel(raw: Buffer, statusJson: boolean): ExecOutcome {
  const text = raw.toString('utf8').trim();
  if (text.length === 0) return { raw, exitCode: 0 };
  if (statusJson) {
    try {
      const status = JSON.parse(text) as ExecStatus;
      if (status && typeof status === 'object') {
        if (status.status === 'Success') return { raw, status, exitCode: 0 };
        const code = exitCodeOf(status);
        return code === undefined ? { raw, status } : { raw, status, exitCode: code };
      }
    } catch {
      // not JSON after all: treat as a message, as an older peer would have meant it
    }
  }
  const status = statusFromMessage(text);
  const code = exitCodeOf(status);
  return code === undefined ? { raw, status } : { raw, status, exitCode: code };
}

/**
 * kubetape's own failure: the upstream went away before saying how the
 * command ended (500 InternalError), or kubetape stopped the exec because it
 * could not record it (503 ServiceUnavailable, 507 InsufficientStorage).
 */
export function failureOutcome(message: string, code = 500, reason = 'InternalError'): ExecOutcome {
  const status = statusObject(code, message, reason) as unknown as ExecStatus;
  return { raw: Buffer.from(JSON.stringify(status)), status, error: message };
}

/** What to write on the client's error channel; empty means write nothing. */
export function errorChannelBytes(outcome: ExecOutcome, clientStatusJson: boolean, upstreamStatusJson: boolean): Buffer {
  if (clientStatusJson) {
    if (outcome.error === undefined && upstreamStatusJson && outcome.raw.length > 0) return outcome.raw;
    return Buffer.from(outcome.status ? JSON.stringify(outcome.status) : SUCCESS_JSON);
  }
  if (!outcome.status || outcome.status.status === 'Success') return Buffer.alloc(0);
  if (outcome.error === undefined && !upstreamStatusJson) return outcome.raw;
  return Buffer.from(outcome.status.message ?? 'command failed');
}

function exitCodeOf(s: ExecStatus): number | undefined {
  if (s.reason !== 'NonZeroExitCode') return undefined;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) ? n : undefined;
}

/** A v1..v3 error message as a Status; the kubelet words exit codes as "..., exit code N". */
function statusFromMessage(message: string): ExecStatus {
  const m = /exit code (\d+)\s*$/.exec(message);
  if (m) {
    return {
      metadata: {},
      status: 'Failure',
      message,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: m[1] }] },
    };
  }
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 };
}
