// A fake cluster with kubetape in front of it, the way a user runs it:
// kubetape reads the cluster from a kubeconfig, writes its own kubeconfig
// into the data dir, and kubectl uses that.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer, type FakeApiServer, type FakeApiServerOptions } from '../fake-apiserver/index.js';
import { writeKubeconfig } from './kubectl.js';
import { startKubetape, type RunningKubetape, type StartOptions } from '../../src/listen/start.js';
import { resolveConfig, type ServeConfig } from '../../src/config/config.js';

export interface Harness {
  api: FakeApiServer;
  kt: RunningKubetape;
  dir: string;
  dataDir: string;
  /** kubeconfig pointing at kubetape (written by kubetape). */
  kubeconfig: string;
  /** kubeconfig pointing straight at the fake cluster as admin. */
  upstreamKubeconfig: string;
  close(): Promise<void>;
}

export async function startHarness(o: { api?: FakeApiServerOptions; config?: Partial<ServeConfig>; start?: StartOptions } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-test-'));
  const api = await startFakeApiServer(o.api);
  const upstreamKubeconfig = writeKubeconfig(dir, { server: api.url, ca: api.ca, token: 'admin-token', name: 'fake' });
  const dataDir = join(dir, 'data');
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir,
      kubeconfig: upstreamKubeconfig,
      ...o.config,
    },
  );
  const kt = await startKubetape(config, { log: () => undefined, ...o.start });
  return {
    api,
    kt,
    dir,
    dataDir,
    kubeconfig: kt.kubeconfigPath,
    upstreamKubeconfig,
    async close() {
      await kt.close();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
