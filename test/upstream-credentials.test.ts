// Upstream side: which cluster kubetape forwards to, and with what credential.
// Real files on disk and real plugin processes (small node scripts).
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { kubeconfigPaths, loadKubeconfig, resolveUpstream, type UpstreamCluster } from '../src/kubeconfig/load.js';
import { UpstreamCredentials } from '../src/credentials/upstream-credentials.js';
import { runExecPlugin } from '../src/credentials/exec-plugin.js';
import { createLoopbackTls } from '../src/listen/tls.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const tmp = mkdtempSync(join(tmpdir(), 'kubetape-upstream-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const { ca, server: serverPair } = await createLoopbackTls('upstream-creds');

function write(path: string, text: string, mode?: number): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text, mode === undefined ? undefined : { mode });
  return path;
}

/** A node script usable as an executable (absolute shebang: no reliance on node being in PATH). */
function script(dir: string, name: string, body: string): string {
  const path = write(join(dir, name), `#!${process.execPath}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

// --- exec plugins --------------------------------------------------------------------------
const pluginBin = join(tmp, 'bin');
mkdirSync(pluginBin);
// Counts its runs in $COUNT_FILE, prints token tok-<n> valid for $LIFETIME_MS; exits 1 while $FAIL_FILE exists.
script(
  pluginBin,
  'kt-counting-plugin',
  `const fs = require('fs');
const countFile = process.env.COUNT_FILE;
if (process.env.FAIL_FILE && fs.existsSync(process.env.FAIL_FILE)) { process.stderr.write('refusing: fail file present\\n'); process.exit(1); }
const n = (fs.existsSync(countFile) ? Number(fs.readFileSync(countFile, 'utf8')) : 0) + 1;
fs.writeFileSync(countFile, String(n));
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
setTimeout(() => {
  process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential',
    status: { token: 'tok-' + n, expirationTimestamp: new Date(Date.now() + Number(process.env.LIFETIME_MS)).toISOString() } }));
}, Number(process.env.DELAY_MS || 0));`,
);
script(
  pluginBin,
  'kt-failing-plugin',
  `process.stdout.write('{"partial": "secret-in-stdout"}'); process.stderr.write('\\n  error: no AWS credentials found for profile "prod"  \\n\\n'); process.exit(1);`,
);
script(pluginBin, 'kt-garbage-plugin', `process.stdout.write('token=garbage-secret-123 this is not json');`);
script(
  pluginBin,
  'kt-echo-plugin',
  `const fs = require('fs');
const info = process.env.KUBERNETES_EXEC_INFO;
const stdin = fs.readFileSync(0); // /dev/null ends at once; a pipe left open would hang here
const report = { info: JSON.parse(info), stdinBytes: stdin.length, stdinIsTTY: Boolean(process.stdin.isTTY), extra: process.env.EXTRA_VAR, hasPath: Boolean(process.env.PATH) };
process.stdout.write(JSON.stringify({ apiVersion: JSON.parse(info).apiVersion, kind: 'ExecCredential',
  status: { token: Buffer.from(JSON.stringify(report)).toString('base64url') } }));`,
);
script(
  pluginBin,
  'kt-wrong-version-plugin',
  `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 'leaky-token-456' } }));`,
);
script(pluginBin, 'kt-hanging-plugin', `setInterval(() => {}, 1000);`);
script(
  pluginBin,
  'kt-cert-plugin',
  `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { clientCertificateData: process.env.CERT, clientKeyData: process.env.KEY } }));`,
);

const pluginEnv: NodeJS.ProcessEnv = { ...process.env, PATH: `${pluginBin}${delimiter}${process.env.PATH ?? ''}` };

function execCluster(exec: Record<string, unknown>, extra: Partial<UpstreamCluster> = {}): UpstreamCluster {
  return {
    contextName: 'ctx',
    clusterName: 'c',
    userName: 'u',
    server: 'https://127.0.0.1:6443/k8s/clusters/c-abc',
    insecureSkipTlsVerify: false,
    credential: { type: 'exec', exec: { apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Never', ...exec } as never },
    ...extra,
  };
}

function counter(name: string): { file: string; count: () => number } {
  const file = join(tmp, `${name}.count`);
  return { file, count: () => (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) };
}

// --- kubeconfig discovery and merging --------------------------------------------------------
t.test('kubeconfigPaths follows kubectl: explicit file, else $KUBECONFIG list, else ~/.kube/config', async (t) => {
  t.same(kubeconfigPaths('/x/explicit', { KUBECONFIG: '/a:/b' }, '/home/u'), ['/x/explicit']);
  t.same(kubeconfigPaths(undefined, { KUBECONFIG: ['/a', '', '/b', '/a', '/c'].join(delimiter) }, '/home/u'), ['/a', '/b', '/c']);
  t.same(kubeconfigPaths(undefined, { KUBECONFIG: '' }, '/home/u'), ['/home/u/.kube/config']);
  t.same(kubeconfigPaths(undefined, {}, '/home/u'), ['/home/u/.kube/config']);
});

t.test('a $KUBECONFIG list is merged like kubectl: first file wins per entry and for current-context', async (t) => {
  const dir = join(tmp, 'merge');
  const first = write(
    join(dir, 'one', 'config'),
    `apiVersion: v1
