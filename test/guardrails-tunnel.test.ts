// Upgrades kubetape tunnels as bytes (WebSocket watches, proxy subresources)
// obey the guardrails like REST requests: only GET is upgraded, deny and
// require-approval hold, and a Secret the caller sees masked is never
// streamed raw. kubectl sends none of these, so the requests are raw.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import WebSocket from 'ws';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startHarness, type Harness } from './helpers/harness.js';
import { writeKubeconfig } from './helpers/kubectl.js';
import { createLoopbackTls } from '../src/listen/tls.js';
import { startKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { httpsCall, type HttpsAnswer } from './helpers/https-call.js';
import { sessionEvents } from './helpers/recordings.js';
import type { RequestEvent, ResponseEvent } from '../src/model/recording.js';

const SECRET_VALUE = 'tunnel-hunter2-secret';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const UPGRADE = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };

let h: Harness;
const dir = mkdtempSync(join(tmpdir(), 'guardrails-tunnel-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** How many rules examples/policy.yaml has: the rules added here follow them. */
let exampleRules = 0;

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\n');
  // The example policy, plus two rules on GET paths the example leaves alone.
  const policy = parse(readFileSync(resolve('examples/policy.yaml'), 'utf8')) as { rules: unknown[] };
  exampleRules = policy.rules.length;
  policy.rules.push(
    { name: 'no-configmap-reads', match: { resource: 'configmaps' }, action: 'deny', message: 'configmaps are not read through kubetape' },
    {
      name: 'prod-proxy-needs-approval',
      match: { namespace: 'prod', subresource: 'proxy' },
      action: 'require-approval',
      message: 'proxy into prod',
      approvers: ['sre'],
      maxGrant: '1h',
    },
  );
  writeFileSync(join(dir, 'policy.yaml'), stringify(policy));
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml') } });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
  h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'scratch' } });
  h.api.objects.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'default' },
    type: 'Opaque',
    data: { password: b64(SECRET_VALUE) },
  });
});
t.teardown(() => h.close());

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

function upgradeCall(method: string, path: string, token: string): Promise<HttpsAnswer> {
  return httpsCall(`${h.kt.url}${path}`, { ca: h.kt.ca, method, headers: { ...UPGRADE, ...bearer(token) } });
}

/** A WebSocket watch as a browser-style or client-go-style client opens it: the handshake's answer. */
function webSocketWatch(path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(`${h.kt.url.replace(/^https/, 'wss')}${path}`, ['base64.binary.k8s.io'], { ca: h.kt.ca, headers: bearer(token) });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      res.on('error', fail);
    });
    ws.on('open', () => {
      ws.close();
      done({ status: 101, body: '' });
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) fail(err);
    });
  });
}

/** The request events for a path (and method), with their responses, oldest first. */
async function recorded(method: string, pathPrefix: string): Promise<Array<{ request: RequestEvent; response?: ResponseEvent }>> {
  const out: Array<{ request: RequestEvent; response?: ResponseEvent }> = [];
  for (const s of await h.kt.store.listSessions()) {
    const evs = await sessionEvents(h.kt.store, s.id);
    for (const e of evs) {
      if (e.type === 'request' && e.method === method && e.uri.startsWith(pathPrefix))
        out.push({ request: e, response: evs.find((r): r is ResponseEvent => r.type === 'response' && r.seq === e.seq) });
    }
  }
  return out.sort((a, b) => a.request.time.localeCompare(b.request.time));
}

const reached = (pathPrefix: string) => h.api.received.filter((r) => r.path.startsWith(pathPrefix));

t.test('a DELETE with upgrade headers is refused 400 and never reaches the cluster', async (t) => {
  const deletesBefore = h.api.received.filter((r) => r.method === 'DELETE').length;
  const r = await upgradeCall('DELETE', '/api/v1/namespaces/scratch', 'sre-token');
  t.equal(r.status, 400);
  const status = JSON.parse(r.body) as { kind: string; code: number; reason: string; message: string };
  t.match(status, { kind: 'Status', code: 400, reason: 'BadRequest' });
  t.match(status.message, /only GET requests may be upgraded; send DELETE without the Connection: Upgrade and Upgrade headers/);
  t.equal(h.api.received.filter((r) => r.method === 'DELETE').length, deletesBefore, 'no DELETE reached the cluster');
  t.ok(h.api.objects.get('namespaces', undefined, 'scratch'), 'the namespace is still there');
  const rec = await recorded('DELETE', '/api/v1/namespaces/scratch');
  t.equal(rec.length, 1, 'the refusal is recorded');
  t.equal(rec[0]?.response?.status, 400);

  // Also for a namespace whose deletion a deny rule covers: the 400 comes first, nothing is sent.
  const prod = await upgradeCall('DELETE', '/api/v1/namespaces/prod', 'sre-token');
  t.equal(prod.status, 400);
  t.ok(h.api.objects.get('namespaces', undefined, 'prod'));
  t.equal(h.api.received.filter((r) => r.method === 'DELETE').length, deletesBefore);
});

