// The Status a session ends with, as json.Marshal(metav1.Status) writes it
// (no kind/apiVersion, code only when set), and the wording of each layer:
// the kubelet (SPDY and pre-v5 WebSocket) words a non-zero exit after
// containerd, the API server's v5 translator re-wraps what client-go made of it.

export interface StreamStatusCause {
  reason?: string;
  message?: string;
}

export interface StreamStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: StreamStatusCause[] };
  code?: number;
}

export function successStatus(): StreamStatus {
  return { metadata: {}, status: 'Success' };
}

/** A command that ran and exited non-zero. `translated`: the session went through the v5 translator. */
export function exitCodeStatus(argv: string[], code: number, translated: boolean): StreamStatus {
  const inner = translated ? `command terminated with exit code ${code}` : `error executing command [${argv.join(' ')}], exit code ${code}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${inner}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** apierrors.NewInternalError(err). */
export function internalErrorStatus(message: string): StreamStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/**
 * The kubelet's Status for an exec the runtime could not start (containerd +
 * runc wording). Through the v5 translator client-go turns that Status into
 * a plain error carrying its message, which the translator wraps once more.
 */
export function startFailureStatus(reason: string, execId: string, translated: boolean): StreamStatus {
  const runtime = `failed to exec in container: failed to start exec "${execId}": OCI runtime exec failed: exec failed: unable to start container process: ${reason}: unknown`;
  const kubelet = internalErrorStatus(`error executing command in container: ${runtime}`);
  return translated ? internalErrorStatus(kubelet.message ?? '') : kubelet;
}

/** What the error channel carries: JSON for v4/v5, the bare message (nothing on success) before v4. */
export function encodeStatus(s: StreamStatus, json: boolean): Buffer | undefined {
  if (json) return Buffer.from(JSON.stringify(s));
  if (s.status === 'Success') return undefined;
  return Buffer.from(s.message ?? 'unknown error');
}