kind: Config
current-context: alpha
clusters:
- name: shared
  cluster: {server: "https://first.example:6443", certificate-authority-data: "${b64(ca.cert)}"}
contexts:
- name: alpha
  context: {cluster: shared, user: alice, namespace: apps}
users:
- name: alice
  user: {token: alice-token}
`,
  );
  const second = write(
    join(dir, 'two', 'config'),
    `apiVersion: v1
kind: Config
current-context: beta
clusters:
- name: shared
  cluster: {server: "https://second.example:6443"}
- name: other
  cluster: {server: "https://other.example:6443", certificate-authority: ca/other.crt}
contexts:
- name: alpha
  context: {cluster: other, user: bob}
- name: beta
  context: {cluster: other, user: bob}
users:
- name: alice
  user: {token: not-this-one}
- name: bob
  user: {username: bob, password: "p:w"}
`,
  );
  write(join(dir, 'two', 'ca', 'other.crt'), ca.cert);
  const paths = kubeconfigPaths(undefined, { KUBECONFIG: [first, join(dir, 'missing'), second].join(delimiter) });
  const cfg = loadKubeconfig(paths);
  t.same(cfg.files, [first, second], 'the missing middle file is skipped');
  t.equal(cfg.currentContext, 'alpha');

  const alpha = resolveUpstream(cfg);
  t.equal(alpha.contextName, 'alpha');
  t.equal(alpha.server, 'https://first.example:6443', 'cluster "shared" comes from the first file');
  t.equal(alpha.namespace, 'apps');
  t.equal(alpha.ca, ca.cert);
  t.same(alpha.credential, { type: 'token', token: 'alice-token' }, 'user "alice" comes from the first file');

  const beta = resolveUpstream(cfg, 'beta');
  t.equal(beta.server, 'https://other.example:6443');
  t.equal(beta.ca, ca.cert, 'certificate-authority is relative to the second file, not the first');
  t.same(beta.credential, { type: 'basic', username: 'bob', password: 'p:w' });
  const auth = await new UpstreamCredentials(beta).get();
  t.equal(auth.authorization, `Basic ${b64('bob:p:w')}`);
});

t.test('relative certificate paths resolve against the kubeconfig file; -data fields are decoded', async (t) => {
  const { ca: clientCa, server: client } = await createLoopbackTls('client');
  const dir = join(tmp, 'relative');
  write(join(dir, 'pki', 'ca.crt'), ca.cert);
  write(join(dir, 'kube', 'certs', 'client.crt'), client.cert);
  write(join(dir, 'kube', 'certs', 'client.key'), client.key);
  const file = write(
    join(dir, 'kube', 'config'),
    `clusters:
