// exec, attach and port-forward for the built-in API server: its default upgrade
// handler (startApiServer installs it unless `streams: false` or an
// `upgradeHandler` is given). What a client sees is what a cluster answers:
//
// WebSocket exec/attach: an offer containing v5.channel.k8s.io is answered
//   v5 (the API server's translator); otherwise the kubelet's rule, the
//   client's first of '', channel.k8s.io, base64.channel.k8s.io,
//   v4.channel.k8s.io, v4.base64.channel.k8s.io (v2/v3 exist only on SPDY:
//   403). An empty message on the lowest writable channel first; the Status
//   on channel 3 (JSON for v4/v5, error text before), then close 1000.
// SPDY exec/attach: v5, v4, v3, v2, channel.k8s.io by the client's order
//   (none offered = v1); the server waits up to 30 s for the streams.
// Port-forward: SPDY/3.1+portforward.k8s.io tunnel over WebSocket, the
//   kubelet's v4 channel framing (ports from `ports`/`port`), or SPDY
//   portforward.k8s.io. Ports go to a per-server TCP echo service, or where
//   `portForwardTarget` says; no target = the kubelet's error text.
// Processes: real ones, in a per-pod directory (server.podDir()), with a
//   container-like minimal environment; tty sessions run under a real pty
//   (python3). attach attaches to the container's main process (one per pod
//   container, started on first attach; tty/stdin/stdinOnce from the spec).
// Knobs: streamProtocols {websocket, spdy} (a refused kind is answered 400,
//   so clients fall back); every session lands in server.streams.
export { StreamRuntime, type AttachCommandFn, type StreamProtocols, type StreamRuntimeOptions } from './stream-runtime.js';
export type { PortForwardConnectionLog, StreamSessionLog, StreamTransport } from './session-log.js';
export type { PortForwardTargetFn, PortTarget } from './portforward-targets.js';
export type { TerminalSize } from './exec-runtime.js';
export type { StreamStatus } from './status.js';
export { DEFAULT_MAIN_PROCESS } from './attach.js';
export { PTY_SCRIPT } from './pty-script.js';
