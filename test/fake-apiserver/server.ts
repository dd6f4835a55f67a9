// The tests' fake kube-apiserver: the built-in API server kubetape ships
// (src/devcluster/, which `kubetape dev` also runs), with the request log on
// and, when asked, EKS token authentication (test-only: it checks tokens
// against moto_server's STS).
import { startApiServer, type ApiServer } from '../../src/devcluster/server.js';
import type { TokenAuthenticator } from '../../src/devcluster/auth.js';
import { EKS_PREFIX, EksTokenAuthenticator } from './eks-auth.js';
import type { FakeApiServerOptions } from './types.js';

export interface FakeApiServer extends ApiServer {
  /** EKS token authentication, when `eksAuth` was given (its `rejections` say why tokens were refused). */
  eksAuth: EksTokenAuthenticator | undefined;
}

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const { eksAuth, ...rest } = opts;
  const eks = eksAuth ? new EksTokenAuthenticator(eksAuth) : undefined;
  const tokenAuthenticators: TokenAuthenticator[] = [...(rest.tokenAuthenticators ?? [])];
  if (eks)
    tokenAuthenticators.unshift((token) => (token.startsWith(EKS_PREFIX) ? eks.authenticate(token).then((r) => (r.ok ? r.identity : 'invalid')) : undefined));
  const api = await startApiServer({
    name: 'fake-apiserver',
    podDirPrefix: 'fake-apiserver-pods-',
    ...rest,
    ...(tokenAuthenticators.length ? { tokenAuthenticators } : {}),
  });
  // The same object (its upgradeHandler is a live accessor), with the EKS authenticator added.
  return Object.assign(api, { eksAuth: eks });
}
