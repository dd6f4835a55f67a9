// The fake kube-apiserver tests and the benchmark talk to (through kubetape).
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
export { ObjectStore, type StoreEvent } from './objects.js';
export { LogSource, resolveContainer } from './logs.js';
export { rejectUpgrade } from './upgrade.js';
export {
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
} from './streams/index.js';
export { runInTerminal, type Terminal } from './terminal.js';
export { status as kubeStatus, type Status } from './errors.js';
export { RESOURCES, findResource, type ResourceDef } from './resources.js';
export { EksTokenAuthenticator, canonicalArn, type EksAuthOptions, type MapRole } from './eks-auth.js';
