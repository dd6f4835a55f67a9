// The data path's request dispatcher: authenticate -> (approval routes) ->
// forward, called in turn with a `next`, without express.
//
// Why not express: on the small-GET bench (npm run bench) express 5's own
// frames (router layer walk, parseurl, finalhandler set-up) were 4% of
// kubetape's profile, but taking express off this path cut CPU per request
// by about a quarter (0.68 -> 0.50 ms): express re-prototypes every req and
// res (Object.setPrototypeOf), which also slows Node's own http code on
// those objects and adds garbage. Nothing express adds is used here: the
// handlers read req.url / req.originalUrl, headers and res.locals, and
// answer with plain ServerResponse calls. kubetape's own API (approvals)
// uses express's response helpers, so start.ts gives it an express app of
// its own that only requests under /kubetape/ enter.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { sendStatus } from '../model/status.js';

/**
 * One listener for node's `request` event running `handlers` in order, each
 * deciding whether to call `next()`. What express gave these handlers is
 * given here: `req.originalUrl` (the URL as received) and `res.locals`. A
 * handler that throws, rejects or passes an error to next() gets a 500
 * Status (and a log line); falling off the end is a 404 Status.
 */
export function requestChain(handlers: RequestHandler[], log: (line: string) => void): (req: IncomingMessage, res: ServerResponse) => void {
  const failed = (res: ServerResponse, err: unknown) => {
    log(`kubetape: request handler failed: ${err instanceof Error ? err.message : String(err)}`);
    sendStatus(res, 500, 'kubetape: internal error while handling the request', 'InternalError');
  };
  return (rawReq, rawRes) => {
    // The handlers are typed against express; they use only what is set here and node's own API.
    const req = rawReq as Request;
    const res = rawRes as Response;
    req.originalUrl = req.url ?? '/';
    res.locals = Object.create(null) as Response['locals'];
    let i = 0;
    const next: NextFunction = (err?: unknown) => {
      if (err !== undefined && err !== 'route' && err !== 'router') return failed(res, err);
      const h = handlers[i++];
      if (!h) return sendStatus(res, 404, `the server could not find the requested resource (${req.method} ${req.originalUrl})`, 'NotFound');
      try {
        const r = h(req, res, next);
        if (r instanceof Promise) r.catch((e: unknown) => failed(res, e));
      } catch (e) {
        failed(res, e);
      }
    };
    next();
  };
}
