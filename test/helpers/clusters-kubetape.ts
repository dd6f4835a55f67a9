// kubetape in front of several clusters (clusters[]), its callers logged in
// with OIDC at a test issuer (usernames from `email`): what the tests of
// per-cluster credentials (EKS roles, impersonation) start alike.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKubetape, type RunningKubetape } from '../../src/listen/start.js';
import { resolveConfig } from '../../src/config/config.js';
import { parseOidcIssuer } from '../../src/authenticate/oidc/config.js';
import type { ClustersConfig } from '../../src/clusters/config.js';
import type { TestIssuer } from './test-issuer.js';

export function startClustersKubetape(dir: string, idp: TestIssuer, c: ClustersConfig): Promise<RunningKubetape> {
  const idpCa = join(dir, 'idp-ca.pem');
  writeFileSync(idpCa, idp.ca);
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(dir, 'data'),
      authentication: { oidc: [parseOidcIssuer({ issuer: idp.issuer, audience: 'kubetape', usernameClaim: 'email', ca: idpCa }, 'test')] },
      clusters: c.clusters,
      ...(c.aws ? { aws: c.aws } : {}),
    },
  );
  return startKubetape(config, { log: () => undefined });
}
