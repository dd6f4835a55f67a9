// The fake kube-apiserver tests and the benchmark talk to (through kubetape):
// the built-in API server in src/devcluster/ (shared with `kubetape dev`),
// plus the test-only parts kept here: EKS token authentication, the
// terminal runner for tests, the standalone runner for the benchmark.
export { startFakeApiServer, type FakeApiServer } from './server.js';
export type {
  FakeApiServerOptions,
  FakeUser,
  KubeObject,
  ManagedFieldsEntry,
  ObjectMeta,
  RbacRule,
  ReceivedRequest,
  UpgradeHandler,
  UpgradeRequest,
} from './types.js';
export {
  ObjectStore,
  type StoreEvent,
  LogSource,
  resolveContainer,
  rejectUpgrade,
  DEFAULT_MAIN_PROCESS,
  type AttachCommandFn,
  type PortForwardConnectionLog,
  type PortForwardTargetFn,
  type PortTarget,
  type StreamProtocols,
  type StreamSessionLog,
  type StreamStatus,
  type StreamTransport,
  type TerminalSize,
} from '../../src/devcluster/index.js';
export { runInTerminal, type Terminal } from './terminal.js';
export { kubeStatus, type Status, RESOURCES, findResource, type ResourceDef } from '../../src/devcluster/index.js';
export { EksTokenAuthenticator, canonicalArn, type EksAuthOptions, type MapRole } from './eks-auth.js';
