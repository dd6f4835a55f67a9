// One exec or attach after the cluster accepted kubetape's upgrade: accept
// the client's upgrade, make both ends ready, and bridge them.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ExecRequest } from '../../model/recording.js';
import type { Exchange } from '../../record/recorder.js';
import { acceptSpdyUpgrade } from '../spdy/upgrade.js';
import type { ClientPlan } from './client-negotiation.js';
import { bridgeExec } from './exec-bridge.js';
import { SpdyExecClient } from './exec-client-spdy.js';
import { WebSocketExecClient } from './exec-client-websocket.js';
import { errorChannelBytes, failureOutcome } from './exec-status.js';
import type { ExecClientEnd, ExecUpstreamEnd } from './exec-types.js';
import { SpdyExecUpstream } from './exec-upstream-spdy.js';
import { WebSocketExecUpstream } from './exec-upstream-websocket.js';
import { dropUpstream, type UpstreamSession } from './upstream-connect.js';
import type { WebSocketAcceptor } from './websocket-accept.js';
import { TypedLineGuard, type TypedLineRules } from './typed-line.js';
import type { InlineMasking } from './inline-mask.js';

export interface UpgradeContext {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  exchange: Exchange;
  acceptor: WebSocketAcceptor;
  /** How long a SPDY client may take to open its streams. */
  streamCreationTimeoutMs: number;
}

export async function runExec(
  c: UpgradeContext,
  plan: Extract<ClientPlan, { kind: 'exec-websocket' | 'exec-spdy' }>,
  request: ExecRequest,
  upstream: UpstreamSession,
  typed?: TypedLineRules,
  inline?: InlineMasking,
): Promise<void> {
  let client: ExecClientEnd;
  try {
    if (plan.kind === 'exec-websocket') {
      const ws = await c.acceptor.accept(c.req, c.socket, c.head, plan.protocol.name);
      client = new WebSocketExecClient(ws, plan.protocol, request);
    } else {
      const conn = acceptSpdyUpgrade(c.req, c.socket, c.head, plan.protocol.name);
      client = await SpdyExecClient.accept(conn, c.socket, plan.protocol, request, c.streamCreationTimeoutMs);
    }
  } catch (err) {
    dropUpstream(upstream);
    // A WebSocket handshake that failed was answered 400 by ws; a SPDY client had its 101.
    c.exchange.finish(`the client's side of the upgrade failed: ${(err as Error).message}`, plan.kind === 'exec-websocket' ? 400 : 101);
    return;
  }

  let up: ExecUpstreamEnd;
  if (upstream.transport === 'websocket') {
    up = new WebSocketExecUpstream(upstream.ws, upstream.protocol, request);
  } else {
    try {
      up = await SpdyExecUpstream.open(upstream.connection, upstream.socket, upstream.protocol, request);
    } catch (err) {
      const outcome = failureOutcome(`kubetape: the cluster did not accept the exec streams: ${(err as Error).message}`);
      c.exchange.setStreamProtocol(client.label, `spdy ${upstream.protocol}`);
      c.exchange.streamEvent('status', outcome.raw);
      await client.finish(errorChannelBytes(outcome, client.statusJson, false));
      c.exchange.finish(outcome.error, 101);
      return;
    }
  }
  await bridgeExec(client, up, c.exchange, typed && request.tty ? new TypedLineGuard(typed) : undefined, inline);
}