- name: files
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ../pki/ca.crt
    tls-server-name: kubernetes.default
    proxy-url: http://proxy.local:3128
- name: data
  cluster:
    server: https://127.0.0.1:6444
    insecure-skip-tls-verify: true
contexts:
- name: by-file
  context: {cluster: files, user: cert-files}
- name: by-data
  context: {cluster: data, user: cert-data}
users:
- name: cert-files
  user: {client-certificate: certs/client.crt, client-key: certs/client.key}
- name: cert-data
  user:
    client-certificate-data: ${b64(clientCa.cert)}
    client-key-data: ${b64(clientCa.key)}
`,
  );
  // Load from another working directory: resolution must not depend on cwd.
  const cfg = loadKubeconfig([file]);
  const byFile = resolveUpstream(cfg, 'by-file');
  t.equal(byFile.ca, ca.cert);
  t.equal(byFile.tlsServerName, 'kubernetes.default');
  t.equal(byFile.proxyUrl, 'http://proxy.local:3128');
  t.same(byFile.credential, { type: 'clientCert', cert: client.cert, key: client.key });
  const byData = resolveUpstream(cfg, 'by-data');
  t.equal(byData.ca, undefined);
  t.equal(byData.insecureSkipTlsVerify, true);
  t.same(byData.credential, { type: 'clientCert', cert: clientCa.cert, key: clientCa.key });
  const auth = await new UpstreamCredentials(byData).get();
  t.same(auth, { cert: clientCa.cert, key: clientCa.key }, 'client certificates need no Authorization header');
});

t.test('errors name the file and say what is wrong', async (t) => {
  const dir = join(tmp, 'errors');
  const bad = write(join(dir, 'bad-yaml'), 'clusters:\n  - name: x\n   cluster: [\n');
  t.throws(() => loadKubeconfig([bad]), { message: new RegExp(`^${bad}: not valid YAML`) });
  const notMap = write(join(dir, 'list'), '- a\n- b\n');
  t.throws(() => loadKubeconfig([notMap]), { message: `${notMap}: not a kubeconfig (the top level is a list, expected a mapping)` });
  const typo = write(join(dir, 'typo'), 'clusters:\n- name: c\n  cluster: {server: [a]}\n');
  t.throws(() => loadKubeconfig([typo]), { message: `${typo}: cluster "c": "server" must be a string, not a list` });
  t.throws(() => loadKubeconfig([join(dir, 'nope')]), { message: `${join(dir, 'nope')}: kubeconfig file not found` });
  t.throws(() => loadKubeconfig([dir]), { message: `${dir}: is a directory, not a kubeconfig file` });
  t.throws(() => loadKubeconfig([join(dir, 'nope1'), join(dir, 'nope2')]), { message: /no kubeconfig found: none of .*nope1, .*nope2 exists/ });

  const file = write(
    join(dir, 'config'),
    `clusters:
- name: ok
  cluster: {server: "https://127.0.0.1:6443"}
- name: both
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true, certificate-authority-data: ${b64(ca.cert)}}
- name: badca
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "%%%notbase64"}
- name: noserver
  cluster: {}
contexts:
- {name: gcp, context: {cluster: ok, user: gcp}}
- {name: twice, context: {cluster: ok, user: twice}}
- {name: no-cluster, context: {cluster: gone, user: gcp}}
- {name: no-user, context: {cluster: ok, user: ghost}}
- {name: both, context: {cluster: both}}
- {name: badca, context: {cluster: badca}}
- {name: noserver, context: {cluster: noserver}}
- {name: anonymous, context: {cluster: ok}}
users:
- name: gcp
  user: {auth-provider: {name: gcp, config: {access-token: x}}}
- name: twice
  user: {token: abc, exec: {apiVersion: client.authentication.k8s.io/v1, command: foo}}
