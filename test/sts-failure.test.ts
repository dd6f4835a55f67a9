// When STS hangs or is down, kubectl through kubetape gets a clear 503 in
// bounded time, and nothing is forwarded to the EKS cluster without a
// credential.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { httpsCall } from './helpers/https-call.js';
import { startKubetape, type RunningKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { parseOidcIssuer } from '../src/authenticate/oidc/config.js';
import { parseClustersConfig } from '../src/clusters/config.js';
import { findSession, settledExchanges } from './helpers/recordings.js';

let dir: string;
let idp: TestIssuer;
let api: FakeApiServer;
let kt: RunningKubetape;
const hangingSockets = new Set<Socket>();
// An STS endpoint that accepts connections and never answers.
const hanging = createServer(() => undefined);
hanging.on('connection', (s) => {
  hangingSockets.add(s);
  s.on('close', () => hangingSockets.delete(s));
});

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-sts-'));
  idp = await startTestIssuer();
  api = await startFakeApiServer();
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  writeFileSync(join(dir, 'idp.pem'), idp.ca);
  writeFileSync(join(dir, 'api.pem'), api.ca);
  const { clusters, aws } = parseClustersConfig(
    [
      {
        name: 'prod',
        eks: { name: 'prod-eks', region: 'us-east-1' },
        server: api.url,
        ca: join(dir, 'api.pem'),
        roles: [{ group: 'dev', roleArn: 'arn:aws:iam::123456789012:role/dev' }],
      },
    ],
    { stsEndpoint: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, timeoutSeconds: 1 },
    (p) => p,
  );
  kt = await startKubetape(
    resolveConfig(
      {},
      {
        listen: '127.0.0.1:0',
        adminListen: '127.0.0.1:0',
        dataDir: join(dir, 'data'),
        authentication: { oidc: [parseOidcIssuer({ issuer: idp.issuer, audience: 'kubetape', ca: join(dir, 'idp.pem') }, 'test')] },
        clusters,
        ...(aws ? { aws } : {}),
      },
    ),
    { log: () => undefined },
  );
});
t.teardown(async () => {
  await kt?.close();
  await api?.close();
  await idp?.close();
  for (const s of hangingSockets) s.destroy();
  hanging.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('a hanging STS is a 503 within the timeout; nothing reaches the cluster', async (t) => {
  const token = await idp.mint({ sub: 'sub-alice', groups: ['dev'] });
  const kubeconfig = writeKubeconfig(dir, { server: `${kt.url}/clusters/prod`, ca: kt.ca, token, name: 'alice' });
  const started = Date.now();
  const r = await kubectl(['get', 'pods', '--request-timeout=20s'], { kubeconfig });
  const took = Date.now() - started;
  t.equal(r.code, 1);
  t.match(r.stderr, /the server is currently unable to handle the request/, 'kubectl reports a 503');
  t.ok(took < 15_000, `kubectl finished in ${took} ms`);
  const raw = await httpsCall(`${kt.url}/clusters/prod/api/v1/namespaces/default/pods`, { ca: kt.ca, headers: { authorization: `Bearer ${token}` } });
  t.equal(raw.status, 503);
  t.match(JSON.parse(raw.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: /AWS STS did not answer within 1s/ });
  t.equal(api.received.length, 0, 'no request was forwarded without a credential');
  const s = await findSession(kt.store, (x) => x.user === 'sub-alice');
  const xs = await settledExchanges(kt.store, s.id);
  t.ok(xs.length > 0 && xs.every((x) => x.response?.status === 503), 'each refusal is recorded as a 503');
  t.match(xs[0].response!.error, /STS did not answer/);
});
