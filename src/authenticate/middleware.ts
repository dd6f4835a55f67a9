// Authentication on the data path: nothing past this point runs for a caller
// kubetape cannot name.
import type { Request, Response, NextFunction } from 'express';
import { sendStatus } from '../model/status.js';
import type { Authenticator } from './identity.js';
import type { Metrics } from '../admin/metrics.js';

export function authenticate(authn: Authenticator, metrics: Metrics) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const result = await authn.authenticate(req.headers.authorization);
    if (!result.ok) {
      metrics.authFailures.inc();
      const code = result.status ?? 401;
      metrics.requests.inc({ verb: req.method.toLowerCase(), code: String(code) });
      // The API server answers 401 with reason Unauthorized; kubectl prints its own
      // "You must be logged in" line, and client libraries get the message.
      if (code === 401) sendStatus(res, 401, `Unauthorized: ${result.reason}`, 'Unauthorized');
      else sendStatus(res, code, `kubetape cannot check credentials right now: ${result.reason}`, 'ServiceUnavailable');
      return;
    }
    res.locals['identity'] = result.identity;
    next();
  };
}
