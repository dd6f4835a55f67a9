// kubetape does the RFC 8693 token exchange itself: a person logs in to an
// MCP host (authorization code + PKCE at oidc-provider) and the MCP server
// gets their access token; the agent, as kubectl's exec plugin
// (`kubetape credential --grant token-exchange`), trades it at the IdP for
// a token whose sub is the person and whose act names the agent; kubectl
// runs through kubetape and the recording shows both. Also: an IdP without
// the grant, a subject token for another audience or expired (nothing
// reaches the cluster), and a cache that never serves one person's
// exchanged token for another person's token. The exchange grant at the IdP
// is test infrastructure (test/helpers/oidc-provider.ts).
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTestProvider, personAccessToken, MACHINE_RESOURCE, TOKEN_EXCHANGE, type TestProvider } from './helpers/oidc-provider.js';
import { startHarness, type Harness } from './helpers/harness.js';
import { cliFromSource } from './helpers/streams.js';
import { kubectl, writeCredentialKubeconfig } from './helpers/kubectl.js';
import { parseOidcIssuers } from '../src/authenticate/oidc/config.js';
import { exchangeToken } from '../src/login/token-exchange.js';

const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(ROOT, 'bin/kubetape.js');
const MCP_RESOURCE = 'https://mcp.test';
const AGENT = 'mcp-exchange';
const SECRET = 'secret-exchange';

let dir: string;
let idp: TestProvider;
let plainIdp: TestProvider;
let h: Harness;
let idpCa: string;
let secretFile: string;
let alice: string;
let bob: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubetape-exchange-'));
  const people = { alice: { email: 'alice@example.com', groups: ['dev'] }, bob: { email: 'bob@example.com', groups: ['sre'] } };
  idp = await startTestProvider(people, { machines: [{ clientId: AGENT, secret: SECRET, exchange: { subjectAudience: MCP_RESOURCE } }] });
  // An IdP whose discovery lists no token exchange.
  plainIdp = await startTestProvider(people, { machines: [{ clientId: AGENT, secret: SECRET }] });
  idpCa = join(dir, 'idp-ca.pem');
  writeFileSync(idpCa, idp.ca + plainIdp.ca);
  secretFile = join(dir, 'agent.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  h = await startHarness({
    config: {
      authentication: {
        oidc: parseOidcIssuers([{ issuer: idp.issuer, audience: MACHINE_RESOURCE, usernameClaim: 'sub', groupsClaim: '', ca: idpCa }], 'test'),
      },
    },
  });
  [alice, bob] = await Promise.all([personAccessToken(idp, 'alice', MCP_RESOURCE), personAccessToken(idp, 'bob', MCP_RESOURCE)]);
});
t.teardown(async () => {
  await h?.close();
  await idp?.close();
  await plainIdp?.close();
  rmSync(dir, { recursive: true, force: true });
});

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
const exchanges = () => idp.grants.filter((g) => g === TOKEN_EXCHANGE).length;
const refusals = () => idp.refused.filter((g) => g === TOKEN_EXCHANGE).length;

let files = 0;
function tokenFile(token: string): string {
  const f = join(dir, `subject-${++files}.token`);
  writeFileSync(f, token + '\n', { mode: 0o600 });
  return f;
}

function exchangeArgs(subject: string[], o: { issuer?: string; cacheDir?: string } = {}): string[] {
  return [
    '--grant',
    'token-exchange',
    '--issuer',
    o.issuer ?? idp.issuer,
    '--client-id',
    AGENT,
    '--client-secret-file',
    secretFile,
    ...subject,
    '--resource',
    MACHINE_RESOURCE,
    '--certificate-authority',
    idpCa,
    '--cache-dir',
    o.cacheDir ?? join(dir, 'cache'),
    '--no-trace-context',
  ];
}

let configs = 0;
/** A kubeconfig whose user is the agent: kubectl runs `kubetape credential --grant token-exchange`. */
function agentKubeconfig(subject: string[], cacheDir?: string): string {
  return writeCredentialKubeconfig(join(dir, `kubeconfig-${++configs}.yaml`), {
    server: h.kt.url,
    ca: h.kt.ca,
    user: 'agent',
    bin: BIN,
    args: exchangeArgs(subject, cacheDir ? { cacheDir } : {}),
  });
}

