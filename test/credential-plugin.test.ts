// `kubetape credential` against a real OpenID provider (oidc-provider over
// HTTPS), driven through its loopback flow and its device flow by a scripted
// browser; the cache (modes, reuse, refresh, concurrent runs); `logout`; and
// kubectl through kubetape with the exec stanza `kubeconfig rewrite` wrote.
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { ScriptedBrowser } from './helpers/scripted-browser.js';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver/index.js';
import { kubectl, spawnKubectl, writeKubeconfig } from './helpers/kubectl.js';
import { findSession, sessionEvents } from './helpers/recordings.js';
import { startKubetape, type RunningKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';
import { parseOidcIssuer } from '../src/authenticate/oidc/config.js';
import { parseClustersConfig } from '../src/clusters/config.js';
import { roleSessionName } from '../src/credentials/session-name.js';
import { discover, refresh } from '../src/login/oidc-login.js';
import { startMoto, type Moto } from './helpers/moto.js';

const BIN = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../bin/kubetape.js');
const V1 = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });

let dir: string;
let idp: TestProvider;
let caFile: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-login-'));
  idp = await startTestProvider({
    alice: { email: 'alice@example.com', groups: ['dev'] },
    bob: { email: 'bob@example.com', groups: ['sre'] },
  });
  caFile = join(dir, 'idp-ca.pem');
  writeFileSync(caFile, idp.ca);
});
t.teardown(async () => {
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  stderrLines: AsyncIterable<string>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Run the CLI as kubectl would run the plugin; stderr lines can be read as they come. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, BROWSER: 'none', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    lines.push(...c.split('\n').filter(Boolean));
    wake?.();
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
    child.on('close', (code) => {
      ended = true;
      wake?.();
      r({ code, stdout, stderr });
    }),
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void done.then(() => clearTimeout(timer));
  return {
    done,
    stderrLines: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const l = lines.shift();
          if (l !== undefined) yield l;
          else if (ended) return;
          else await new Promise<void>((r) => (wake = r));
        }
      },
    },
  };
}

