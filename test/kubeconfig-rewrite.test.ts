// Downstream side: kubeconfigs that point kubectl at kubetape. The rewritten
// files are checked as YAML and then used by the real kubectl against a small
// HTTPS server standing in for the proxy.
import t from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { parse } from 'yaml';
import { createLoopbackTls } from '../src/listen/tls.js';
import { rewriteKubeconfig } from '../src/kubeconfig/rewrite.js';
import { buildProxyKubeconfig } from '../src/kubeconfig/proxy-kubeconfig.js';
import { templatesDir } from '../src/kubeconfig/templates.js';
import { registerKubeconfigCommand, runKubeconfigRewrite, type RewriteIo } from '../src/cli/kubeconfig-command.js';
import { CliError } from '../src/cli/errors.js';

const run = promisify(execFile);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const tmp = mkdtempSync(join(tmpdir(), 'kubetape-rewrite-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const TOKEN = 'kt-0123456789abcdef';
const proxyTls = await createLoopbackTls('kubetape-proxy');
const upstreamTls = await createLoopbackTls('eks-upstream');

// --- a stand-in for the kubetape proxy: enough API for `kubectl get pods -o json` ------------
interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  session: string | undefined;
}
const seen: Seen[] = [];
const server: Server = createServer({ cert: proxyTls.server.cert, key: proxyTls.server.key }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://127.0.0.1');
  seen.push({
    method: req.method ?? '',
    path: url.pathname,
    authorization: req.headers.authorization,
    session: req.headers['kubectl-session'] as string | undefined,
  });
  const send = (code: number, body: unknown) => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/version') return send(200, { major: '1', minor: '32', gitVersion: 'v1.32.4', platform: 'linux/amd64' });
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    return send(401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  }
  if (url.pathname === '/api')
    return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:443' }] });
  if (url.pathname === '/apis') return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
  if (url.pathname === '/api/v1') {
    return send(200, {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] }],
    });
  }
  const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
  if (pods && req.method === 'GET') {
    const ns = pods[1];
    return send(200, {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '1' },
      items: [
        {
          kind: 'Pod',
          apiVersion: 'v1',
          metadata: { name: `pod-in-${ns}`, namespace: ns, uid: '1', creationTimestamp: '2024-01-01T00:00:00Z' },
          spec: {},
          status: {},
        },
      ],
    });
  }
  return send(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'not found', reason: 'NotFound', code: 404 });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
const PROXY = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** Run the real kubectl with its own cache dir and HOME; returns the pods it listed and the requests it made. */
async function kubectlGetPods(
  kubeconfig: string,
  context?: string,
): Promise<{ pods: Array<{ metadata: { name: string; namespace: string } }>; requests: Seen[] }> {
  const home = mkdtempSync(join(tmp, 'home-'));
  const args = ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'cache'), ...(context ? ['--context', context] : []), 'get', 'pods', '-o', 'json'];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  const before = seen.length;
  const { stdout } = await run('/usr/bin/kubectl', args, { env, timeout: 60_000 });
  return { pods: JSON.parse(stdout).items, requests: seen.slice(before) };
}

// --- fixtures -------------------------------------------------------------------------------------
const DEMO_ARN = 'arn:aws:eks:us-west-2:111122223333:cluster/demo';
const STAGING_ARN = 'arn:aws:eks:eu-central-1:111122223333:cluster/staging';
const DEMO_SERVER = 'https://0123456789ABCDEF0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com';
const STAGING_SERVER = 'https://FEDCBA9876543210FEDCBA9876543210.yl4.eu-central-1.eks.amazonaws.com';

/** As `aws eks update-kubeconfig` writes it (the second one with --alias staging, then a namespace set). */
const EKS_KUBECONFIG = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${b64(upstreamTls.ca.cert)}
    server: ${DEMO_SERVER}
  name: ${DEMO_ARN}
