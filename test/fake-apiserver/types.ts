// The test API server's shapes: the built-in API server's
// (src/devcluster/types.ts), plus what only tests configure: EKS token
// authentication against moto_server.
import type { ApiServerOptions, ApiUser } from '../../src/devcluster/types.js';
import type { EksAuthOptions } from './eks-auth.js';

export type {
  FieldSet,
  KubeObject,
  ManagedFieldsEntry,
  ObjectMeta,
  RbacRule,
  ReceivedRequest,
  UpgradeHandler,
  UpgradeRequest,
} from '../../src/devcluster/types.js';

/** A bearer token the server accepts, and who it authenticates as. */
export type FakeUser = ApiUser;

export interface FakeApiServerOptions extends ApiServerOptions {
  /** Authenticate EKS tokens (`k8s-aws-v1.`) like aws-iam-authenticator, against moto_server. */
  eksAuth?: EksAuthOptions;
}
