// Loading, validating and reloading a policy: errors name the line, a
// broken edit leaves the previous policy in force, and a good edit takes
// effect without a restart (checked with kubectl).
import t from 'tap';
import { writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startHarness } from './helpers/harness.js';
import { kubectl } from './helpers/kubectl.js';
import { parsePolicyText, loadPolicyFile } from '../src/authorize/policy/load.js';
import { evaluatePolicy } from '../src/authorize/policy/evaluate.js';
import { readConfigFile, resolveConfig, ConfigError } from '../src/config/config.js';
import { startKubetape } from '../src/listen/start.js';
import type { PolicyRequest } from '../src/authorize/policy/types.js';

const threw = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

const req = (o: Partial<PolicyRequest>): PolicyRequest => ({
  cluster: 'c',
  user: 'u',
  groups: [],
  verb: 'get',
  apiGroup: '',
  resource: 'pods',
  subresource: '',
  namespace: 'default',
  name: 'p',
  ...o,
});

t.test('the example policy loads and decides as the README says', async (t) => {
  const p = loadPolicyFile(resolve('examples/policy.yaml'));
  t.equal(p.rules.length, 10);
  t.equal(
    evaluatePolicy(p, req({ resource: 'nodes', subresource: 'proxy', namespace: '', name: 'ip-10-0-0-1', groups: ['sre'] })).rule?.name,
    'no-node-proxy',
    'nodes/proxy is refused, sre too',
  );
  const pod = { verb: 'delete', resource: 'pods', namespace: 'prod', name: 'db-0' };
  t.equal(
    evaluatePolicy(p, req({ ...pod, labels: { current: { protected: 'true' } } })).rule?.name,
    'protected-pods',
    'a protected pod is refused even where approval would let a delete through',
  );
  t.equal(evaluatePolicy(p, req({ ...pod, labels: { current: { app: 'db' } } })).rule?.name, 'prod-delete-needs-approval');
  t.equal(evaluatePolicy(p, req({ ...pod, namespace: 'dev', labels: { current: {} } })).rule, undefined);
  t.equal(evaluatePolicy(p, req({ verb: 'delete', resource: 'namespaces', namespace: '', name: 'x' })).rule?.name, 'no-namespace-deletion');
  t.equal(evaluatePolicy(p, req({ resource: 'secrets', groups: ['sre'] })).action, 'allow');
  t.equal(evaluatePolicy(p, req({ resource: 'secrets', groups: ['dev'] })).action, 'mask');
  t.equal(
    evaluatePolicy(p, req({ verb: 'delete', resource: 'secrets', namespace: 'prod', groups: ['sre'] })).action,
    'require-approval',
    'delete in prod is checked before the sre exemption',
  );
  t.equal(evaluatePolicy(p, req({ verb: 'list' })).rule, undefined, 'no rule: allowed, RBAC decides');
  t.same(
    p.patterns.map((x) => x.name),
    ['aws-access-key-id', 'private-key', 'bearer-token', 'jwt'],
  );
});

t.test('the example policy leaves no way around its pod rules: deletecollection, eviction, kubectl debug', async (t) => {
  const p = loadPolicyFile(resolve('examples/policy.yaml'));
  const decide = (o: Partial<PolicyRequest>) => evaluatePolicy(p, req(o)).rule?.name;
  const guarded = { current: { protected: 'true' } };
  // A protected pod, anywhere: every way of deleting or changing it.
  t.equal(decide({ verb: 'delete', namespace: 'dev', labels: guarded }), 'protected-pods');
  t.equal(
    decide({ verb: 'deletecollection', namespace: 'dev', name: '', labelSelector: '' }),
    'protected-pods',
    'kubectl delete pods --all could take a protected pod along',
  );
  t.equal(
    decide({ verb: 'deletecollection', namespace: 'dev', name: '', labelSelector: 'app=web' }),
    'protected-pods',
    'a selector that does not rule protected pods out',
  );
  t.equal(
    decide({ verb: 'deletecollection', namespace: 'dev', name: '', labelSelector: 'protected!=true' }),
    undefined,
    'a selector that leaves protected pods out goes through',
  );
  t.equal(decide({ verb: 'create', subresource: 'eviction', namespace: 'dev', labels: guarded }), 'protected-pods-eviction', 'evicting is deleting');
  t.equal(
    decide({ verb: 'create', subresource: 'eviction', namespace: 'prod', labels: guarded }),
    'protected-pods-eviction',
    'deny, not approval, for a protected pod in prod',
  );
  t.equal(decide({ verb: 'patch', subresource: 'ephemeralcontainers', namespace: 'dev', labels: guarded }), 'protected-pods', 'kubectl debug changes the pod');
  t.equal(decide({ verb: 'patch', subresource: 'status', namespace: 'dev', labels: guarded }), 'protected-pods');
  // Prod: deletions and shells need approval, by whichever verb.
  const prod = { namespace: 'prod', labels: { current: { app: 'web' } } };
  t.equal(decide({ ...prod, verb: 'delete' }), 'prod-delete-needs-approval');
  t.equal(decide({ verb: 'deletecollection', namespace: 'prod', name: '', labelSelector: 'protected!=true' }), 'prod-delete-needs-approval');
  t.equal(decide({ ...prod, verb: 'create', subresource: 'eviction' }), 'prod-eviction-needs-approval', 'kubectl drain in prod');
  t.equal(decide({ ...prod, verb: 'create', subresource: 'exec', exec: { command: ['sh'], tty: true, stdin: true } }), 'prod-exec-needs-approval');
  t.equal(decide({ ...prod, verb: 'create', subresource: 'attach', exec: { command: [], tty: true, stdin: true } }), 'prod-exec-needs-approval');
  t.equal(
    decide({ ...prod, verb: 'patch', subresource: 'ephemeralcontainers' }),
    'prod-exec-needs-approval',
    'kubectl debug runs a command in the pod without exec',
  );
  // Outside prod and without the label, none of it is kubetape's business.
  t.equal(decide({ verb: 'create', subresource: 'eviction', namespace: 'dev', labels: { current: { app: 'web' } } }), undefined);
});