- cluster:
    certificate-authority-data: ${b64(upstreamTls.ca.cert)}
    server: ${STAGING_SERVER}
  name: ${STAGING_ARN}
contexts:
- context:
    cluster: ${DEMO_ARN}
    user: ${DEMO_ARN}
  name: ${DEMO_ARN}
- context:
    cluster: ${STAGING_ARN}
    namespace: team-a
    user: ${STAGING_ARN}
  name: staging
current-context: ${DEMO_ARN}
kind: Config
preferences: {}
users:
- name: ${DEMO_ARN}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - us-west-2
      - eks
      - get-token
      - --cluster-name
      - demo
      - --output
      - json
      command: aws
      env:
      - name: AWS_PROFILE
        value: prod
- name: ${STAGING_ARN}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - eks
      - get-token
      - --cluster-name
      - staging
      - --output
      - json
      command: aws
`;

const GENERIC_KUBECONFIG = `# my clusters
apiVersion: v1
kind: Config
current-context: dev
clusters:
  - name: dev-cluster
    cluster:
      server: https://dev.example.com:6443 # the dev API
      certificate-authority-data: ${b64(upstreamTls.ca.cert)}
  - name: prod-cluster
    cluster:
      server: https://rancher.example.com/k8s/clusters/c-m-abc
contexts:
  - name: dev
    context: {cluster: dev-cluster, user: dev-admin, namespace: web}
  - name: dev-readonly
    context: {cluster: dev-cluster, user: dev-viewer}
  - name: prod
    context: {cluster: prod-cluster, user: dev-admin}
users:
  - name: dev-admin
    user:
      client-certificate-data: ${b64(upstreamTls.server.cert)}
      client-key-data: ${b64(upstreamTls.server.key)}
  - name: dev-viewer
    user: {token: viewer-token}
`;

type Named<K extends string> = { name: string } & Record<K, Record<string, unknown>>;
interface Parsed {
  'current-context': string;
  preferences?: unknown;
  clusters: Array<Named<'cluster'>>;
  users: Array<Named<'user'>>;
  contexts: Array<Named<'context'>>;
}
const byName = <T extends { name: string }>(list: T[], name: string): T | undefined => list.find((e) => e.name === name);
const rewriteOpts = { proxyServer: PROXY, caPem: proxyTls.ca.cert, token: TOKEN };

function writeFile(name: string, text: string, mode = 0o600): string {
  const path = join(tmp, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  return path;
}

// --- tests --------------------------------------------------------------------------------------------
t.test('templates are found next to package.json', async (t) => {
  t.equal(templatesDir(), join(ROOT, 'kubeconfig-templates'));
  for (const name of ['eks', 'generic']) {
    const text = readFileSync(join(templatesDir(), `${name}.yaml`), 'utf8');
    t.match(text, /^# kubetape kubeconfig template/, `${name}.yaml documents itself`);
    const body = text
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    const used = new Set([...body.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]));
    t.ok(used.has('proxyServer') && used.has('token'), `${name}.yaml uses the proxy URL and the token`);
    for (const p of used) t.match(text, new RegExp(`^#\\s+\\{\\{${p}\\}\\}\\s`, 'm'), `${name}.yaml documents {{${p}}} in its header`);
  }
});

