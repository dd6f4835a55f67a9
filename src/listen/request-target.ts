// The first step of the data path: the request target is parsed once, by
// model/request-target.ts, and a target it refuses is answered 400 before
// anything is authenticated, decided, recorded or forwarded. What passes is
// handed on as a RequestTarget (res.locals.target for requests, an argument
// for upgrades); req.url is set to its canonical form so that nothing later
// can read the raw one.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { parseRequestTarget, type RequestTarget } from '../model/request-target.js';
import { sendStatus } from '../model/status.js';
import { refuseUpgrade } from '../forward/refuse-upgrade.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget) => void;

/** The target a request was admitted with (set by parseTargets, moved by cluster routing). */
export function targetOf(res: Response): RequestTarget {
  const t = res.locals['target'] as RequestTarget | undefined;
  if (!t) throw new Error('kubetape: no parsed request target on this request');
  return t;
}

/** Point the request at `target`: the one value every later step reads. */
export function setTarget(req: IncomingMessage & { originalUrl?: string }, res: Response | undefined, target: RequestTarget): void {
  req.url = target.uri;
  if (req.originalUrl !== undefined) req.originalUrl = target.uri;
  if (res) res.locals['target'] = target;
}

function refusal(raw: string, why: string): string {
  const shown = raw.length > 200 ? `${raw.slice(0, 200)}...` : raw;
  return `kubetape refuses the request target ${JSON.stringify(shown)}: ${why}; the Kubernetes API server or a proxy on the way could read it differently (kubectl never sends such a path)`;
}

export function parseTargets(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const raw = req.url ?? '';
    const parsed = parseRequestTarget(raw);
    if (!parsed.ok) return sendStatus(res, 400, refusal(raw, parsed.reason), 'BadRequest');
    setTarget(req, res, parsed.target);
    next();
  };
}

export function parseUpgradeTargets(upgrade: UpgradeHandler) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const raw = req.url ?? '';
    const parsed = parseRequestTarget(raw);
    if (!parsed.ok) {
      socket.on('error', () => socket.destroy());
      return refuseUpgrade(socket, 400, refusal(raw, parsed.reason), 'BadRequest');
    }
    setTarget(req, undefined, parsed.target);
    upgrade(req, socket, head, parsed.target);
  };
}
