// The exec-credential protocol between kubectl and `kubetape credential`:
// kubectl says what it wants in KUBERNETES_EXEC_INFO (API version, whether
// the user is at a terminal), and reads an ExecCredential from stdout.
import { EXEC_API_VERSIONS, type ExecApiVersion } from '../kubeconfig/types.js';

export interface ExecInfo {
  apiVersion: ExecApiVersion;
  /** kubectl gave the plugin the terminal's stdin (false: nobody can answer a prompt). */
  interactive: boolean;
}

/** Parse KUBERNETES_EXEC_INFO; absent means v1 run by hand. */
export function parseExecInfo(raw: string | undefined): ExecInfo {
  if (!raw) return { apiVersion: 'client.authentication.k8s.io/v1', interactive: Boolean(process.stdin.isTTY) };
  let doc: { apiVersion?: unknown; spec?: { interactive?: unknown } };
  try {
    doc = JSON.parse(raw) as typeof doc;
  } catch {
    throw new Error('KUBERNETES_EXEC_INFO is not JSON');
  }
  const apiVersion = doc.apiVersion;
  if (!EXEC_API_VERSIONS.includes(apiVersion as ExecApiVersion)) {
    throw new Error(`kubectl asked for ExecCredential ${JSON.stringify(apiVersion)}; kubetape speaks ${EXEC_API_VERSIONS.join(' and ')}`);
  }
  return { apiVersion: apiVersion as ExecApiVersion, interactive: doc.spec?.interactive === true };
}

export function execCredential(apiVersion: ExecApiVersion, token: string, expiresAt: Date): string {
  return (
    JSON.stringify({
      apiVersion,
      kind: 'ExecCredential',
      spec: {},
      // kubectl runs the plugin again when this passes.
      status: { token, expirationTimestamp: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z') },
    }) + '\n'
  );
}
