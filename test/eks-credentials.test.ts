// Per-person AWS credentials and EKS tokens, against moto_server for STS and
// the test API server's aws-iam-authenticator-style token check: session
// names, role selection, caching and single flight, token format and cluster
// binding, and what STS failing or hanging turns into.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startMoto, type Moto } from './helpers/moto.js';
import { roleSessionName, isValidRoleSessionName } from '../src/credentials/session-name.js';
import { selectRole } from '../src/credentials/role-selection.js';
import { Sts } from '../src/credentials/sts.js';
import { RoleSessions } from '../src/credentials/role-sessions.js';
import { EksCredentialSource } from '../src/credentials/eks-credentials.js';
import { CredentialError } from '../src/credentials/credential-error.js';
import { mintEksToken, EKS_TOKEN_PREFIX } from '../src/credentials/eks-token.js';
import { attachWebIdentity } from '../src/model/web-identity.js';
import { EksTokenAuthenticator, canonicalArn } from './fake-apiserver/eks-auth.js';
import type { Identity } from '../src/model/identity.js';

let moto: Moto;
t.before(async () => {
  moto = await startMoto();
});
t.teardown(() => moto.close());

const DEV_ROLE = 'arn:aws:iam::123456789012:role/k8s-dev';
const SRE_ROLE = 'arn:aws:iam::123456789012:role/k8s-sre';

function person(user: string, subject: string, groups: string[]): Identity {
  const id: Identity = { user, groups: [...groups, 'system:authenticated'], method: 'oidc', issuer: 'https://idp.example.com', subject };
  attachWebIdentity(id, { token: `eyJ.fake-web-identity-token-for-${subject}.sig`, expiresAt: Date.now() + 600_000 });
  return id;
}

t.test('role session names are valid for STS, readable, and collision-resistant', async (t) => {
  const names = ['alice@example.com', 'a b', 'a-b', 'ä', '', 'x', 'very-long-'.repeat(20), 'tab\there', 'emoji-🙂', 'a/b:c'];
  const out = names.map(roleSessionName);
  for (const [i, n] of out.entries()) t.ok(isValidRoleSessionName(n), `${JSON.stringify(names[i])} -> ${n} is valid`);
  t.match(roleSessionName('alice@example.com'), /^alice@example\.com-[0-9a-f]{10}$/, 'a valid username stays readable');
  t.equal(new Set(out).size, out.length, 'distinct usernames give distinct session names');
  t.not(roleSessionName('a b'), roleSessionName('a-b'), 'usernames that sanitise alike still differ');
  t.equal(roleSessionName('alice'), roleSessionName('alice'), 'stable');
  t.ok(roleSessionName('very-long-'.repeat(20)).length <= 64);
});

t.test('role selection: priority first, then file order; no match is undefined', async (t) => {
  const roles = [
    { group: 'dev', roleArn: DEV_ROLE, priority: 0 },
    { group: 'sre', roleArn: SRE_ROLE, priority: 10 },
    { group: 'dev', roleArn: 'arn:aws:iam::123456789012:role/other', priority: 0 },
  ];
  t.equal(selectRole(roles, ['dev'])?.roleArn, DEV_ROLE);
  t.equal(selectRole(roles, ['dev', 'sre'])?.roleArn, SRE_ROLE);
  t.equal(selectRole(roles, ['marketing']), undefined);
});

t.test('the assumed-role ARN canonicalises to its role', async (t) => {
  t.same(canonicalArn('arn:aws:sts::123456789012:assumed-role/k8s-dev/alice@example.com-abc'), {
    canonical: DEV_ROLE,
    accountId: '123456789012',
    sessionName: 'alice@example.com-abc',
  });
});

