// The built-in Kubernetes API: an in-memory, single-process API server that
// kubectl cannot tell from a real one for everyday work (discovery, tables,
// watch, logs, OpenAPI for apply, server-side apply, exec/attach/port-forward
// into local processes). It is the tests' faithful fake kube-apiserver
// (test/fake-apiserver adds the test-only parts) and what `kubetape dev` puts
// kubetape in front of. It is not a cluster: nothing is scheduled, "pods"
// are directories and the processes exec starts in them.
export { startApiServer, type ApiServer } from './server.js';
export type {
  ApiServerOptions,
  ApiUser,
  FieldSet,
  KubeObject,
  ManagedFieldsEntry,
  ObjectMeta,
  RbacRule,
  ReceivedRequest,
  UpgradeHandler,
  UpgradeRequest,
} from './types.js';
export type { AuthResult, TokenAuthenticator } from './auth.js';
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
export { status as kubeStatus, type Status } from './errors.js';
export { RESOURCES, findResource, type ResourceDef } from './resources.js';