t.test('a POST with upgrade headers that is not exec/attach/port-forward is refused too', async (t) => {
  const before = h.api.received.length;
  const r = await upgradeCall('POST', '/api/v1/namespaces/default/configmaps', 'sre-token');
  t.equal(r.status, 400);
  t.match(r.body, /only GET requests may be upgraded; send POST without/);
  t.equal(h.api.received.length, before);
});

t.test('a masked caller cannot watch Secrets over a WebSocket tunnel', async (t) => {
  const before = reached('/api/v1/namespaces/default/secrets').length;
  const r = await webSocketWatch('/api/v1/namespaces/default/secrets?watch=true', 'dev-token');
  t.equal(r.status, 403);
  t.notMatch(r.body, SECRET_VALUE);
  t.notMatch(r.body, b64(SECRET_VALUE));
  const status = JSON.parse(r.body) as { message: string; reason: string };
  t.equal(status.reason, 'Forbidden');
  t.match(status.message, /kubetape cannot mask a tunnelled stream; send the request without the Connection: Upgrade and Upgrade headers/);
  t.equal(reached('/api/v1/namespaces/default/secrets').length, before, 'nothing was dialed');
  const rec = await recorded('GET', '/api/v1/namespaces/default/secrets?watch=true');
  t.same(rec.at(-1)?.request.policy, { action: 'mask', rule: 'mask-secret-values', index: 7 }, 'the decision is recorded with the request');
  t.equal(rec.at(-1)?.response?.status, 403);
});

t.test('a masked caller cannot GET a Secret raw by adding upgrade headers', async (t) => {
  const before = reached('/api/v1/namespaces/default/secrets/db').length;
  const r = await upgradeCall('GET', '/api/v1/namespaces/default/secrets/db', 'dev-token');
  t.equal(r.status, 403);
  t.notMatch(r.body, b64(SECRET_VALUE));
  t.equal(reached('/api/v1/namespaces/default/secrets/db').length, before);
});

t.test('the exempt sre group is tunnelled with kubetape credential', async (t) => {
  const before = reached('/api/v1/namespaces/default/secrets?watch=true').length;
  const r = await webSocketWatch('/api/v1/namespaces/default/secrets?watch=true', 'sre-token');
  // The fake cluster upgrades only exec/attach/portforward: its own 400 comes back through the tunnel.
  t.equal(r.status, 400);
  t.match(r.body, /upgrade to websocket is not supported/);
  const got = reached('/api/v1/namespaces/default/secrets?watch=true');
  t.equal(got.length, before + 1, 'the upgrade reached the cluster');
  const upstream = got.at(-1)!;
  t.equal(upstream.method, 'GET');
  t.equal(upstream.headers['authorization'], 'Bearer admin-token', "kubetape's credential, not the caller's");
  t.equal(upstream.user, 'admin');
  t.notMatch(JSON.stringify(upstream.headers), 'sre-token');
  const rec = await recorded('GET', '/api/v1/namespaces/default/secrets?watch=true');
  t.same(rec.at(-1)?.request.policy, { action: 'allow', rule: 'sre-reads-secrets', index: 6 });
  t.equal(rec.at(-1)?.response?.status, 400);
});

t.test('a token sent as a WebSocket subprotocol authenticates the caller and is neither forwarded nor recorded', async (t) => {
  const path = '/api/v1/namespaces/default/secrets?watch=true&resourceVersion=7';
  const protocol = `base64url.bearer.authorization.k8s.io.${Buffer.from('sre-token').toString('base64url')}`;
  const r = await new Promise<number>((done, fail) => {
    // No Authorization header at all: a browser can only send the token this way.
    const ws = new WebSocket(`${h.kt.url.replace(/^https/, 'wss')}${path}`, [protocol, 'base64.binary.k8s.io'], { ca: h.kt.ca });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    ws.on('open', () => {
      ws.close();
      done(101);
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) fail(err);
    });
  });
  t.equal(r, 400, "authenticated as sam and tunnelled (the fake cluster's own 400 for a WebSocket watch)");
  const upstream = reached(path).at(-1);
  t.ok(upstream, 'it reached the cluster');
  t.equal(upstream?.headers['authorization'], 'Bearer admin-token');
  t.equal(upstream?.headers['sec-websocket-protocol'], 'base64.binary.k8s.io', 'the other subprotocols are passed on');
  t.notMatch(JSON.stringify(upstream?.headers), /bearer\.authorization|c3JlLXRva2Vu/, 'the token subprotocol is not');
  const rec = (await recorded('GET', path)).at(-1);
  t.equal(rec?.request.headers['sec-websocket-protocol'], 'base64.binary.k8s.io');
  t.notMatch(JSON.stringify(rec), /c3JlLXRva2Vu|sre-token/, 'nor is it recorded');
});