t.test('an EKS kubeconfig: both contexts point at kubetape, names, namespaces and EKS facts kept', async (t) => {
  const { yaml, rewritten } = rewriteKubeconfig(EKS_KUBECONFIG, { ...rewriteOpts, all: true, source: 'eks-config' });
  t.same(
    rewritten.map((r) => [r.context, r.template, r.cluster, r.user]),
    [
      [DEMO_ARN, 'eks', DEMO_ARN, DEMO_ARN],
      ['staging', 'eks', STAGING_ARN, STAGING_ARN],
    ],
  );
  t.match(yaml, /^clusters:\n- cluster:\n/m, "kubectl's list style is kept");
  const out = parse(yaml) as Parsed;
  t.equal(out['current-context'], DEMO_ARN);
  t.same(out.preferences, {});
  t.same(
    out.contexts,
    [
      { context: { cluster: DEMO_ARN, user: DEMO_ARN }, name: DEMO_ARN },
      { context: { cluster: STAGING_ARN, namespace: 'team-a', user: STAGING_ARN }, name: 'staging' },
    ],
    'context names, namespaces and ARN-style names are kept',
  );
  t.same(byName(out.clusters, DEMO_ARN)!.cluster, {
    server: PROXY,
    'certificate-authority-data': b64(proxyTls.ca.cert),
    extensions: [
      {
        name: 'kubetape',
        extension: {
          'upstream-server': DEMO_SERVER,
          'upstream-cluster': DEMO_ARN,
          'upstream-user': DEMO_ARN,
          'eks-cluster-name': 'demo',
          'eks-region': 'us-west-2',
        },
      },
    ],
  });
  t.same(
    (byName(out.clusters, STAGING_ARN)!.cluster.extensions as Array<{ extension: Record<string, string> }>)[0].extension,
    {
      'upstream-server': STAGING_SERVER,
      'upstream-cluster': STAGING_ARN,
      'upstream-user': STAGING_ARN,
      'eks-cluster-name': 'staging',
      'eks-region': 'eu-central-1',
    },
    'region from the ARN when the plugin has no --region',
  );
  t.same(byName(out.users, DEMO_ARN)!.user, { token: TOKEN });
  t.same(byName(out.users, STAGING_ARN)!.user, { token: TOKEN }, 'the aws exec stanza is gone');
  t.equal(out.clusters.length, 2);
  t.equal(out.users.length, 2);

  const file = writeFile('eks/out', yaml);
  const current = await kubectlGetPods(file);
  t.same(
    current.pods.map((p) => p.metadata.name),
    ['pod-in-default'],
  );
  t.ok(current.requests.length >= 2, 'kubectl reached the proxy');
  t.ok(
    current.requests.every((r) => r.authorization === `Bearer ${TOKEN}` || r.path === '/version'),
    'with the kubetape token',
  );
  t.ok(current.requests.some((r) => r.path === '/api/v1/namespaces/default/pods' && r.authorization === `Bearer ${TOKEN}`));
  const staging = await kubectlGetPods(file, 'staging');
  t.same(
    staging.pods.map((p) => p.metadata.name),
    ['pod-in-team-a'],
    'the context namespace is kept',
  );
  t.ok(staging.requests.some((r) => r.path === '/api/v1/namespaces/team-a/pods' && r.authorization === `Bearer ${TOKEN}`));
});

