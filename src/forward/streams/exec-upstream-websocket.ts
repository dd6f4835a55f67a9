// exec/attach to the cluster over WebSocket (kubetape is the client):
// channel-prefixed binary messages, the Status on channel 3, the end when the
// server closes the WebSocket.
import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import type { ExecRequest } from '../../model/recording.js';
import { decodeChannelFrame, encodeChannelFrame, encodeTerminalSize, type TerminalSize } from './channel-frames.js';
import type { ExecUpstreamEnd, ExecUpstreamEvents } from './exec-types.js';
import { failureOutcome, outcomeFromErrorChannel } from './exec-status.js';
import { ExecChannel, EXEC_WEBSOCKET_PROTOCOLS, type ExecWebSocketProtocol } from './protocols.js';
import { channelWriter, closeWebSocket, keepAlive, messageBuffer, sendMessage } from './websocket-io.js';

const PING_INTERVAL_MS = 5000;
/** Status JSON is small; anything much larger on channel 3 is not a Status. */
const MAX_STATUS_BYTES = 64 * 1024;

export class WebSocketExecUpstream implements ExecUpstreamEnd {
  readonly label: string;
  readonly statusJson: boolean;
  readonly stdin: Writable | undefined;
  private readonly protocol: ExecWebSocketProtocol;
  private readonly status: Buffer[] = [];
  private statusSize = 0;
  private ended = false;

  constructor(
    private readonly ws: WebSocket,
    protocolName: string,
    request: ExecRequest,
  ) {
    this.protocol = EXEC_WEBSOCKET_PROTOCOLS.find((p) => p.name === protocolName) ?? EXEC_WEBSOCKET_PROTOCOLS[1];
    this.label = `websocket ${this.protocol.name}`;
    this.statusJson = this.protocol.statusJson;
    const closeSignal = this.protocol.closeSignal;
    this.stdin = request.stdin
      ? channelWriter(ws, ExecChannel.stdin, this.protocol.binary, () => {
          // Only v5 can say "stdin is done" without ending the whole exec.
          if (closeSignal) sendMessage(ws, Buffer.from([ExecChannel.close, ExecChannel.stdin]));
        })
      : undefined;
    ws.on('error', () => undefined);
    keepAlive(ws, PING_INTERVAL_MS);
  }

  resize(size: TerminalSize): void {
    sendMessage(this.ws, encodeChannelFrame(ExecChannel.resize, Buffer.from(encodeTerminalSize(size)), this.protocol.binary));
  }

  start(events: ExecUpstreamEvents): void {
    this.ws.on('message', (data, isBinary) => {
      if (this.ended) return;
      let frame;
      try {
        frame = decodeChannelFrame(messageBuffer(data), isBinary ? true : this.protocol.binary);
      } catch {
        return; // the kubelet logs and skips frames it cannot decode; so do we
      }
      if (!frame) return;
      if (frame.channel === ExecChannel.stdout) events.stdout(frame.data);
      else if (frame.channel === ExecChannel.stderr) events.stderr(frame.data);
      else if (frame.channel === ExecChannel.status && this.statusSize < MAX_STATUS_BYTES) {
        this.status.push(frame.data);
        this.statusSize += frame.data.length;
      }
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      if (this.ended) return;
      this.ended = true;
      const raw = Buffer.concat(this.status);
      // kubectl reads a clean close without a Status as success; an abnormal
      // close (1006: the connection just dropped) without one is a failure.
      if (raw.length === 0 && code !== 1000 && code !== 1005) {
        const why = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
        events.done(failureOutcome(`kubetape: the connection to the cluster ended unexpectedly (WebSocket close ${code}${why})`));
        return;
      }
      events.done(outcomeFromErrorChannel(raw, this.protocol.statusJson));
    });
    this.ws.resume();
  }

  close(): void {
    this.ended = true;
    closeWebSocket(this.ws);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}