async function urlFrom(lines: AsyncIterable<string>, pattern: RegExp): Promise<string> {
  for await (const l of lines) {
    const m = pattern.exec(l);
    if (m) return m[1];
  }
  throw new Error('the plugin printed no login URL');
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

function pluginArgs(cacheDir: string, extra: string[] = []): string[] {
  return [
    'credential',
    '--issuer',
    idp.issuer,
    '--client-id',
    idp.clientId,
    '--scope',
    'email',
    '--scope',
    'groups',
    '--scope',
    'offline_access',
    '--certificate-authority',
    caFile,
    '--cache-dir',
    cacheDir,
    '--login-timeout',
    '30',
    ...extra,
  ];
}

/** The loopback flow from start to finish: returns the plugin's result. */
async function loopbackLogin(cacheDir: string, login: string, env: NodeJS.ProcessEnv = { KUBERNETES_EXEC_INFO: V1 }) {
  const run = cli(pluginArgs(cacheDir, ['--grant', 'authcode', '--no-browser', '--listen-port', '0']), env);
  const url = await urlFrom(run.stderrLines, /to log in, open (https:\/\/\S+)/);
  const browser = new ScriptedBrowser(idp.ca);
  const final = await browser.run(url, { login, password: 'any' }, { stopAt: 'http://127.0.0.1:' });
  return { url, final, result: await run.done };
}

t.test('loopback flow: PKCE login through the browser, ExecCredential out, cache written 0700/0600', async (t) => {
  const cacheDir = join(dir, 'cache-loopback');
  const { url, final, result } = await loopbackLogin(cacheDir, 'alice');
  const auth = new URL(url);
  t.equal(auth.searchParams.get('code_challenge_method'), 'S256', 'PKCE');
  t.match(auth.searchParams.get('redirect_uri'), /^http:\/\/127\.0\.0\.1:\d+\/callback$/, 'loopback redirect');
  t.equal(final.status, 200);
  t.match(final.body, /logged in to kubetape/, 'the browser is told it worked');
  t.equal(result.code, 0, result.stderr);
  const cred = JSON.parse(result.stdout) as { apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string } };
  t.equal(cred.apiVersion, 'client.authentication.k8s.io/v1');
  t.equal(cred.kind, 'ExecCredential');
  const claims = claimsOf(cred.status.token);
  t.match(claims, { iss: idp.issuer, aud: 'kubetape', sub: 'alice', email: 'alice@example.com', groups: ['dev'] });
  t.equal(new Date(cred.status.expirationTimestamp).getTime(), (claims['exp'] as number) * 1000, 'expirationTimestamp is the token exp');
  t.equal(statSync(cacheDir).mode & 0o777, 0o700, 'cache dir 0700');
  const files = readdirSync(cacheDir);
  t.equal(files.length, 1, 'one file for this issuer + client + user');
  t.match(files[0], /^[0-9a-f]{64}\.json$/);
  t.equal(statSync(join(cacheDir, files[0])).mode & 0o777, 0o600, 'cache file 0600');
  t.ok(idp.grants.includes('authorization_code'));

  const again = await cli(pluginArgs(cacheDir), { KUBERNETES_EXEC_INFO: V1 }).done;
  t.equal(again.code, 0, again.stderr);
  t.equal((JSON.parse(again.stdout) as typeof cred).status.token, cred.status.token, 'the cached token is reused');
  t.notMatch(again.stderr, /log in/, 'no login the second time');

  const beta = await cli(pluginArgs(cacheDir), {
    KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', spec: { interactive: true } }),
  }).done;
  t.equal((JSON.parse(beta.stdout) as typeof cred).apiVersion, 'client.authentication.k8s.io/v1beta1', 'answers in the API version kubectl asked for');
  const bad = await cli(pluginArgs(cacheDir), { KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1alpha1' }) }).done;
  t.equal(bad.code, 1);
  t.match(bad.stderr, /kubetape speaks client\.authentication\.k8s\.io\/v1 and/);
});

t.test('an expired ID token is renewed with the refresh token, without a login', async (t) => {
  const cacheDir = join(dir, 'cache-refresh');
  const first = await loopbackLogin(cacheDir, 'alice');
  t.equal(first.result.code, 0, first.result.stderr);
  const file = join(cacheDir, readdirSync(cacheDir)[0]);
  const cached = JSON.parse(readFileSync(file, 'utf8')) as { idToken: string; refreshToken?: string };
  t.ok(cached.refreshToken, 'a refresh token was cached');
  const old = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) - 10 })).toString('base64url')}.x`;
  writeFileSync(file, JSON.stringify({ ...cached, idToken: old }));
  const refreshesBefore = idp.grants.filter((g) => g === 'refresh_token').length;
  const r = await cli(pluginArgs(cacheDir), { KUBERNETES_EXEC_INFO: V1 }).done;
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /to log in/, 'no login needed');
  const token = (JSON.parse(r.stdout) as { status: { token: string } }).status.token;
  t.not(token, old);
  t.match(claimsOf(token), { sub: 'alice' });
  t.equal(idp.grants.filter((g) => g === 'refresh_token').length, refreshesBefore + 1, 'the issuer saw one refresh');
  t.equal((JSON.parse(readFileSync(file, 'utf8')) as { idToken: string }).idToken, token, 'the cache holds the new token');
});

t.test('concurrent plugin runs share one login', async (t) => {
  const cacheDir = join(dir, 'cache-concurrent');
  const runs = [0, 1, 2].map(() => cli(pluginArgs(cacheDir, ['--grant', 'authcode', '--no-browser', '--listen-port', '0']), { KUBERNETES_EXEC_INFO: V1 }));
  const url = await Promise.race(runs.map((r) => urlFrom(r.stderrLines, /to log in, open (https:\/\/\S+)/)));
  await new ScriptedBrowser(idp.ca).run(url, { login: 'bob', password: 'any' }, { stopAt: 'http://127.0.0.1:' });
  const results = await Promise.all(runs.map((r) => r.done));
  t.ok(
    results.every((r) => r.code === 0),
    results.map((r) => r.stderr).join('\n'),
  );
  const tokens = new Set(results.map((r) => (JSON.parse(r.stdout) as { status: { token: string } }).status.token));
  t.equal(tokens.size, 1, 'all three got the same token');
  t.equal(results.filter((r) => /to log in, open/.test(r.stderr)).length, 1, 'only one of them asked for a login');
  t.equal(readdirSync(cacheDir).filter((f) => f.endsWith('.json')).length, 1);
  t.equal(readdirSync(cacheDir).filter((f) => f.endsWith('.lock') || f.endsWith('.tmp')).length, 0, 'no lock or temp file left');
});

t.test('device flow: the code is shown, approved in a browser elsewhere, and polled for', async (t) => {
  const cacheDir = join(dir, 'cache-device');
  const run = cli(pluginArgs(cacheDir, ['--grant', 'device']), { KUBERNETES_EXEC_INFO: V1 });
  const complete = await urlFrom(run.stderrLines, /or open (https:\/\/\S+)/);
  t.match(complete, /user_code=/);
  const page = await new ScriptedBrowser(idp.ca).run(complete, { login: 'bob', password: 'any' });
  t.equal(page.status, 200);
  const r = await run.done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /to log in, open https:\/\/\S+ and enter the code \S+/);
  t.match(claimsOf((JSON.parse(r.stdout) as { status: { token: string } }).status.token), { sub: 'bob', groups: ['sre'] });
  t.ok(idp.grants.includes('urn:ietf:params:oauth:grant-type:device_code'));
});

t.test('logout forgets one login, a context’s login, or all of them', async (t) => {
  const cacheDir = join(dir, 'cache-logout');
  t.equal((await loopbackLogin(cacheDir, 'alice')).result.code, 0);
  const count = () => readdirSync(cacheDir).filter((f) => f.endsWith('.json')).length;
  t.equal(count(), 1);
  const wrong = await cli(['logout', '--issuer', idp.issuer, '--client-id', 'other', '--cache-dir', cacheDir]).done;
  t.match(wrong.stderr, /no cached login/);
  t.equal(count(), 1);
  const one = await cli(['logout', '--issuer', idp.issuer, '--client-id', idp.clientId, '--cache-dir', cacheDir]).done;
  t.equal(one.code, 0, one.stderr);
  t.match(one.stderr, /logged out of/);
  t.equal(count(), 0);

  t.equal((await loopbackLogin(cacheDir, 'alice')).result.code, 0);
  const kubeconfig = join(dir, 'logout-kubeconfig.yaml');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: kubetape, interactiveMode: IfAvailable, args: [credential, --issuer, "${idp.issuer}", --client-id, kubetape, --cache-dir, "${cacheDir}"]}}}]\ncontexts: [{name: prod, context: {cluster: c, user: u}}]\ncurrent-context: prod\n`,
  );
  const ctx = await cli(['logout', '--kubeconfig', kubeconfig]).done;
  t.equal(ctx.code, 0, ctx.stderr);
  t.match(ctx.stderr, /logged out of context prod/);
  t.equal(count(), 0, "the current context's login is gone");

  t.equal((await loopbackLogin(cacheDir, 'alice')).result.code, 0);
  const all = await cli(['logout', '--all', '--cache-dir', cacheDir]).done;
  t.match(all.stderr, /forgot 1 login/);
  t.equal(count(), 0);
});