t.test('priority overrides file order; exec fields match commands', async (t) => {
  const p = parsePolicyText(
    [
      'rules:',
      '  - name: no-shells',
      '    match: {subresource: exec, command: [{regex: "^(ba)?sh( |$)"}, {prefix: "python"}], tty: true}',
      '    action: deny',
      '    message: no interactive shells',
      '  - name: oncall-may',
      '    priority: 10',
      '    match: {group: oncall, subresource: exec}',
      '    action: allow',
    ].join('\n'),
    'p.yaml',
  );
  const exec = (command: string[], groups: string[] = [], tty = true) =>
    evaluatePolicy(p, req({ verb: 'create', subresource: 'exec', groups, exec: { command, tty, stdin: true } }));
  t.equal(exec(['sh']).action, 'deny');
  t.equal(exec(['bash', '-l']).action, 'deny');
  t.equal(exec(['python3']).action, 'deny');
  t.equal(exec(['ls']).action, 'allow');
  t.equal(exec(['sh'], [], false).action, 'allow', 'tty must match too');
  t.equal(exec(['sh'], ['oncall']).rule?.name, 'oncall-may', 'the higher priority rule is checked first');
  t.equal(evaluatePolicy(p, req({ verb: 'get' })).action, 'allow', 'exec fields never match a non-exec request');
});

t.test('validation errors name the line', async (t) => {
  const bad = (text: string) => () => parsePolicyText(text, 'policy.yaml');
  t.throws(
    bad('rules:\n  - match: {verb: delete}\n    action: destroy\n'),
    /^policy\.yaml:3: action must be one of deny, allow, mask, require-approval, got "destroy"/,
  );
  t.throws(
    bad('rules:\n  - match: {verb: delete}\n    action: allow\n  - match:\n      verbs: delete\n    action: allow\n'),
    /^policy\.yaml:5: unknown match field "verbs"/,
  );
  t.throws(bad('rules:\n  - match: {resource: pods}\n    action: deny\n'), /^policy\.yaml:2: a deny rule needs a "message"/);
  t.throws(bad('masking:\n  patterns:\n    - aws\n'), /^policy\.yaml:3: unknown built-in pattern "aws"/);
  t.throws(bad('masking:\n  patterns:\n    - {name: x, regex: "("}\n'), /^policy\.yaml:3: invalid regex/);
  t.throws(bad('rules:\n  - match: {verb: [delete\n'), /^policy\.yaml:\d+: /, 'YAML syntax errors too');
});

t.test('config: policy inline and policyFile; both is an error; bad inline names the path', async (t) => {
  const dir = t.testdir({
    'a.yaml': 'policy:\n  rules:\n    - {match: {resource: secrets}, action: mask}\n',
    'b.yaml': 'policyFile: p.yaml\n',
    'c.yaml': 'policy:\n  rules:\n    - {match: {resource: secrets}, action: hide}\n',
  });
  t.equal(readConfigFile(join(dir, 'a.yaml')).policy?.rules[0]?.action, 'mask');
  t.equal(readConfigFile(join(dir, 'b.yaml')).policyFile, join(dir, 'p.yaml'), 'relative to the config file');
  t.ok(threw(() => readConfigFile(join(dir, 'c.yaml'))) instanceof ConfigError, 'a ConfigError (serve prints it without a stack)');
  t.throws(() => readConfigFile(join(dir, 'c.yaml')), /policy\.rules\[0\]\.action: action must be one of/);
});