`,
  );
  const cfg = loadKubeconfig([file]);
  t.throws(() => resolveUpstream(cfg), { message: /^no current-context in .*config; pick one with --context \(contexts: "gcp", "twice",/ });
  t.throws(() => resolveUpstream(cfg, 'prod'), { message: /^context "prod" not found in .*config \(contexts: / });
  t.throws(() => resolveUpstream(cfg, 'gcp'), { message: /auth-provider "gcp", which kubetape does not support/ });
  t.throws(() => resolveUpstream(cfg, 'twice'), { message: /user "twice" .* combines exec and token; kubetape uses exactly one upstream credential per user/ });
  t.throws(() => resolveUpstream(cfg, 'no-cluster'), { message: /context "no-cluster" refers to cluster "gone", which is not in / });
  t.throws(() => resolveUpstream(cfg, 'no-user'), { message: /context "no-user" refers to user "ghost", which is not in / });
  t.throws(() => resolveUpstream(cfg, 'both'), { message: /sets both a certificate authority and insecure-skip-tls-verify/ });
  t.throws(() => resolveUpstream(cfg, 'badca'), { message: /certificate-authority-data is not base64/ });
  t.throws(() => resolveUpstream(cfg, 'noserver'), { message: /cluster "noserver" .* has no server/ });
  t.same(resolveUpstream(cfg, 'anonymous').credential, { type: 'none' });
  t.same(await new UpstreamCredentials(resolveUpstream(cfg, 'anonymous')).get(), {});
});

t.test('a token file is re-read when it changes (projected service-account token rotation)', async (t) => {
  const dir = join(tmp, 'sa');
  // The kubelet's layout: token -> ..data/token, ..data -> a timestamped directory swapped atomically.
  write(join(dir, '..2024_01', 'token'), 'first-token\n');
  symlinkSync('..2024_01', join(dir, '..data'));
  symlinkSync('..data/token', join(dir, 'token'));
  const file = write(
    join(dir, 'kubeconfig'),
    `current-context: sa
