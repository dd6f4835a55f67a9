// Readiness: can kubetape reach its upstream right now? Answers are cached
// briefly so a busy prober does not become load on the cluster.
import { request, type Agent } from 'node:https';
import { upstreamTarget, type Upstream } from '../model/upstream.js';

const CACHE_MS = 5000;
const cache = new WeakMap<Upstream, { at: number; result: Promise<void> }>();

export function probeUpstream(u: Upstream, agent: Agent): Promise<void> {
  const hit = cache.get(u);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.result;
  const result = (async () => {
    // A per-caller credential has no caller here; any answer below 500 still shows the cluster is there.
    const auth = u.credentials.perCaller ? {} : await u.credentials.get();
    const t = upstreamTarget(u, auth);
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: t.hostname,
          port: t.port,
          path: `${t.path}/version`,
          method: 'GET',
          agent,
          ...(t.ca ? { ca: t.ca } : {}),
          ...(t.cert ? { cert: t.cert, key: t.key } : {}),
          rejectUnauthorized: !u.insecureSkipTlsVerify,
          headers: auth.authorization ? { authorization: auth.authorization } : {},
          timeout: 3000,
        },
        (res) => {
          res.resume();
          if ((res.statusCode ?? 500) < 500) resolve();
          else reject(new Error(`${u.server.origin}/version answered ${res.statusCode}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${u.server.origin} did not answer within 3s`)));
      req.on('error', reject);
      req.end();
    });
  })();
  cache.set(u, { at: Date.now(), result });
  return result;
}
