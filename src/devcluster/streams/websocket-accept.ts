// Completes WebSocket upgrades with a protocol WE chose. `ws` would pick by
// itself and rejects names that are not HTTP tokens (SPDY/3.1+portforward.k8s.io
// has a '/'), so the offer is removed from the request before the handshake
// and the answer header added in the 'headers' event.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

const MAX_MESSAGE = 64 * 1024 * 1024;

export class WebSocketAcceptor {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_MESSAGE });
  private readonly chosen = new WeakMap<IncomingMessage, string>();

  constructor() {
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const protocol = this.chosen.get(req);
      if (protocol) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
    });
  }

  /**
   * Answers 101 with `protocol` ('' = no Sec-WebSocket-Protocol) and calls
   * onOpen with the socket. A malformed handshake is answered by `ws` itself
   * (400) and onOpen never runs.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string, onOpen: (ws: WebSocket) => void): void {
    delete req.headers['sec-websocket-protocol'];
    if (protocol) this.chosen.set(req, protocol);
    this.wss.handleUpgrade(req, socket, head, (ws) => onOpen(ws));
  }

  close(): void {
    this.wss.close();
  }
}
