// kubetape decides (policy, recording) on the path as it parses it and then
// forwards the path as the client sent it, for the API server to parse
// again. The two readings must agree. Go's net/http hands the API server a
// percent-decoded path, so "/namespaces/prod%2Fpods%2Fweb" is read there as
// three segments and here as one; empty and dot segments are treated one
// way by Go's routing and another by a string split. kubectl and client-go
// never send such paths, so rather than imitate every reading, kubetape
// refuses them.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { sendStatus } from '../kube/status.js';
import { refuseUpgrade } from './streams/refuse.js';

/** Why the path of `uri` is not canonical, or undefined when it is. */
export function nonCanonicalPath(uri: string): string | undefined {
  const q = uri.indexOf('?');
  const path = q >= 0 ? uri.slice(0, q) : uri;
  if (!path.startsWith('/')) return 'it does not start with /';
  if (/%2f|%5c/i.test(path)) return 'it has an encoded slash or backslash';
  const segments = path.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    // One trailing slash is harmless ("/apis/"): both readings drop it.
    if (s === '' && i < segments.length - 1) return 'it has an empty segment (//)';
    if (s === '.' || s === '..' || /^(?:\.|%2e){1,2}$/i.test(s)) return 'it has a . or .. segment';
  }
  return undefined;
}

const refusal = (uri: string, why: string) => `kubetape refuses the request path ${JSON.stringify(uri.split('?')[0])}: ${why}; send the path without it`;

/** First on the data path: a request with a non-canonical path is answered 400 and goes no further. */
export function rejectNonCanonicalPaths(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const why = nonCanonicalPath(req.url ?? '/');
    if (why) return sendStatus(res, 400, refusal(req.url ?? '/', why), 'BadRequest');
    next();
  };
}

/** The same for upgrades (exec, attach, port-forward, WebSocket watches). */
export function guardUpgradePaths(upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const why = nonCanonicalPath(req.url ?? '/');
    if (why) return refuseUpgrade(socket, 400, refusal(req.url ?? '/', why), 'BadRequest');
    upgrade(req, socket, head);
  };
}
