// The README's flow, as a user runs it: `kubetape serve` as a process, kubectl
// with the kubeconfig serve wrote, then `kubetape sessions list|show`.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer } from './fake-apiserver/index.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { BIN, cli } from './helpers/built-cli.js';

t.test('--help lists every command', async (t) => {
  const r = await cli(['--help']);
  t.equal(r.code, 0);
  for (const c of ['serve', 'sessions', 'kubeconfig']) t.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'));
  const s = await cli(['sessions', '--help']);
  t.match(s.stdout, /list/);
  t.match(s.stdout, /show/);
});

t.test('bad input gets one plain line, not a stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let r = await cli(['sessions', 'show', 'NOPE', '--data-dir', dir]);
  t.equal(r.code, 1);
  t.equal(r.stderr.trim().split('\n').length, 1);
  t.match(r.stderr, /^kubetape: no session "NOPE"/);
  r = await cli(['sessions', 'list', '--since', 'yesterday-ish', '--data-dir', dir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /--since wants a duration/);
  r = await cli(['serve', '--kubeconfig', join(dir, 'missing'), '--data-dir', dir, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0']);
  t.equal(r.code, 1);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  t.match(r.stderr, /^kubetape: /);
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'listen: 127.0.0.1:0\nrecording:\n  failmode: open\n');
  r = await cli(['serve', '--config', cfg]);
  t.equal(r.code, 1);
  t.match(r.stderr, /unknown key "recording.failmode"/);
});

t.test('serve, kubectl, sessions list and show, as in the README', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cli-'));
  const api = await startFakeApiServer();
  t.teardown(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const upstream = writeKubeconfig(dir, { server: api.url, ca: api.ca, token: 'admin-token', name: 'dev-cluster', namespace: 'default' });
  const data = join(dir, 'data');
  const cfg = join(dir, 'kubetape.yaml');
  writeFileSync(cfg, `kubeconfig: ${upstream}\ndataDir: ${data}\nlisten: 127.0.0.1:0\nadminListen: 127.0.0.1:0\nrecording:\n  sessionIdleSeconds: 1\n`);
  const serve = spawn(process.execPath, [BIN, 'serve', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (serve.exitCode === null) serve.kill('SIGKILL');
  });
  let out = '';
  serve.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 15_000);
    serve.stdout.on('data', (c: string) => {
      out += c;
      if (/export KUBECONFIG=/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    serve.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  t.match(out, /listening on\s+https:\/\/127\.0\.0\.1:\d+/);
  const kubeconfig = join(data, 'kubeconfig');
  t.equal(statSync(kubeconfig).mode & 0o777, 0o600, 'the kubeconfig holds a token: 0600');
  t.equal(statSync(join(data, 'ca.key')).mode & 0o777, 0o600);
  t.ok(existsSync(join(data, 'ca.crt')));

  const r = await kubectl(['get', 'namespaces'], { kubeconfig });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /kube-system/);

  const list = await cli(['sessions', 'list', '--json', '--data-dir', data]);
  t.equal(list.code, 0, list.stderr);
  const sessions = JSON.parse(list.stdout) as Array<{ id: string; user: string; cluster: string; startedAt: string; command: string; state: string }>;
  const s = sessions.find((x) => x.command === 'kubectl get');
  t.ok(s, 'the kubectl get session is listed');
  t.equal(s!.cluster, 'dev-cluster');
  t.ok(s!.user.length > 0);
  t.ok(!Number.isNaN(Date.parse(s!.startedAt)));

  const table = await cli(['sessions', 'list', '--data-dir', data]);
  t.match(table.stdout, /^ID\s+STARTED\s+USER\s+CLUSTER\s+COMMAND\s+REQUESTS\s+STATE/);
  t.match(table.stdout, new RegExp(s!.id));
  const filtered = await cli(['sessions', 'list', '--json', '--verb', 'list', '--namespace', 'kube-system', '--data-dir', data]);
  t.same(JSON.parse(filtered.stdout), [], 'no session listed anything in kube-system');
  const byVerb = JSON.parse((await cli(['sessions', 'list', '--json', '--verb', 'list', '--since', '1h', '--data-dir', data])).stdout) as Array<{ id: string }>;
  t.ok(byVerb.some((x) => x.id === s!.id));

  const show = await cli(['sessions', 'show', s!.id.slice(0, 12), '--data-dir', data]);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, /Cluster\s+dev-cluster/);
  t.match(show.stdout, /200\s+list namespaces/);
  const json = JSON.parse((await cli(['sessions', 'show', s!.id, '--json', '--data-dir', data])).stdout) as {
    events: Array<{ type: string; body?: { data: string } }>;
  };
  t.ok(
    json.events.some((e) => e.type === 'response' && e.body && e.body.data.includes('kube-system')),
    '--json includes response bodies',
  );

  // SIGTERM closes the open sessions; they read as ended afterwards.
  serve.kill('SIGTERM');
  await new Promise((resolve) => serve.once('exit', resolve));
  const after = JSON.parse((await cli(['sessions', 'list', '--json', '--data-dir', data])).stdout) as Array<{ id: string; state: string }>;
  t.ok(
    after.every((x) => x.state === 'ended'),
    'every session ended cleanly',
  );
  t.match(readFileSync(join(data, 'recordings', 'index.ndjson'), 'utf8'), /"kind":"end"/);
});

t.test('policy check and explain answer as the data path would', async (t) => {
  const ok = await cli(['policy', 'check', 'examples/policy.yaml']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /examples\/policy\.yaml: OK: 10 rules \(5 deny, 3 require-approval, 1 allow, 1 mask\); 4 mask patterns/);

  const dir = mkdtempSync(join(tmpdir(), 'kubetape-policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'rules:\n  - match: {verb: delete}\n    action: maybe\n');
  const broken = await cli(['policy', 'check', bad]);
  t.equal(broken.code, 1);
  t.equal(broken.stderr, `kubetape: ${bad}:3: action must be one of deny, allow, mask, require-approval, got "maybe"\n`, 'one line naming the line');

  const del = [
    'policy',
    'explain',
    'examples/policy.yaml',
    '--group',
    'dev',
    '--verb',
    'delete',
    '--resource',
    'pods',
    '--namespace',
    'prod',
    '--name',
    'db-0',
  ];
  const prot = await cli([...del, '--labels', 'protected=true', '--json']);
  t.same(JSON.parse(prot.stdout), {
    action: 'deny',
    rule: 'protected-pods',
    index: 3,
    line: 32,
    message: 'this pod is protected; change it through the GitOps repository',
  });
  const plain = await cli([...del, '--labels', 'app=db']);
  t.match(
    plain.stdout,
    /^require-approval by rule 5 "prod-delete-needs-approval" \(examples\/policy\.yaml:\d+\)\n {2}message: delete in prod\n {2}approvers: sre; longest grant 60m\n$/,
  );
  const unknown = await cli(del);
  t.match(unknown.stdout, /labels unknown/, 'unknown labels are said to decide the match');
  const none = await cli(['policy', 'explain', 'examples/policy.yaml', '--verb', 'list', '--resource', 'pods']);
  t.equal(none.stdout, "allow: no rule matches; the cluster's RBAC decides\n");
  const misuse = await cli(['policy', 'explain', 'examples/policy.yaml', '--command', 'ls']);
  t.equal(misuse.code, 1);
  t.match(misuse.stderr, /^kubetape: --command, --container, --tty and --stdin describe exec or attach/);
});
