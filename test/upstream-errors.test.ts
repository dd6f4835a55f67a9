// When the cluster misbehaves, kubectl gets a clear answer and nothing hangs.
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoopbackTls } from '../src/listen/tls.js';
import { startKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { kubectl } from './helpers/kubectl.js';

t.test('an upstream that accepts but never answers: 504 after the timeout, recorded', async (t) => {
  const tls = await createLoopbackTls('silent');
  const sockets = new Set<Socket>();
  let arrived = 0;
  // Answers /version (so kubectl gets going) and holds every other request forever.
  const silent = createServer({ cert: tls.server.cert, key: tls.server.key }, (req, res) => {
    arrived++;
    if (req.url?.startsWith('/version')) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.0' }));
    }
  });
  silent.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-upstream-'));
  const kt = await startKubetape(resolveConfig({}, { listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', dataDir: dir, upstreamTimeoutSeconds: 1 }), {
    log: () => undefined,
    upstream: {
      name: 'silent',
      server: new URL(`https://127.0.0.1:${(silent.address() as AddressInfo).port}`),
      ca: tls.ca.cert,
      insecureSkipTlsVerify: false,
      credentials: { get: async () => ({ authorization: 'Bearer upstream' }), invalidate: () => undefined },
    },
  });
  t.teardown(async () => {
    await kt.close();
    for (const s of sockets) s.destroy();
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const started = Date.now();
  const r = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods'], { kubeconfig: kt.kubeconfigPath });
  t.not(r.code, 0);
  t.ok(Date.now() - started < 15_000, `answered in ${Date.now() - started} ms`);
  t.match(r.stderr, /did not answer within 1s/);
  t.ok(arrived >= 2, 'the request did reach the silent upstream');
  const [s] = await kt.store.listSessions();
  const events = [];
  for await (const ev of kt.store.readSession(s.id)) events.push(ev);
  const resp = events.find((e) => e.type === 'response' && e.status === 504);
  t.ok(resp, 'the 504 is in the recording');
  t.match(resp, { error: /did not answer within 1s/ });
});
