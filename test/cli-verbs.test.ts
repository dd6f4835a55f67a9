// `policy explain --verb` and `sessions list --verb` take only the verbs the
// data path decides and records under (the vocabulary the policy loader
// uses). A typo used to be answered as if it were a real question: "allow:
// no rule matches" or "No sessions recorded match those filters", both wrong
// conclusions. Now it is one plain line and exit 1.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliFromSource } from './helpers/streams.js';

const POLICY = 'examples/policy.yaml';

t.test('unknown verbs and subresources are refused with one line naming the closest one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cli-verbs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const typoPolicy = join(dir, 'typo.yaml');
  writeFileSync(typoPolicy, 'rules:\n  - name: prod-exec\n    match:\n      namespace: prod\n      subresource: [exec, atach]\n    action: require-approval\n');
  const [checkTypo, explainTypo, explainExec, explainSub, explainStar, listTypo, listWord, listEmpty] = await cliFromSource([
    ['policy', 'check', typoPolicy],
    ['policy', 'explain', POLICY, '--verb', 'lsit', '--resource', 'pods'],
    ['policy', 'explain', POLICY, '--verb', 'exec', '--resource', 'pods'],
    ['policy', 'explain', POLICY, '--resource', 'pods', '--subresource', 'evcition'],
    ['policy', 'explain', POLICY, '--verb', '*', '--resource', 'pods'],
    ['sessions', 'list', '--verb', 'delte', '--data-dir', dir],
    ['sessions', 'list', '--verb', 'frobnicate', '--data-dir', dir],
    ['sessions', 'list', '--verb', '', '--data-dir', dir],
  ]);
  const oneLine = (name: string, r: { code: number; stdout: Buffer; stderr: string } | undefined, message: string | RegExp) => {
    t.equal(r?.code, 1, `${name}: exit 1`);
    t.equal(r?.stdout.length, 0, `${name}: nothing on stdout`);
    t.equal(r?.stderr.split('\n').filter(Boolean).length, 1, `${name}: one line`);
    t.match(r?.stderr, message, `${name}: says what is wrong (${r?.stderr.trim()})`);
  };
  oneLine('policy check with a typo', checkTypo, `kubetape: ${typoPolicy}:5: subresource "atach" is not a Kubernetes subresource; did you mean "attach"?\n`);
  oneLine('explain --verb lsit', explainTypo, /^kubetape: --verb "lsit" is not a Kubernetes verb; did you mean "list"\?\n$/);
  oneLine('explain --verb exec', explainExec, /^kubetape: --verb "exec" is not a Kubernetes verb: exec is subresource "exec" of pods/);
  oneLine('explain --subresource evcition', explainSub, /^kubetape: --subresource "evcition" is not a Kubernetes subresource; did you mean "eviction"\?\n$/);
  oneLine('explain --verb *', explainStar, /^kubetape: --verb "\*" is not a Kubernetes verb/);
  oneLine('sessions list --verb delte', listTypo, /^kubetape: --verb "delte" is not a Kubernetes verb; did you mean "delete"\?\n$/);
  oneLine(
    'sessions list --verb frobnicate',
    listWord,
    /^kubetape: --verb "frobnicate" is not a Kubernetes verb \(get, list, watch, create, update, patch, delete, deletecollection\)\n$/,
  );
  oneLine('sessions list --verb ""', listEmpty, /^kubetape: --verb "" is not a Kubernetes verb/);
});

t.test('known verbs still work', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetape-cli-verbs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [explain, evict, list] = await cliFromSource([
    ['policy', 'explain', POLICY, '--verb', 'deletecollection', '--resource', 'pods', '--namespace', 'prod', '--json'],
    [
      'policy',
      'explain',
      POLICY,
      '--verb',
      'create',
      '--resource',
      'pods',
      '--subresource',
      'eviction',
      '--namespace',
      'prod',
      '--name',
      'web-0',
      '--labels',
      'app=web',
      '--json',
    ],
    ['sessions', 'list', '--verb', 'deletecollection', '--data-dir', dir],
  ]);
  t.equal(explain?.code, 0, explain?.stderr);
  t.match(JSON.parse(explain.stdout.toString()), { action: 'deny', rule: 'protected-pods' }, 'deleting every pod could take a protected one along');
  t.equal(evict?.code, 0, evict?.stderr);
  t.match(JSON.parse(evict.stdout.toString()), { action: 'require-approval', rule: 'prod-eviction-needs-approval' });
  t.equal(list?.code, 0, list?.stderr);
  t.equal(list?.stdout.toString(), 'No sessions recorded match those filters.\n');
});
