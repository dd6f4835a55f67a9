// What the approval tests share: a pod in `prod` to delete (the example
// require-approval operation), kubectl's delete of it, and the approvals CLI
// run from source.
import type { Harness } from './harness.js';
import { kubectl } from './kubectl.js';
import { cliFromSource, type CliResult } from './streams.js';

export function putProdPod(h: Harness, name: string): void {
  h.api.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'prod' }, spec: { containers: [{ name: 'main', image: 'nginx' }] } });
}

export const deleteProdPod = (kubeconfig: string, pod: string) => kubectl(['delete', 'pod', pod, '-n', 'prod', '--wait=false'], { kubeconfig });

/** `kubetape approvals ARGS...`, with stdout as text. */
export async function approvalsCli(...args: string[]): Promise<CliResult & { out: string }> {
  const [r] = await cliFromSource([['approvals', ...args]]);
  return { ...r, out: r.stdout.toString('utf8') };
}
