// The kubelet's WebSocket port-forward framing (v4.channel.k8s.io and its
// base64 form), used by client libraries: the ports come from the query,
// port i owns channels 2i (data, both ways) and 2i+1 (error, server to
// client), and the server starts each channel with the port as two
// little-endian bytes. One connection per port for the life of the
// WebSocket; it closes once every port's connection has ended.
import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import { ChannelFrameError, decodeChannelFrame, encodeChannelFrame, portPrefix } from './channel-frames.js';
import { endAndFlush } from './flow.js';
import type { PortConnectionEvents, PortForwardClientConnection, PortForwardClientEnd, PortForwardClientEvents } from './portforward-types.js';
import type { PortForwardWebSocketProtocol } from './protocols.js';
import { channelWriter, closeWebSocket, messageBuffer, sendMessage } from './websocket-io.js';

class ChannelPortConnection implements PortForwardClientConnection {
  readonly data: Writable;
  readonly error: Writable;
  events: PortConnectionEvents | undefined;
  done = false;

  constructor(
    readonly port: number,
    ws: WebSocket,
    index: number,
    binary: boolean,
    private readonly onDone: () => void,
  ) {
    this.data = channelWriter(ws, index * 2, binary);
    this.error = channelWriter(ws, index * 2 + 1, binary);
  }

  start(events: PortConnectionEvents): void {
    this.events = events;
  }

  async finish(): Promise<void> {
    await Promise.all([endAndFlush(this.data), endAndFlush(this.error)]);
    this.markDone();
  }

  reset(): void {
    this.markDone();
  }

  private markDone(): void {
    if (this.done) return;
    this.done = true;
    this.onDone();
  }
}

export class WebSocketPortForwardClient implements PortForwardClientEnd {
  readonly label: string;
  private closing = false;
  private malformed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly protocol: PortForwardWebSocketProtocol,
    private readonly ports: readonly number[],
  ) {
    this.label = `websocket ${protocol.name || '(no subprotocol)'}`;
    ws.on('error', () => undefined);
    ws.pause();
  }

  start(events: PortForwardClientEvents): void {
    let open = this.ports.length;
    const connections = this.ports.map(
      (port, i) =>
        new ChannelPortConnection(port, this.ws, i, this.protocol.binary, () => {
          if (--open === 0) this.close();
        }),
    );
    for (const [i, c] of connections.entries()) {
      sendMessage(this.ws, encodeChannelFrame(i * 2, portPrefix(c.port), this.protocol.binary));
      sendMessage(this.ws, encodeChannelFrame(i * 2 + 1, portPrefix(c.port), this.protocol.binary));
    }
    this.ws.on('message', (data, isBinary) => {
      let frame;
      try {
        frame = decodeChannelFrame(messageBuffer(data), isBinary ? true : this.protocol.binary);
      } catch (err) {
        if (err instanceof ChannelFrameError) {
          this.malformed = true;
          closeWebSocket(this.ws, 1002, 'malformed message');
        }
        return;
      }
      if (!frame || frame.channel % 2 !== 0) return; // only data channels are read
      const c = connections[frame.channel / 2];
      if (c && !c.done) c.events?.data(frame.data);
    });
    this.ws.on('close', (code: number) => {
      const byUs = this.closing;
      this.closing = true;
      for (const c of connections) if (!c.done) c.events?.reset();
      if (this.malformed) events.closed('the client sent a malformed message', true);
      else events.closed(byUs ? undefined : `the client closed the connection (WebSocket close ${code})`, false);
    });
    for (const c of connections) events.connection(c);
    this.ws.resume();
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    closeWebSocket(this.ws, 1000);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}
