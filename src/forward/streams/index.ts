// exec, attach and port-forward terminated on both sides: kubetape speaks
// each client's protocol (WebSocket channel framing, SPDY/3.1, the SPDY
// tunnel in WebSocket), dials the cluster itself (WebSocket, else SPDY),
// translates between them and records every channel.
export { createStreamHandler, type StreamHandler, type StreamHandlerOptions } from './stream-handler.js';
export { allowAllStreams, authorizeStream, type StreamAuthorizer, type StreamDecision, type StreamRequestInfo } from './authorize-stream.js';
export { parseExecRequest, parsePortForwardRequest, streamKind, type StreamKind } from './stream-request.js';
export { decodeChannelFrame, encodeChannelFrame, portPrefix, ResizeDecoder, type ChannelFrame, type TerminalSize } from './channel-frames.js';
export { errorChannelBytes, outcomeFromErrorChannel, type ExecOutcome, type ExecStatus } from './exec-status.js';
export * from './protocols.js';
