// Completing a client's WebSocket upgrade with `ws` (noServer). kubetape
// negotiates the subprotocol itself: `ws` rejects names that are not HTTP
// tokens (SPDY/3.1+portforward.k8s.io has a '/'), so the request header is
// removed before the handshake and the chosen protocol is written into the
// 101 response here.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { registerServerSocket } from './websocket-io.js';

export class WebSocketAcceptor {
  private readonly server: WebSocketServer;
  private readonly chosen = new WeakMap<IncomingMessage, string>();

  constructor(maxPayload = 16 * 1024 * 1024) {
    this.server = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload });
    this.server.on('headers', (headers: string[], req: IncomingMessage) => {
      const protocol = this.chosen.get(req);
      if (protocol) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
    });
  }

  /** Resolves with the open WebSocket; rejects if the handshake is invalid (ws has then answered 400). */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket> {
    if (protocol) this.chosen.set(req, protocol);
    delete req.headers['sec-websocket-protocol'];
    return new Promise((resolve, reject) => {
      const onClose = (): void => reject(new Error('the WebSocket handshake with the client failed'));
      socket.once('close', onClose);
      this.server.handleUpgrade(req, socket, head, (ws) => {
        socket.off('close', onClose);
        registerServerSocket(ws, socket);
        resolve(ws);
      });
    });
  }

  close(): void {
    this.server.close();
  }
}