t.test('a deny rule on a GET path holds for an upgrade', async (t) => {
  const before = reached('/api/v1/namespaces/default/configmaps').length;
  const r = await webSocketWatch('/api/v1/namespaces/default/configmaps?watch=true', 'sre-token');
  t.equal(r.status, 403);
  t.match(JSON.parse(r.body), {
    kind: 'Status',
    code: 403,
    reason: 'Forbidden',
    message: 'configmaps are not read through kubetape (kubetape policy rule "no-configmap-reads")',
  });
  t.equal(reached('/api/v1/namespaces/default/configmaps').length, before);
  const rec = await recorded('GET', '/api/v1/namespaces/default/configmaps?watch=true');
  t.same(rec.at(-1)?.request.policy, { action: 'deny', rule: 'no-configmap-reads', index: exampleRules + 1 });
  t.equal(rec.at(-1)?.response?.status, 403);
});

t.test('require-approval: refused with an approval id until approved, then tunnelled once', async (t) => {
  const path = '/api/v1/namespaces/prod/services/web/proxy/';
  const first = await upgradeCall('GET', path, 'dev-token');
  t.equal(first.status, 403);
  const id = /approval id (ap-[0-9a-f]+)/.exec(first.body)?.[1];
  t.ok(id, `the refusal names the approval: ${first.body}`);
  t.match(
    (JSON.parse(first.body) as { message: string }).message,
    'proxy into prod; get services/proxy "web" in namespace prod requires approval (kubetape policy rule "prod-proxy-needs-approval")',
  );
  t.equal(reached(path).length, 0, 'nothing was dialed');

  const ok = await httpsCall(`${h.kt.url}/kubetape/v1/approvals/${id}/approve`, {
    ca: h.kt.ca,
    method: 'POST',
    headers: { ...bearer('sre-token'), 'Content-Type': 'application/json' },
    body: '{"once":true}',
  });
  t.equal(ok.status, 200, ok.body);

  const second = await upgradeCall('GET', path, 'dev-token');
  t.equal(second.status, 400, 'the fake cluster answered (it does not upgrade proxy)');
  t.equal(reached(path).length, 1, 'the approved upgrade reached the cluster');
  const rec = await recorded('GET', path);
  t.equal(rec.length, 2);
  t.match(rec[0]?.request.policy, { action: 'require-approval', rule: 'prod-proxy-needs-approval', approval: { id } });
  t.notOk(rec[0]?.request.policy?.approval?.grant);
  t.match(rec[1]?.request.policy, { action: 'require-approval', rule: 'prod-proxy-needs-approval', approval: { id, grant: String } });

  const third = await upgradeCall('GET', path, 'dev-token');
  t.equal(third.status, 403, 'a one-use grant is used up');
  t.equal(reached(path).length, 1);
});

t.test('an upgrade the cluster answers as plain HTTP carries no further caller bytes upstream', async (t) => {
  // A cluster that ignores Upgrade and keeps the connection alive (as kube-apiserver does on
  // a path that does not upgrade): requests pipelined after the answer would otherwise reach
  // it on kubetape's connection, never asked of the policy.
  const tls = await createLoopbackTls('plain-upstream');
  const seen: string[] = [];
  const upstream = createTlsServer({ cert: tls.server.cert, key: tls.server.key }, (s) => {
    let buf = '';
    s.on('error', () => s.destroy());
    s.on('data', (c: Buffer) => {
      seen.push(c.toString('latin1'));
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => upstream.close(() => r())));
  const port = (upstream.address() as { port: number }).port;
  const kdir = mkdtempSync(join(dir, 'plain-'));
  const kubeconfig = writeKubeconfig(kdir, { server: `https://127.0.0.1:${port}`, ca: tls.ca.cert, token: 'kubetape-upstream-token', name: 'plain' });
  const config = resolveConfig(
    {},
    {
      listen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      dataDir: join(kdir, 'data'),
      kubeconfig,
      tokenFile: join(dir, 'tokens.csv'),
      policyFile: join(dir, 'policy.yaml'),
    },
  );
  const kt = await startKubetape(config, { log: () => undefined });
  t.teardown(() => kt.close());

  const u = new URL(kt.url);
  const client: TLSSocket = tlsConnect({ host: u.hostname, port: Number(u.port), ca: kt.ca, servername: 'localhost' });
  t.teardown(() => client.destroy());
  let answer = '';
  client.on('data', (c: Buffer) => (answer += c.toString('latin1')));
  await new Promise<void>((r, j) => client.once('secureConnect', r).once('error', j));
  const keys = Object.entries(UPGRADE)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  client.write(`GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer sre-token\r\n${keys}\r\n`);
  for (let i = 0; i < 100 && !answer.endsWith('{}'); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(answer, /^HTTP\/1\.1 200 OK/, 'the plain answer is relayed');
  client.write('DELETE /api/v1/namespaces/prod HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  await new Promise((r) => setTimeout(r, 300));
  const all = seen.join('');
  t.match(all, /^GET \/api\/v1\/namespaces\/default\/pods HTTP\/1\.1\r\n/m, 'the upgrade itself was forwarded');
  t.notMatch(all, 'DELETE', 'the pipelined DELETE never reached the cluster');
  t.match(all, 'Authorization: Bearer kubetape-upstream-token');
  t.notMatch(all, 'sre-token');
});