t.test('kubectl through kubetape, with the exec stanza kubeconfig rewrite wrote: one login, an EKS and an impersonation cluster', async (t) => {
  // alpha is EKS-style (the person's own IAM role via STS = moto_server), beta is reached by impersonation.
  const moto: Moto = await startMoto();
  const DEV_ROLE = 'arn:aws:iam::123456789012:role/k8s-dev';
  const eksLike: FakeApiServer = await startFakeApiServer({
    users: [],
    eksAuth: { clusterId: 'alpha-eks', stsEndpoint: moto.url, mapRoles: [{ rolearn: DEV_ROLE, username: 'kubetape:{{SessionName}}', groups: ['eks-dev'] }] },
    rbac: [{ groups: ['eks-dev'], verbs: ['get', 'list'], resources: ['pods'], namespaces: ['default'] }],
  });
  const other: FakeApiServer = await startFakeApiServer({
    users: [{ token: 'sa2', user: 'system:serviceaccount:kubetape:proxy' }],
    rbac: [
      { users: ['system:serviceaccount:kubetape:proxy'], verbs: ['impersonate'], resources: ['users', 'groups'] },
      { groups: ['dev'], verbs: ['get', 'list'], resources: ['pods'] },
    ],
  });
  t.teardown(async () => {
    await eksLike.close();
    await other.close();
    await moto.close();
  });
  const eksCa = join(dir, 'alpha-ca.pem');
  writeFileSync(eksCa, eksLike.ca);
  const { clusters, aws } = parseClustersConfig(
    [
      { name: 'alpha', eks: { name: 'alpha-eks', region: 'us-east-1' }, server: eksLike.url, ca: eksCa, roles: [{ group: 'dev', roleArn: DEV_ROLE }] },
      { name: 'beta', kubeconfig: writeKubeconfig(dir, { server: other.url, ca: other.ca, token: 'sa2', name: 'beta-admin' }) },
    ],
    { region: 'us-east-1', stsEndpoint: moto.url },
    (p) => p,
  );
  const kt: RunningKubetape = await startKubetape(
    resolveConfig(
      {},
      {
        listen: '127.0.0.1:0',
        adminListen: '127.0.0.1:0',
        dataDir: join(dir, 'kt-data'),
        clusters,
        ...(aws ? { aws } : {}),
        authentication: { oidc: [parseOidcIssuer({ issuer: idp.issuer, clientId: 'kubetape', usernameClaim: 'email', ca: caFile }, 'test')] },
      },
    ),
    { log: () => undefined },
  );
  t.teardown(() => kt.close());

  // The user's own kubeconfig with two contexts; rewrite points both at kubetape with OIDC login.
  const wrapper = join(dir, 'kubetape');
  writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(wrapper, 0o755);
  const ktCa = join(dir, 'kt-ca.pem');
  writeFileSync(ktCa, kt.ca);
  const original = join(dir, 'original.yaml');
  writeFileSync(
    original,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: "https://alpha.example.com"}\n- name: b\n  cluster: {server: "https://beta.example.com"}\nusers:\n- name: me\n  user: {token: old}\ncontexts:\n- name: alpha\n  context: {cluster: a, user: me}\n- name: beta\n  context: {cluster: b, user: me}\ncurrent-context: alpha\n`,
  );
  const cacheDir = join(dir, 'cache-kubectl');
  const rewritten = join(dir, 'rewritten.yaml');
  const rw = await cli([
    'kubeconfig',
    'rewrite',
    '--kubeconfig',
    original,
    '--all',
    '--clusters',
    '--proxy',
    kt.url,
    '--ca',
    ktCa,
    '--out',
    rewritten,
    '--oidc-issuer',
    idp.issuer,
    '--oidc-client-id',
    'kubetape',
    '--oidc-extra-scope',
    'email',
    '--oidc-extra-scope',
    'groups',
    '--oidc-extra-scope',
    'offline_access',
    '--oidc-ca-file',
    caFile,
    '--exec-command',
    wrapper,
    '--oidc-arg=--cache-dir=' + cacheDir,
    '--oidc-arg=--no-browser',
    '--oidc-arg=--grant=authcode',
    '--oidc-arg=--listen-port=0',
  ]).done;
  t.equal(rw.code, 0, rw.stderr);
  const text = readFileSync(rewritten, 'utf8');
  t.match(text, /interactiveMode: IfAvailable/);
  t.match(text, new RegExp(`server: ${kt.url.replace(/[.]/g, '\\.')}/clusters/alpha`));
  t.match(text, /- credential\n\s+- --issuer/);
  t.notMatch(text, /token: old/, 'the static token is gone');

  const first = spawnKubectl(['--context', 'alpha', 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], {
    kubeconfig: rewritten,
    timeoutMs: 60_000,
  });
  let stderr = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    first.child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /to log in, open (https:\/\/\S+)/.exec(stderr);
      if (m) resolveUrl(m[1]);
    });
    first.done.then(() => reject(new Error(`kubectl ended before asking for a login: ${stderr}`)), reject);
  });
  await new ScriptedBrowser(idp.ca).run(url, { login: 'alice', password: 'any' }, { stopAt: 'http://127.0.0.1:' });
  const r1 = await first.done;
  t.equal(r1.code, 0, r1.stderr);
  t.equal(r1.stdout, `kubetape:${roleSessionName('alice@example.com').replaceAll('@', '-')}`, "the EKS cluster sees alice's own role session");
  const list = await kubectl(['--context', 'alpha', 'get', 'pods', '-n', 'default', '-o', 'name'], { kubeconfig: rewritten });
  t.equal(list.code, 0, list.stderr);
  const forbidden = await kubectl(['--context', 'alpha', 'get', 'pods', '-n', 'kube-system'], { kubeconfig: rewritten });
  t.equal(forbidden.code, 1);
  t.match(forbidden.stderr, /Forbidden/, "exactly her group's rights");

  const r2 = await kubectl(['--context', 'beta', 'get', 'pods', '-A', '-o', 'name'], { kubeconfig: rewritten });
  t.equal(r2.code, 0, r2.stderr);
  t.notMatch(r2.stderr, /to log in/, 'no second login for the second cluster');
  t.notMatch(list.stderr + forbidden.stderr, /to log in/, 'no login for later kubectl runs');
  const seen = other.received.filter((q) => q.user === 'alice@example.com');
  t.ok(seen.length > 0, 'the beta cluster acted as alice');
  const s = await findSession(kt.store, (x) => x.cluster === 'beta' && x.user === 'alice@example.com');
  const start = (await sessionEvents(kt.store, s.id))[0];
  t.match(start, { issuer: idp.issuer, subject: 'alice', authMethod: 'oidc' });
});

t.test('logout revokes the refresh token at the issuer (RFC 7009); --no-revoke only forgets the local copy', async (t) => {
  const cacheDir = join(dir, 'cache-revoke');
  const cachedRefreshToken = () => {
    const file = readdirSync(cacheDir).find((f) => f.endsWith('.json'))!;
    return (JSON.parse(readFileSync(join(cacheDir, file), 'utf8')) as { refreshToken?: string }).refreshToken;
  };
  const config = await discover({ issuer: idp.issuer, clientId: idp.clientId, ca: idp.ca });

  t.equal((await loopbackLogin(cacheDir, 'alice')).result.code, 0);
  const kept = cachedRefreshToken();
  t.ok(kept, 'a refresh token was cached');
  const forgetOnly = await cli(['logout', '--issuer', idp.issuer, '--client-id', idp.clientId, '--cache-dir', cacheDir, '--no-revoke']).done;
  t.equal(forgetOnly.code, 0, forgetOnly.stderr);
  t.notMatch(forgetOnly.stderr, /revoked/);
  t.ok((await refresh(config, kept!)).idToken, 'with --no-revoke the issuer still honours the refresh token');

  t.equal((await loopbackLogin(cacheDir, 'alice')).result.code, 0);
  const revoked = cachedRefreshToken();
  const out = await cli(['logout', '--issuer', idp.issuer, '--client-id', idp.clientId, '--cache-dir', cacheDir]).done;
  t.equal(out.code, 0, out.stderr);
  t.match(out.stderr, /logged out of .*its refresh token is revoked at the issuer/);
  const refused = await refresh(config, revoked!).then(
    () => undefined,
    (e: { error?: string }) => e,
  );
  t.equal(refused?.error, 'invalid_grant', 'the issuer refuses the revoked refresh token');
});