t.test('role sessions: one STS call per (issuer, subject, role), shared by concurrent callers', async (t) => {
  const sts = new Sts({ region: 'us-east-1', endpoint: moto.url, timeoutMs: 5000 });
  t.teardown(() => sts.close());
  const sessions = new RoleSessions(sts, { durationSeconds: 3600 });
  const alice = person('alice@example.com', 'sub-alice', ['dev']);
  const all = await Promise.all(Array.from({ length: 12 }, () => sessions.credentials(alice, DEV_ROLE)));
  t.equal(sessions.stsCalls, 1, '12 concurrent requests, one STS call');
  t.ok(
    all.every((c) => c.accessKeyId === all[0].accessKeyId),
    'all got the same session',
  );
  t.match(all[0].accessKeyId, /^ASIA/);
  await sessions.credentials({ ...alice, groups: alice.groups }, DEV_ROLE).catch(() => undefined);
  const again = await sessions.credentials(alice, DEV_ROLE);
  t.equal(again.accessKeyId, all[0].accessKeyId, 'reused while valid');
  t.equal(sessions.stsCalls, 1);
  await sessions.credentials(alice, SRE_ROLE);
  t.equal(sessions.stsCalls, 2, 'another role is another session');
  await sessions.credentials(person('alice@example.com', 'sub-other', ['dev']), DEV_ROLE);
  t.equal(sessions.stsCalls, 3, 'another subject is another session');
  sessions.forget(alice, DEV_ROLE);
  await sessions.credentials(alice, DEV_ROLE);
  t.equal(sessions.stsCalls, 4, 'forgotten sessions are assumed again');

  const tokenFileCaller: Identity = { user: 'robot', groups: ['dev'], method: 'token-file' };
  await t.rejects(sessions.credentials(tokenFileCaller, DEV_ROLE), { statusCode: 403, message: /needs an OIDC login/ });
});

