// kubectl's exec/attach over WebSocket, kubetape as the server: wsstream's
// channel framing (binary or base64), stdin EOF as v5's [255, 0], the error
// channel written last, then a normal close.
import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import type { ExecRequest } from '../../model/recording.js';
import { ChannelFrameError, ResizeDecoder, decodeChannelFrame, encodeChannelFrame } from './channel-frames.js';
import type { ExecClientEnd, ExecClientEvents } from './exec-types.js';
import { endAndFlush } from './flow.js';
import { ExecChannel, type ExecWebSocketProtocol } from './protocols.js';
import { channelWriter, closeWebSocket, messageBuffer, sendMessage } from './websocket-io.js';

export class WebSocketExecClient implements ExecClientEnd {
  readonly label: string;
  readonly statusJson: boolean;
  readonly stdout: Writable | undefined;
  readonly stderr: Writable | undefined;
  private finished = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly protocol: ExecWebSocketProtocol,
    private readonly request: ExecRequest,
  ) {
    this.label = `websocket ${protocol.name || '(no subprotocol)'}`;
    this.statusJson = protocol.statusJson;
    this.stdout = request.stdout ? channelWriter(ws, ExecChannel.stdout, protocol.binary) : undefined;
    this.stderr = request.stderr ? channelWriter(ws, ExecChannel.stderr, protocol.binary) : undefined;
    ws.on('error', () => undefined);
    // Held until the upstream is ready; kubectl may already be sending stdin.
    ws.pause();
  }

  start(events: ExecClientEvents): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) {
      this.finished = true;
      queueMicrotask(() => events.closed('the client closed the connection'));
      return;
    }
    const resize = new ResizeDecoder();
    let stdinOpen = this.request.stdin;
    this.ws.on('message', (data, isBinary) => {
      if (this.finished) return;
      let frame;
      try {
        frame = decodeChannelFrame(messageBuffer(data), isBinary ? true : this.protocol.binary);
      } catch (err) {
        if (err instanceof ChannelFrameError) {
          this.finished = true;
          events.closed(`the client sent a malformed message: ${err.message}`, true);
          closeWebSocket(this.ws, 1002, 'malformed message');
        }
        return;
      }
      if (!frame) return;
      switch (frame.channel) {
        case ExecChannel.stdin:
          if (stdinOpen) events.stdin(frame.data);
          return;
        case ExecChannel.resize:
          for (const size of resize.push(frame.data)) events.resize(size);
          return;
        case ExecChannel.close:
          if (this.protocol.closeSignal && frame.data[0] === ExecChannel.stdin && stdinOpen) {
            stdinOpen = false;
            events.stdinEnd();
          }
          return;
        default:
          return; // the kubelet ignores channels it does not read
      }
    });
    this.ws.on('close', (code: number) => {
      if (this.finished) return;
      this.finished = true;
      events.closed(`the client closed the connection (WebSocket close ${code})`);
    });
    // The kubelet tells the client the streams are ready with an empty
    // message on the lowest channel it writes; some clients wait for it.
    const hello = this.request.stdout ? ExecChannel.stdout : this.request.stderr ? ExecChannel.stderr : ExecChannel.status;
    sendMessage(this.ws, encodeChannelFrame(hello, Buffer.alloc(0), this.protocol.binary));
    this.ws.resume();
  }

  async finish(errorBytes: Buffer): Promise<void> {
    this.finished = true;
    await Promise.all([endAndFlush(this.stdout), endAndFlush(this.stderr)]);
    if (errorBytes.length > 0) sendMessage(this.ws, encodeChannelFrame(ExecChannel.status, errorBytes, this.protocol.binary));
    closeWebSocket(this.ws, 1000);
  }

  abort(reason: string): void {
    this.finished = true;
    closeWebSocket(this.ws, 1011, reason);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}