t.test('the agent exchanges the person’s token as kubectl’s exec plugin; the recording names the agent and the person', async (t) => {
  const before = exchanges();
  const r = await kubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig: agentKubeconfig(['--subject-token-file', tokenFile(alice)]) });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /namespace\/default/);
  // Bob's token in the environment kubectl passes on to the plugin (an MCP server sets it on the kubectl it runs).
  const b = await kubectl(['get', 'configmaps'], { kubeconfig: agentKubeconfig(['--subject-token-env', 'PERSON_TOKEN']), env: { PERSON_TOKEN: bob } });
  t.equal(b.code, 0, b.stderr);
  t.equal(exchanges(), before + 2, 'one exchange per person at the IdP');

  const forAlice = await h.kt.store.listSessions({ actingFor: 'alice' });
  t.ok(forAlice.some((x) => x.command === 'kubectl get' && x.resources.includes('namespaces')));
  t.ok(forAlice.every((x) => x.kind === 'machine' && x.user === 'alice' && x.agent === AGENT && x.actingFor === 'alice'));
  const forBob = await h.kt.store.listSessions({ actingFor: 'bob' });
  t.ok(forBob.some((x) => x.command === 'kubectl get' && x.resources.includes('configmaps')));
  t.ok(forBob.every((x) => x.kind === 'machine' && x.user === 'bob' && x.agent === AGENT && x.actingFor === 'bob'));

  const [listed, agents] = await cliFromSource([
    ['sessions', 'list', '--acting-for', 'alice', '--data-dir', h.dataDir],
    ['sessions', 'list', '--agent', AGENT, '--data-dir', h.dataDir],
  ]);
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout.toString(), forAlice[0].id.slice(0, 8));
  t.notMatch(listed.stdout.toString(), forBob[0].id.slice(0, 8), '--acting-for alice leaves bob out');
  t.equal(agents.code, 0, agents.stderr);
  t.match(agents.stdout.toString(), AGENT);
  for (const x of [...forAlice, ...forBob]) t.match(agents.stdout.toString(), x.id.slice(0, 8), 'both sessions under the agent');
});

t.test('the cache serves a person’s exchanged token again, and never for another person’s token', async (t) => {
  const cacheDir = join(dir, 'cache-people');
  const before = exchanges();
  const [a1, a2, b1] = await cliFromSource([
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(alice)], { cacheDir })],
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(alice)], { cacheDir })],
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(bob)], { cacheDir })],
  ]);
  for (const r of [a1, a2, b1]) t.equal(r.code, 0, r.stderr);
  const tokenOf = (stdout: Buffer) => (JSON.parse(stdout.toString()) as { status: { token: string; expirationTimestamp: string } }).status;
  t.equal(tokenOf(a2.stdout).token, tokenOf(a1.stdout).token, 'the same person: served from the cache');
  t.equal(exchanges(), before + 2, 'alice once, bob once');
  t.match(claimsOf(tokenOf(a1.stdout).token), { sub: 'alice', act: { sub: AGENT }, aud: MACHINE_RESOURCE });
  t.match(claimsOf(tokenOf(b1.stdout).token), { sub: 'bob', act: { sub: AGENT } });
  // kubectl keeps it no longer than the person's own token lives.
  t.ok(Date.parse(tokenOf(a1.stdout).expirationTimestamp) <= Number(claimsOf(alice)['exp']) * 1000, 'kubectl keeps it no longer than the person token');
  // The cache holds hashes of the subject tokens, never the tokens.
  const files = readdirSync(cacheDir).filter((n) => n.endsWith('.json'));
  t.equal(files.length, 2);
});

