// Callers' bearer tokens: kube-apiserver's token file format, reloaded on
// change, and an operator's own serving certificate.
import t from 'tap';
import { writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { parseTokenFile, TokenFileAuthenticator } from '../src/authenticate/token-file.js';
import { createLoopbackTls } from '../src/listen/tls.js';
import { startHarness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';

t.test('token file lines parse like kube-apiserver reads them', async (t) => {
  const entries = parseTokenFile('# comment\n\nt1,alice,uid-1,"dev,sre"\nt2,bob\nt3,carol,,ops\n', 'tokens.csv');
  t.same(entries, [
    { token: 't1', user: 'alice', uid: 'uid-1', groups: ['dev', 'sre'] },
    { token: 't2', user: 'bob', groups: [] },
    { token: 't3', user: 'carol', groups: ['ops'] },
  ]);
  t.throws(() => parseTokenFile('onlytoken\n', 'tokens.csv'), /tokens.csv:1: expected token,user/);
  t.throws(() => parseTokenFile('a,b,c,"unterminated\n', 'tokens.csv'), /tokens.csv:1: unterminated quote/);
});

t.test('tokens are added and revoked without a restart; a broken edit keeps the last good set', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const file = join(h.dir, 'tokens.csv');
  writeFileSync(file, 'first-token,alice,,"dev"\n');
  const authn = new TokenFileAuthenticator(file, 0);
  t.match(await authn.authenticate('Bearer first-token'), { ok: true, identity: { user: 'alice', groups: ['dev', 'system:authenticated'] } });
  t.match(await authn.authenticate('Bearer second-token'), { ok: false });
  writeFileSync(file, 'second-token,bob\n');
  utimesSync(file, new Date(), new Date(Date.now() + 5000)); // make the change visible even within one mtime tick
  t.match(await authn.authenticate('Bearer second-token'), { ok: true, identity: { user: 'bob' } });
  t.match(await authn.authenticate('Bearer first-token'), { ok: false, reason: /not known/ }, 'revoked');
  writeFileSync(file, 'broken\n');
  utimesSync(file, new Date(), new Date(Date.now() + 10000));
  const stderr = process.stderr.write;
  let warned = '';
  process.stderr.write = (s: string) => ((warned += s), true);
  try {
    t.match(await authn.authenticate('Bearer second-token'), { ok: true }, 'last good tokens kept');
  } finally {
    process.stderr.write = stderr;
  }
  t.match(warned, /keeping previous tokens/);
  t.match(await authn.authenticate('Basic Zm9vOmJhcg=='), { ok: false, reason: /not a bearer token/ });
});

t.test('an operator token file and serving certificate: kubectl trusts the operator CA', async (t) => {
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'kubetape-auth-'));
  const tls = await createLoopbackTls('operator');
  writeFileSync(join(dir, 'tls.crt'), tls.server.cert + tls.ca.cert);
  writeFileSync(join(dir, 'tls.key'), tls.server.key);
  writeFileSync(join(dir, 'tokens.csv'), 'ops-token,olivia,,"ops"\n');
  const h = await startHarness({ config: { tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key'), tokenFile: join(dir, 'tokens.csv') } });
  t.teardown(() => h.close());
  t.equal(h.kt.localToken, undefined, 'no local token is made when a token file is given');
  const kc = writeKubeconfig(dir, { server: h.kt.url, ca: tls.ca.cert, token: 'ops-token', name: 'ops' });
  const r = await kubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig: kc });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /namespace\/default/);
  const [s] = await h.kt.store.listSessions();
  t.equal(s.user, 'olivia');
  t.same(s.groups, ['ops', 'system:authenticated']);
  const wrongCa = writeKubeconfig(dir, { server: h.kt.url, ca: h.api.ca, token: 'ops-token', name: 'wrong-ca' });
  const bad = await kubectl(['get', 'namespaces'], { kubeconfig: wrongCa });
  t.not(bad.code, 0);
  t.match(bad.stderr, /certificate/);
});