t.test('kubetape reloads the policy file; a broken edit keeps the old policy in force', async (t) => {
  const logs: string[] = [];
  const dir = t.testdir({ 'policy.yaml': 'rules: []\n' });
  const file = join(dir, 'policy.yaml');
  const h = await startHarness({ config: { policyFile: file }, start: { log: (l) => logs.push(l), policyPollMs: 100 } });
  t.teardown(() => h.close());
  h.api.objects.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: 'b' } });
  const get = () => kubectl(['get', 'configmap', 'cfg', '-o', 'name'], { kubeconfig: h.kubeconfig });
  t.equal((await get()).code, 0, 'allowed with an empty policy');

  const waitGen = async (gen: number) => {
    const deadline = Date.now() + 5000;
    while (h.kt.policy!.generation < gen) {
      if (Date.now() > deadline) throw new Error('the policy was not reloaded');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  writeFileSync(file, 'rules:\n  - name: no-configmaps\n    match: {resource: configmaps}\n    action: deny\n    message: configmaps are frozen today\n');
  await waitGen(2);
  const denied = await get();
  t.equal(denied.code, 1);
  t.match(
    denied.stderr,
    'Error from server (Forbidden): configmaps are frozen today (kubetape policy rule "no-configmaps")',
    'the new rule holds without a restart',
  );

  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good + '  - match: {resource: pods}\n    action: maybe\n');
  const deadline = Date.now() + 5000;
  while (!h.kt.policy!.lastError && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.match(h.kt.policy!.lastError, /policy\.yaml:7: action must be one of/, 'the error names the line');
  t.ok(
    logs.some((l) => /policy NOT reloaded, the previous policy stays in force: .*policy\.yaml:7/.test(l)),
    'and is logged',
  );
  const still = await get();
  t.match(still.stderr, /configmaps are frozen today/, 'the previous policy is still in force');

  writeFileSync(file, 'rules: []\n');
  await waitGen(3);
  t.equal((await get()).code, 0, 'a good edit replaces it');
});

t.test('a broken policy file stops startup with the line named', async (t) => {
  const dir = t.testdir({ 'policy.yaml': 'rules:\n  - match: {resource: pods}\n    action: deny\n' });
  // The policy is read before anything listens, so nothing is left open.
  const config = resolveConfig({}, { listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', dataDir: join(dir, 'data'), policyFile: join(dir, 'policy.yaml') });
  await t.rejects(startKubetape(config, { log: () => undefined }), /policy\.yaml:2: a deny rule needs a "message"/);
});

t.test('approvals.webhookFromEnv: the URL comes from the environment, checked at load', async (t) => {
  const VAR = 'KUBETAPE_TEST_APPROVALS_WEBHOOK';
  const saved = process.env[VAR];
  t.teardown(() => {
    if (saved === undefined) delete process.env[VAR];
    else process.env[VAR] = saved;
  });
  const text = `rules: []\napprovals:\n  webhookFromEnv: ${VAR}\n`;
  const url = 'https://hooks.slack.com/services/T000/B000/SECRETPATH';

  process.env[VAR] = url;
  const p = parsePolicyText(text, 'p.yaml');
  t.same(p.approvals, { webhook: url, webhookFromEnv: VAR }, 'the URL is read, and where it came from is kept');

  delete process.env[VAR];
  t.throws(
    () => parsePolicyText(text, 'p.yaml'),
    /^p\.yaml:3: webhookFromEnv: the environment variable KUBETAPE_TEST_APPROVALS_WEBHOOK is not set$/,
    'unset: refused, naming the line',
  );

  process.env[VAR] = 'hooks.slack.com/services/T000/B000/SECRETPATH';
  const notUrl = threw(() => parsePolicyText(text, 'p.yaml')) as Error;
  t.match(notUrl?.message, /^p\.yaml:3: webhookFromEnv: the environment variable KUBETAPE_TEST_APPROVALS_WEBHOOK does not hold an http\(s\) URL$/);
  t.notMatch(notUrl?.message, /SECRETPATH/, 'the value is never printed');
  process.env[VAR] = 'ftp://example.com/x';
  t.throws(() => parsePolicyText(text, 'p.yaml'), /does not hold an http\(s\) URL/, 'only http(s)');

  t.throws(() => parsePolicyText('approvals:\n  webhookFromEnv: "not a name"\n', 'p.yaml'), /^p\.yaml:2: webhookFromEnv must be an environment variable name/);
  t.throws(
    () => parsePolicyText(`approvals:\n  webhook: ${url}\n  webhookFromEnv: ${VAR}\n`, 'p.yaml'),
    /^p\.yaml:3: give "webhook" or "webhookFromEnv", not both/,
  );

  // A reload reads the variable again (the holder reloads with loadPolicyFile).
  const dir = t.testdir({ 'policy.yaml': text });
  process.env[VAR] = 'https://hooks.example.com/one';
  t.equal(loadPolicyFile(join(dir, 'policy.yaml')).approvals?.webhook, 'https://hooks.example.com/one');
  process.env[VAR] = 'https://hooks.example.com/two';
  t.equal(loadPolicyFile(join(dir, 'policy.yaml')).approvals?.webhook, 'https://hooks.example.com/two');
  t.throws(() => parsePolicyText('approvals:\n  webhok: x\n', 'p.yaml'), /unknown key "approvals\.webhok" \(expected webhook or webhookFromEnv\)/);
});