t.test('an IdP without token exchange, a subject token for another audience or expired: one line, nothing reaches the cluster', async (t) => {
  const otherAudience = await personAccessToken(idp, 'alice', 'https://other.test');
  const expired = await idp.signAccessToken({ sub: 'alice', aud: MCP_RESOURCE, client_id: 'mcp-host', exp: Math.floor(Date.now() / 1000) - 120 });
  const received = h.api.received.length;
  const sessions = (await h.kt.store.listSessions()).length;
  const before = refusals();
  const plainBefore = plainIdp.grants.length + plainIdp.refused.length;

  const [noGrant, wrongAud, old, missing, unset, onArgv, badType, wrongGrant] = await cliFromSource([
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(alice)], { issuer: plainIdp.issuer })],
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(otherAudience)])],
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(expired)])],
    ['credential', ...exchangeArgs(['--subject-token-file', join(dir, 'no-such-file')])],
    ['credential', ...exchangeArgs(['--subject-token-env', 'KUBETAPE_TEST_UNSET_TOKEN'])],
    ['credential', ...exchangeArgs(['--subject-token', alice])],
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(alice), '--subject-token-type', 'urn:ietf:params:oauth:token-type:saml2'])],
    ['credential', ...exchangeArgs(['--subject-token-file', tokenFile(alice)]).map((a) => (a === 'token-exchange' ? 'client-credentials' : a))],
  ]);
  const oneLine = (r: { code: number; stderr: string }, re: RegExp, what: string, lines = 1) => {
    t.not(r.code, 0, what);
    t.match(r.stderr, re, what);
    t.equal(r.stderr.trim().split('\n').length, lines, `${what}: one line`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  };
  oneLine(
    noGrant,
    /does not support token exchange \(RFC 8693\): its discovery document does not list urn:ietf:params:oauth:grant-type:token-exchange/,
    'no grant',
  );
  oneLine(wrongAud, /the token exchange at https:\/\/127\.0\.0\.1:\d+ failed: invalid_grant: subject token rejected: unexpected "aud" claim value/, 'audience');
  oneLine(old, /the subject token expired at .*; the person must log in again/, 'expired');
  oneLine(missing, /cannot read --subject-token-file .*no-such-file \(ENOENT\)/, 'missing file');
  oneLine(unset, /the environment variable KUBETAPE_TEST_UNSET_TOKEN is not set or empty/, 'unset variable');
  // commander's own refusal: the line, and its suggestion on a second.
  oneLine(onArgv, /unknown option '--subject-token'/, 'no token on the command line', 2);
  t.notMatch(onArgv.stderr, alice.slice(-20), 'the token is not echoed back');
  oneLine(badType, /--subject-token-type must be access_token, id_token or jwt/, 'unknown token type');
  oneLine(
    wrongGrant,
    /--subject-token-file, --subject-token-env, --subject-token-type and --requested-token-type go with --grant token-exchange/,
    'wrong grant',
  );
  t.equal(refusals(), before + 1, 'only the wrong audience reached the IdP; the expired token was refused here');
  t.equal(plainIdp.grants.length + plainIdp.refused.length, plainBefore, 'nothing was asked of the IdP without the grant');

  // The same refusal through kubectl: nothing reaches the cluster and no session is recorded.
  const r = await kubectl(['get', 'pods'], { kubeconfig: agentKubeconfig(['--subject-token-file', tokenFile(otherAudience)]) });
  t.not(r.code, 0);
  t.match(r.stderr, /invalid_grant: subject token rejected/);
  t.equal(h.api.received.length, received, 'nothing forwarded');
  t.equal((await h.kt.store.listSessions()).length, sessions, 'nothing recorded');

  // Past kubetape's own check (a clock behind the IdP's), the IdP refuses the expired token and kubetape passes its reason on.
  const exp = Number(claimsOf(expired)['exp']) * 1000;
  await t.rejects(
    exchangeToken({
      issuer: idp.issuer,
      clientId: AGENT,
      clientSecret: SECRET,
      subjectToken: expired,
      resource: MACHINE_RESOURCE,
      scopes: [],
      ca: idp.ca,
      cacheDir: join(dir, 'cache-clock'),
      now: () => exp - 1000,
    }),
    /invalid_grant: subject token rejected: "exp" claim timestamp check failed/,
  );
});
