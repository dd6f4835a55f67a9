// A loopback port free at the moment of asking, for a server that must be
// named before it starts (moto_server's command line; the console's OIDC
// callback, which the test IdP must know before kubetape listens).
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