t.test('EKS tokens: format, cluster binding, reuse for 14 minutes, verified like aws-iam-authenticator', async (t) => {
  const sts = new Sts({ region: 'us-east-1', endpoint: moto.url, timeoutMs: 5000 });
  t.teardown(() => sts.close());
  const sessions = new RoleSessions(sts, { durationSeconds: 3600 });
  let now = Date.now();
  const source = new EksCredentialSource({
    cluster: 'prod',
    eksName: 'prod-eks',
    region: 'us-east-1',
    roles: [
      { group: 'dev', roleArn: DEV_ROLE, priority: 0 },
      { group: 'sre', roleArn: SRE_ROLE, priority: 0 },
    ],
    sessions,
    now: () => now,
  });
  const alice = person('alice@example.com', 'sub-alice', ['dev']);
  const auth = await source.get(alice);
  const token = auth.authorization!.replace(/^Bearer /, '');
  t.ok(token.startsWith(EKS_TOKEN_PREFIX));
  const encoded = token.slice(EKS_TOKEN_PREFIX.length);
  t.match(encoded, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
  const url = new URL(Buffer.from(encoded, 'base64url').toString());
  t.equal(url.hostname, 'sts.us-east-1.amazonaws.com');
  t.equal(url.searchParams.get('Action'), 'GetCallerIdentity');
  t.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host;x-k8s-aws-id');
  t.equal(url.searchParams.get('X-Amz-Expires'), '60');
  t.ok(url.searchParams.get('X-Amz-Security-Token'), 'the session token is part of the URL');
  t.same(source.principal(alice), { method: 'aws-role', roleArn: DEV_ROLE, roleSessionName: roleSessionName('alice@example.com') });

  const checker = new EksTokenAuthenticator({
    clusterId: 'prod-eks',
    stsEndpoint: moto.url,
    mapRoles: [{ rolearn: DEV_ROLE, username: 'kubetape:{{SessionName}}', groups: ['dev-team'] }],
  });
  const ok = await checker.authenticate(token);
  t.ok(ok.ok, `the cluster accepts it (${checker.rejections.join('; ')})`);
  if (ok.ok) {
    t.equal(ok.identity.user, `kubetape:${roleSessionName('alice@example.com').replace('@', '-')}`);
    t.same(ok.identity.groups, ['dev-team', 'system:authenticated']);
    t.match(ok.identity.extra, { canonicalArn: [DEV_ROLE], sessionName: [roleSessionName('alice@example.com')] });
  }
  const other = new EksTokenAuthenticator({ clusterId: 'staging-eks', stsEndpoint: moto.url, mapRoles: [{ rolearn: DEV_ROLE, username: 'x', groups: [] }] });
  t.match(
    await other.authenticate(token),
    { ok: false, reason: /signature does not verify for cluster staging-eks/ },
    'a token for prod-eks is useless on another cluster',
  );
  const longer = EKS_TOKEN_PREFIX + Buffer.from(url.toString().replace('X-Amz-Expires=60', 'X-Amz-Expires=900')).toString('base64url');
  t.match(await checker.authenticate(longer), { ok: false, reason: /signature does not verify/ }, 'a changed URL does not verify');
  const extra = EKS_TOKEN_PREFIX + Buffer.from(`${url.toString()}&Extra=1`).toString('base64url');
  t.match(await checker.authenticate(extra), { ok: false, reason: /non-whitelisted query parameter/ }, 'extra parameters are refused');
  const late = new EksTokenAuthenticator({ clusterId: 'prod-eks', stsEndpoint: moto.url, mapRoles: [], now: () => Date.now() + 16 * 60_000 });
  t.match(await late.authenticate(token), { ok: false, reason: /expired/ }, 'the cluster stops accepting it after 15 minutes');

  const same = await source.get(alice);
  t.equal(same.authorization, auth.authorization, 'reused within 14 minutes');
  now += 14 * 60_000 + 1000;
  const fresh = await source.get(alice);
  t.not(fresh.authorization, auth.authorization, 'minted again after 14 minutes');
  t.equal(sessions.stsCalls, 1, 'from the same role session: minting needs no network');

  const carol = person('carol@example.com', 'sub-carol', ['marketing']);
  await t.rejects(source.get(carol), { statusCode: 403, message: /no IAM role on cluster "prod" for your groups \[marketing\]/ });
  t.equal(source.principal(carol), undefined);
});

t.test('minting is local: no network call', async (t) => {
  const { token } = await mintEksToken({ clusterName: 'c', region: 'eu-west-1', credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' } });
  t.match(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString(), /^https:\/\/sts\.eu-west-1\.amazonaws\.com\/\?Action=GetCallerIdentity/);
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

t.test('STS failing, refusing or hanging: clear CredentialErrors, no hang', async (t) => {
  const alice = person('alice@example.com', 'sub-alice', ['dev']);
  const req = { roleArn: DEV_ROLE, roleSessionName: 'alice', webIdentityToken: 'x'.repeat(30), durationSeconds: 3600 };

  const hanging = await serve(() => undefined);
  t.teardown(() => hanging.close());
  const slow = new Sts({ region: 'us-east-1', endpoint: hanging.url, timeoutMs: 700 });
  const started = Date.now();
  const err = await new RoleSessions(slow, { durationSeconds: 3600 }).credentials(alice, DEV_ROLE).catch((e: unknown) => e);
  t.ok(err instanceof CredentialError, 'a CredentialError');
  t.match(err, { statusCode: 503, message: /did not answer within 0\.7s/ });
  t.ok(Date.now() - started < 3000, `gave up in ${Date.now() - started} ms`);
  slow.close();

  const denied = await serve((_q, res) => {
    res.writeHead(403, { 'content-type': 'text/xml' });
    res.end(
      '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>r1</RequestId></ErrorResponse>',
    );
  });
  t.teardown(() => denied.close());
  const refusing = new Sts({ region: 'us-east-1', endpoint: denied.url, timeoutMs: 3000 });
  await t.rejects(refusing.assumeRoleWithWebIdentity(req), { statusCode: 403, message: /refused to let you assume .*k8s-dev \(AccessDenied\)/ });
  refusing.close();

  const broken = await serve((_q, res) => {
    res.writeHead(500, { 'content-type': 'text/xml' });
    res.end('<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>boom</Message></Error></ErrorResponse>');
  });
  t.teardown(() => broken.close());
  const failing = new Sts({ region: 'us-east-1', endpoint: broken.url, timeoutMs: 3000 });
  await t.rejects(failing.assumeRoleWithWebIdentity(req), { statusCode: 503, message: /AWS STS failed/ });
  failing.close();

  const closed = await serve(() => undefined);
  await closed.close();
  const nowhere = new Sts({ region: 'us-east-1', endpoint: closed.url, timeoutMs: 3000 });
  await t.rejects(nowhere.assumeRoleWithWebIdentity(req), { statusCode: 503, message: /AWS STS failed/ });
  nowhere.close();
});