t.test('a generic kubeconfig: shared entries are copied, other contexts and comments untouched', async (t) => {
  const before = parse(GENERIC_KUBECONFIG) as Parsed;
  const { yaml, rewritten } = rewriteKubeconfig(GENERIC_KUBECONFIG, { ...rewriteOpts, source: 'generic-config' });
  t.same(
    rewritten.map((r) => [r.context, r.template, r.cluster, r.user, r.upstreamServer]),
    [['dev', 'generic', 'kubetape/dev-cluster', 'kubetape/dev-admin', 'https://dev.example.com:6443']],
    'current-context by default',
  );
  t.match(yaml, /^# my clusters\n/, 'comments survive');
  t.match(yaml, /server: https:\/\/dev.example.com:6443 # the dev API/);
  const out = parse(yaml) as Parsed;
  t.same(byName(out.contexts, 'dev')!.context, { cluster: 'kubetape/dev-cluster', user: 'kubetape/dev-admin', namespace: 'web' });
  for (const name of ['dev-readonly', 'prod']) t.same(byName(out.contexts, name), byName(before.contexts, name), `context ${name} untouched`);
  for (const name of ['dev-cluster', 'prod-cluster']) t.same(byName(out.clusters, name), byName(before.clusters, name), `cluster ${name} untouched`);
  for (const name of ['dev-admin', 'dev-viewer']) t.same(byName(out.users, name), byName(before.users, name), `user ${name} untouched`);
  t.same(byName(out.clusters, 'kubetape/dev-cluster')!.cluster, {
    server: PROXY,
    'certificate-authority-data': b64(proxyTls.ca.cert),
    extensions: [
      { name: 'kubetape', extension: { 'upstream-server': 'https://dev.example.com:6443', 'upstream-cluster': 'dev-cluster', 'upstream-user': 'dev-admin' } },
    ],
  });
  t.same(byName(out.users, 'kubetape/dev-admin')!.user, { token: TOKEN });

  const file = writeFile('generic/out', yaml);
  const dev = await kubectlGetPods(file);
  t.same(
    dev.pods.map((p) => p.metadata.name),
    ['pod-in-web'],
  );
  t.ok(dev.requests.some((r) => r.path === '/api/v1/namespaces/web/pods' && r.authorization === `Bearer ${TOKEN}`));

  // Choosing every context that uses dev-admin replaces it in place; dev-cluster is still shared with dev-readonly.
  const both = parse(rewriteKubeconfig(GENERIC_KUBECONFIG, { ...rewriteOpts, contexts: ['dev', 'prod'] }).yaml) as Parsed;
  t.same(byName(both.contexts, 'prod')!.context, { cluster: 'prod-cluster', user: 'dev-admin' });
  t.same(byName(both.users, 'dev-admin')!.user, { token: TOKEN });
  t.equal(byName(both.clusters, 'prod-cluster')!.cluster.server, PROXY);
  t.equal(byName(both.clusters, 'dev-cluster')!.cluster.server, 'https://dev.example.com:6443');
  t.equal(byName(both.clusters, 'kubetape/dev-cluster')!.cluster.server, PROXY);
  t.equal(byName(both.users, 'kubetape/dev-admin'), undefined);
});

t.test('rewriting twice keeps the real upstream', async (t) => {
  const once = rewriteKubeconfig(EKS_KUBECONFIG, { ...rewriteOpts, all: true }).yaml;
  const twice = rewriteKubeconfig(once, { ...rewriteOpts, proxyServer: 'https://kubetape.internal:9443', all: true });
  t.same(
    twice.rewritten.map((r) => [r.template, r.upstreamServer]),
    [
      ['eks', DEMO_SERVER],
      ['eks', STAGING_SERVER],
    ],
  );
  const out = parse(twice.yaml) as Parsed;
  const demo = byName(out.clusters, DEMO_ARN)!.cluster;
  t.equal(demo.server, 'https://kubetape.internal:9443');
  t.same((demo.extensions as Array<{ extension: unknown }>)[0].extension, {
    'upstream-server': DEMO_SERVER,
    'upstream-cluster': DEMO_ARN,
    'upstream-user': DEMO_ARN,
    'eks-cluster-name': 'demo',
    'eks-region': 'us-west-2',
  });
});

t.test('buildProxyKubeconfig writes a complete kubeconfig kubectl accepts', async (t) => {
  const yaml = buildProxyKubeconfig({ server: PROXY, caPem: proxyTls.ca.cert, token: TOKEN, namespace: 'ops' });
  const cfg = parse(yaml) as Parsed;
  t.equal(cfg['current-context'], 'kubetape');
  t.same(cfg.contexts, [{ name: 'kubetape', context: { cluster: 'kubetape', user: 'kubetape', namespace: 'ops' } }]);
  t.same(cfg.clusters, [{ name: 'kubetape', cluster: { server: PROXY, 'certificate-authority-data': b64(proxyTls.ca.cert) } }], 'no upstream: no extension');
  t.same(cfg.users, [{ name: 'kubetape', user: { token: TOKEN } }]);
  const { pods, requests } = await kubectlGetPods(writeFile('proxy/kubeconfig', yaml));
  t.same(
    pods.map((p) => p.metadata.name),
    ['pod-in-ops'],
  );
  t.ok(requests.some((r) => r.path === '/api/v1/namespaces/ops/pods' && r.authorization === `Bearer ${TOKEN}`));

  const named = parse(
    buildProxyKubeconfig({
      server: PROXY,
      caPem: proxyTls.ca.cert,
      token: TOKEN,
      contextName: 'prod',
      clusterName: 'prod-c',
      userName: 'me',
      upstreamServer: 'https://10.0.0.1',
    }),
  ) as Parsed;
  t.same(named.contexts, [{ name: 'prod', context: { cluster: 'prod-c', user: 'me' } }]);
  t.same(named.clusters[0].cluster.extensions, [{ name: 'kubetape', extension: { 'upstream-server': 'https://10.0.0.1' } }]);
  t.throws(() => buildProxyKubeconfig({ server: 'http://127.0.0.1:8080', caPem: proxyTls.ca.cert, token: TOKEN }), { message: /must be https:\/\// });
});

// --- the command --------------------------------------------------------------------------------------
function dataDir(name: string, tokensCsv = `# kubetape local tokens\n${TOKEN},alice,,"dev,ops"\nsecond-token,bob\n`): string {
  const dir = join(tmp, name);
  writeFile(`${name}/ca.crt`, proxyTls.ca.cert, 0o644);
  writeFile(`${name}/tokens.csv`, tokensCsv);
  return dir;
}

function capture(env: NodeJS.ProcessEnv = {}, home = join(tmp, 'nohome')): RewriteIo & { out: string; err: string } {
  const io = {
    env,
    home,
    out: '',
    err: '',
    stdout: { write: (s: string) => (io.out += s) },
    stderr: { write: (s: string) => (io.err += s) },
    now: () => new Date('2024-05-06T07:08:09.123Z'),
  };
  return io;
}

/** Run `kubetape kubeconfig rewrite ...args` through commander, as main will. */
async function cli(args: string[]): Promise<CliError | undefined> {
  const program = new Command('kubetape').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerKubeconfigCommand(program);
  try {
    await program.parseAsync(['node', 'kubetape', 'kubeconfig', 'rewrite', ...args]);
    return undefined;
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
}

t.test('defaults: first $KUBECONFIG file, DATA/ca.crt, first token of DATA/tokens.csv, stdout', async (t) => {
  const data = dataDir('data-defaults');
  const first = writeFile('defaults/first', EKS_KUBECONFIG);
  const io = capture({ KUBECONFIG: `${first}:${join(tmp, 'defaults/second')}` });
  runKubeconfigRewrite({ dataDir: data, context: ['staging'], proxy: PROXY }, io);
  const out = parse(io.out) as Parsed;
  t.same(byName(out.users, STAGING_ARN)!.user, { token: TOKEN });
  t.equal(byName(out.clusters, STAGING_ARN)!.cluster['certificate-authority-data'], b64(proxyTls.ca.cert));
  t.equal(byName(out.clusters, DEMO_ARN)!.cluster.server, DEMO_SERVER, 'the unchosen context keeps its cluster');
  t.equal(io.err, '');
  t.equal(readFileSync(first, 'utf8'), EKS_KUBECONFIG, 'the input is not touched');

  const home = join(tmp, 'home-default');
  writeFile('home-default/.kube/config', GENERIC_KUBECONFIG);
  const io2 = capture({}, home);
  runKubeconfigRewrite({ dataDir: data, proxy: PROXY }, io2);
  t.match(io2.out, /kubetape\/dev-cluster/, '~/.kube/config when $KUBECONFIG is unset');
});

t.test('--in-place keeps a backup and replaces the file atomically', async (t) => {
  const data = dataDir('data-inplace');
  const file = writeFile('inplace/config', EKS_KUBECONFIG, 0o644);
  const io = capture();
  runKubeconfigRewrite({ kubeconfig: file, dataDir: data, all: true, inPlace: true, proxy: PROXY }, io);
  const backup = `${file}.kubetape-backup-20240506T070809Z`;
  t.equal(readFileSync(backup, 'utf8'), EKS_KUBECONFIG, 'backup holds the original');
  t.equal(statSync(backup).mode & 0o777, 0o600);
  t.equal(statSync(file).mode & 0o777, 0o600, 'the kubeconfig holds a token now: 0600');
  t.same(readdirSync(join(tmp, 'inplace')).sort(), ['config', 'config.kubetape-backup-20240506T070809Z'], 'no temporary files left');
  t.equal(io.err, `kubetape: rewrote ${DEMO_ARN}, staging in ${file} (backup: ${backup})\n`);
  t.equal(io.out, '');
  const { pods } = await kubectlGetPods(file, 'staging');
  t.same(
    pods.map((p) => p.metadata.name),
    ['pod-in-team-a'],
  );

  runKubeconfigRewrite({ kubeconfig: file, dataDir: data, all: true, inPlace: true, proxy: PROXY }, capture());
  t.ok(
    readdirSync(join(tmp, 'inplace')).includes('config.kubetape-backup-20240506T070809Z-2'),
    'a second backup in the same second does not overwrite the first',
  );
  t.equal(readFileSync(backup, 'utf8'), EKS_KUBECONFIG);
});

t.test('the commander command writes --out with mode 0600', async (t) => {
  const data = dataDir('data-cli');
  const input = writeFile('cli/config', GENERIC_KUBECONFIG);
  const out = writeFile('cli/out', 'old content\n', 0o644);
  chmodSync(out, 0o644);
  const err = await cli(['--kubeconfig', input, '--data-dir', data, '--context', 'prod', '--context', 'dev', '--proxy', PROXY, '--out', out]);
  t.equal(err, undefined);
  t.equal(statSync(out).mode & 0o777, 0o600);
  const cfg = parse(readFileSync(out, 'utf8')) as Parsed;
  t.same(byName(cfg.contexts, 'prod')!.context, { cluster: 'prod-cluster', user: 'dev-admin' });
  t.equal(byName(cfg.clusters, 'prod-cluster')!.cluster.server, PROXY);
  t.equal(readFileSync(input, 'utf8'), GENERIC_KUBECONFIG);
  const { pods } = await kubectlGetPods(out, 'prod');
  t.same(
    pods.map((p) => p.metadata.name),
    ['pod-in-default'],
  );

  const tokenFlag = writeFile('cli/out2', '');
  t.equal(
    await cli([
      '--kubeconfig',
      input,
      '--ca',
      join(data, 'ca.crt'),
      '--token',
      'explicit-token',
      '--proxy',
      PROXY,
      '--out',
      tokenFlag,
      '--data-dir',
      join(tmp, 'empty'),
    ]),
    undefined,
  );
  t.same(byName((parse(readFileSync(tokenFlag, 'utf8')) as Parsed).users, 'kubetape/dev-admin')!.user, { token: 'explicit-token' });
});

t.test('nonsense is refused with one plain line and exit code 1', async (t) => {
  const data = dataDir('data-refuse');
  const input = writeFile('refuse/config', GENERIC_KUBECONFIG);
  const empty = writeFile('refuse/empty', 'apiVersion: v1\nkind: Config\nclusters: []\n');
  const noCurrent = writeFile('refuse/nocurrent', GENERIC_KUBECONFIG.replace('current-context: dev\n', ''));
  const base = ['--kubeconfig', input, '--data-dir', data, '--proxy', PROXY];
  const cases: Array<[string, string[], string | RegExp]> = [
    ['unknown context', [...base, '--context', 'nope'], `no context "nope" in ${input} (contexts: "dev", "dev-readonly", "prod")`],
    ['--all with --context', [...base, '--all', '--context', 'dev'], '--all and --context cannot be used together'],
    ['no contexts', ['--kubeconfig', empty, '--data-dir', data, '--proxy', PROXY], `${empty} has no contexts to rewrite`],
    [
      'no current-context',
      ['--kubeconfig', noCurrent, '--data-dir', data, '--proxy', PROXY],
      `${noCurrent} has no current-context; name contexts with --context or use --all`,
    ],
    [
      'http proxy',
      [...base, '--proxy', 'http://127.0.0.1:8080'],
      'proxy URL "http://127.0.0.1:8080" must be https:// (kubectl sends no credentials over http)',
    ],
    ['output over input', [...base, '--out', input], `--out ${input} is the input kubeconfig; use --in-place to replace it (a backup is kept)`],
    ['--out with --in-place', [...base, '--out', join(tmp, 'x'), '--in-place'], '--out and --in-place cannot be used together'],
    ['missing kubeconfig', ['--kubeconfig', join(tmp, 'absent'), '--data-dir', data, '--proxy', PROXY], `kubeconfig ${join(tmp, 'absent')} not found`],
    [
      'no token file',
      ['--kubeconfig', input, '--data-dir', join(tmp, 'nodata'), '--ca', join(data, 'ca.crt'), '--proxy', PROXY],
      /^token file .*nodata\/tokens.csv not found \(start `kubetape serve` once to create it, or pass --token\)$/,
    ],
    ['no CA', ['--kubeconfig', input, '--data-dir', join(tmp, 'nodata'), '--proxy', PROXY], /^CA file .*nodata\/ca.crt not found/],
    [
      'empty token file',
      ['--kubeconfig', input, '--data-dir', dataDir('data-notokens', '# nothing yet\n'), '--proxy', PROXY],
      /tokens.csv holds no tokens; add one or pass --token$/,
    ],
    ['not a kubeconfig', ['--kubeconfig', writeFile('refuse/list', '- 1\n'), '--data-dir', data, '--proxy', PROXY], /refuse\/list: not a kubeconfig/],
  ];
  for (const [what, args, message] of cases) {
    const err = await cli(args);
    t.ok(err instanceof CliError, `${what}: refused`);
    t.equal(err?.exitCode, 1, `${what}: exit code 1`);
    if (typeof message === 'string') t.equal(err?.message, message, what);
    else t.match(err?.message, message, what);
    t.notMatch(err?.message ?? '', /\n/, `${what}: one line`);
  }
  t.equal(readFileSync(input, 'utf8'), GENERIC_KUBECONFIG, 'the input is never touched by a refusal');
  t.same(readdirSync(join(tmp, 'refuse')).sort(), ['config', 'empty', 'list', 'nocurrent']);
});

t.test('the kubetape binary (compiled): stdout on success, `kubetape: <one line>` and exit 1 on refusal', async (t) => {
  const BIN = join(ROOT, 'bin', 'kubetape.js');
  const data = dataDir('data-bin');
  const input = writeFile('bin/config', EKS_KUBECONFIG);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(tmp, 'bin-home') };
  const ok = await run(process.execPath, [BIN, 'kubeconfig', 'rewrite', '--kubeconfig', input, '--data-dir', data, '--proxy', PROXY], { env, timeout: 30_000 });
  t.equal(ok.stderr, '');
  const cfg = parse(ok.stdout) as Parsed;
  t.equal(byName(cfg.clusters, DEMO_ARN)!.cluster.server, PROXY, 'the current-context is rewritten');
  t.equal(byName(cfg.clusters, STAGING_ARN)!.cluster.server, STAGING_SERVER, 'the other one is not');

  const refused = await run(process.execPath, [BIN, 'kubeconfig', 'rewrite', '--kubeconfig', input, '--data-dir', data, '--context', 'prod'], {
    env,
    timeout: 30_000,
  }).then(
    () => ({ code: 0, stdout: '', stderr: '' }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  t.equal(refused.code, 1);
  t.equal(refused.stdout, '');
  t.equal(refused.stderr, `kubetape: no context "prod" in ${input} (contexts: "${DEMO_ARN}", "staging")\n`);
});