clusters: [{name: c, cluster: {server: "https://10.0.0.1:443"}}]
contexts: [{name: sa, context: {cluster: c, user: sa}}]
users: [{name: sa, user: {tokenFile: token, token: ignored-when-a-file-is-set}}]
`,
  );
  const cluster = resolveUpstream(loadKubeconfig([file]));
  t.same(cluster.credential, { type: 'tokenFile', path: join(dir, 'token') });
  const creds = new UpstreamCredentials(cluster);
  t.equal((await creds.get()).authorization, 'Bearer first-token', 'trimmed like client-go');
  t.equal((await creds.get()).authorization, 'Bearer first-token');

  write(join(dir, '..2024_02', 'token'), 'second-token');
  symlinkSync('..2024_02', join(dir, '..data.tmp'));
  renameSync(join(dir, '..data.tmp'), join(dir, '..data'));
  t.equal((await creds.get()).authorization, 'Bearer second-token', 'the swapped token is picked up');

  writeFileSync(join(dir, '..2024_02', 'token'), 'third-token-longer');
  t.equal((await creds.get()).authorization, 'Bearer third-token-longer', 'an in-place rewrite is picked up too');

  writeFileSync(join(dir, '..2024_02', 'token'), '  \n');
  await t.rejects(creds.get(), { message: `upstream tokenFile ${join(dir, 'token')} is empty` });
  rmSync(join(dir, '..2024_02', 'token'));
  await t.rejects(creds.get(), { message: /cannot read upstream tokenFile .*token \(ENOENT\)/ });
});

t.test('an exec plugin resolved via PATH is cached, shared by concurrent callers, and re-run after invalidate()', async (t) => {
  const c = counter('cache');
  const cluster = execCluster({
    command: 'kt-counting-plugin',
    env: [
      { name: 'COUNT_FILE', value: c.file },
      { name: 'LIFETIME_MS', value: '600000' },
      { name: 'DELAY_MS', value: '150' },
    ],
  });
  const creds = new UpstreamCredentials(cluster, { baseEnv: pluginEnv });

  const all = await Promise.all(Array.from({ length: 5 }, () => creds.get()));
  t.equal(c.count(), 1, 'five concurrent callers, one plugin run');
  t.same(new Set(all.map((a) => a.authorization)), new Set(['Bearer tok-1']));
  t.ok(all[0].expiresAt instanceof Date && all[0].expiresAt.getTime() > Date.now() + 500_000, 'expirationTimestamp is parsed');

  t.equal((await creds.get()).authorization, 'Bearer tok-1');
  t.equal(c.count(), 1, 'cached while valid');

  creds.invalidate();
  const again = await Promise.all([creds.get(), creds.get()]);
  t.same(
    again.map((a) => a.authorization),
    ['Bearer tok-2', 'Bearer tok-2'],
  );
  t.equal(c.count(), 2, 'invalidate() makes the next get() run the plugin once more');
});

t.test('an exec credential is refreshed shortly before it expires', async (t) => {
  const c = counter('refresh');
  const fail = join(tmp, 'refresh.fail');
  const lifetime = 10_000;
  let fake = Date.now();
  const cluster = execCluster({
    command: 'kt-counting-plugin',
    env: [
      { name: 'COUNT_FILE', value: c.file },
      { name: 'LIFETIME_MS', value: String(lifetime) },
      { name: 'FAIL_FILE', value: fail },
    ],
  });
  const creds = new UpstreamCredentials(cluster, { baseEnv: pluginEnv, now: () => fake });
  const first = await creds.get();
  t.equal(first.authorization, 'Bearer tok-1');
  const expires = first.expiresAt!.getTime();

  fake = expires - 1_500; // 10 % of the 10 s lifetime is 1 s: not yet
  t.equal((await creds.get()).authorization, 'Bearer tok-1');
  t.equal(c.count(), 1);

  fake = expires - 500; // inside the last second: refresh although still valid
  t.equal((await creds.get()).authorization, 'Bearer tok-2');
  t.equal(c.count(), 2);

  // A failed early refresh falls back to the still-valid credential; once it has expired, the failure surfaces.
  writeFileSync(fail, '');
  const second = (await creds.get()).expiresAt!.getTime();
  fake = second - 500;
  t.equal((await creds.get()).authorization, 'Bearer tok-2', 'still valid: served while the plugin fails');
  fake = second + 1;
  await t.rejects(creds.get(), { message: /exec plugin "kt-counting-plugin" exited with code 1: refusing: fail file present/ });
  rmSync(fail);
  t.equal((await creds.get()).authorization, 'Bearer tok-3', 'recovers when the plugin does');
});

t.test('refresh before expiry with the real clock', async (t) => {
  const c = counter('realclock');
  const cluster = execCluster({
    command: 'kt-counting-plugin',
    env: [
      { name: 'COUNT_FILE', value: c.file },
      { name: 'LIFETIME_MS', value: '1500' },
    ],
  });
  const creds = new UpstreamCredentials(cluster, { baseEnv: pluginEnv });
  t.equal((await creds.get()).authorization, 'Bearer tok-1');
  t.equal((await creds.get()).authorization, 'Bearer tok-1');
  await sleep(1500);
  t.equal((await creds.get()).authorization, 'Bearer tok-2');
  t.equal(c.count(), 2);
});

t.test('provideClusterInfo hands the plugin the cluster; stdin is not a terminal; env is merged', async (t) => {
  const cluster = execCluster(
    { command: 'kt-echo-plugin', provideClusterInfo: true, env: [{ name: 'EXTRA_VAR', value: 'from-stanza' }] },
    { ca: ca.cert, tlsServerName: 'kube.internal', execClusterConfig: { audience: 'kubetape' } },
  );
  const auth = await new UpstreamCredentials(cluster, { baseEnv: pluginEnv }).get();
  const report = JSON.parse(Buffer.from(auth.authorization!.replace(/^Bearer /, ''), 'base64url').toString());
  t.same(report.info, {
    kind: 'ExecCredential',
    apiVersion: 'client.authentication.k8s.io/v1',
    spec: {
      interactive: false,
      cluster: {
        server: 'https://127.0.0.1:6443/k8s/clusters/c-abc',
        'tls-server-name': 'kube.internal',
        'certificate-authority-data': b64(ca.cert),
        config: { audience: 'kubetape' },
      },
    },
  });
  t.equal(report.stdinBytes, 0);
  t.equal(report.stdinIsTTY, false);
  t.equal(report.extra, 'from-stanza');
  t.equal(report.hasPath, true, 'the stanza env is merged over the inherited one');

  const without = execCluster({ command: 'kt-echo-plugin', apiVersion: 'client.authentication.k8s.io/v1beta1' }, { ca: ca.cert });
  const r2 = JSON.parse(Buffer.from((await new UpstreamCredentials(without, { baseEnv: pluginEnv }).get()).authorization!.slice(7), 'base64url').toString());
  t.same(
    r2.info,
    { kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1beta1', spec: { interactive: false } },
    'no cluster without provideClusterInfo',
  );
});

t.test('a plugin may return a client certificate instead of a token', async (t) => {
  const cluster = execCluster({
    command: 'kt-cert-plugin',
    env: [
      { name: 'CERT', value: serverPair.cert },
      { name: 'KEY', value: serverPair.key },
    ],
  });
  t.same(await new UpstreamCredentials(cluster, { baseEnv: pluginEnv }).get(), { cert: serverPair.cert, key: serverPair.key });
});

t.test('plugin failures are clear errors that never include the credential', async (t) => {
  const opts = { baseEnv: pluginEnv };
  const hint = 'Install the AWS CLI: https://aws.amazon.com/cli/';
  await t.rejects(runExecPlugin({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kt-failing-plugin', installHint: hint }, opts), {
    message: `exec plugin "kt-failing-plugin" exited with code 1: error: no AWS credentials found for profile "prod" (${hint})`,
  });
  const garbage = await runExecPlugin({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kt-garbage-plugin' }, opts).catch((e: Error) => e);
  t.match(garbage, { message: /^exec plugin "kt-garbage-plugin" printed 41 bytes that are not JSON; it must print an ExecCredential$/ });
  t.notMatch((garbage as Error).message, /garbage-secret/);
  const wrong = await runExecPlugin({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kt-wrong-version-plugin' }, opts).catch((e: Error) => e);
  t.match(wrong, {
    message:
      'exec plugin "kt-wrong-version-plugin" is configured for client.authentication.k8s.io/v1 but returned apiVersion "client.authentication.k8s.io/v1beta1"',
  });
  t.notMatch((wrong as Error).message, /leaky-token/);
  await t.rejects(runExecPlugin({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kt-no-such-plugin', installHint: 'see docs' }, opts), {
    message: 'exec plugin "kt-no-such-plugin" not found in PATH (see docs)',
  });
  await t.rejects(runExecPlugin({ apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'kt-echo-plugin' }, opts), {
    message: /apiVersion "client.authentication.k8s.io\/v1alpha1" is not supported/,
  });
  const c = counter('interactive');
  await t.rejects(
    runExecPlugin(
      { apiVersion: 'client.authentication.k8s.io/v1', command: 'kt-counting-plugin', interactiveMode: 'Always', env: [{ name: 'COUNT_FILE', value: c.file }] },
      opts,
    ),
    { message: /interactiveMode Always: it needs a terminal, and kubetape runs as a server/ },
  );
  t.equal(c.count(), 0, 'an interactive-only plugin is not even started');

  const started = Date.now();
  await t.rejects(runExecPlugin({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kt-hanging-plugin' }, { ...opts, timeoutMs: 300 }), {
    message: 'exec plugin "kt-hanging-plugin" did not finish within 300 ms',
  });
  t.ok(Date.now() - started < 3000, 'the timeout ends the wait');
});
