// A verb or subresource no request carries makes a rule that never matches:
// `verb: [delete, deletcollection]` protects nothing from a deletecollection,
// and nothing says so. The loader refuses such words, naming the line and
// the closest valid word; `*` and "" (the object itself) stay valid.
import t from 'tap';
import { parsePolicyObject, parsePolicyText } from '../src/authorize/policy/load.js';
import { closest, KUBERNETES_SUBRESOURCES, KUBERNETES_VERBS, subresourceProblem, verbProblem } from '../src/authorize/policy/vocabulary.js';

const load = (text: string) => () => parsePolicyText(text, 'policy.yaml');
const rule = (match: string) => `rules:\n  - name: r\n    match: ${match}\n    action: allow\n`;

t.test('typos in verbs are refused with the line and the closest verb', async (t) => {
  t.throws(load(rule('{verb: lsit}')), { message: 'policy.yaml:3: verb "lsit" is not a Kubernetes verb; did you mean "list"?' });
  t.throws(
    load('rules:\n  - name: r\n    match:\n      resource: pods\n      verb:\n        - delete\n        - deletcollection\n    action: allow\n'),
    {
      message: 'policy.yaml:7: verb "deletcollection" is not a Kubernetes verb; did you mean "deletecollection"?',
    },
    'the line of the bad item in a block list',
  );
  t.throws(load(rule('{verb: [get, wacth]}')), { message: /^policy\.yaml:3: verb "wacth" is not a Kubernetes verb; did you mean "watch"\?$/ });
  t.throws(
    load(rule('{verb: Delete}')),
    { message: /verb "Delete" is not a Kubernetes verb; did you mean "delete"\?/ },
    'verbs are lower case, as the API server names them',
  );
  t.throws(load(rule('{verb: frobnicate}')), {
    message: /verb "frobnicate" is not a Kubernetes verb \(get, list, watch, create, update, patch, delete, deletecollection, or "\*" for any\)/,
  });
  t.throws(load(rule("{verb: ''}")), { message: /verb "" is not a Kubernetes verb/ });
});

t.test('words that are not verbs say what to write instead', async (t) => {
  t.throws(load(rule('{verb: exec}')), { message: /verb "exec" is not a Kubernetes verb: exec is subresource "exec" of pods .*verb create/ });
  t.throws(load(rule('{verb: port-forward}')), { message: /subresource "portforward"/ });
  t.throws(load(rule('{verb: evict}')), { message: /verb create on subresource "eviction"/ });
  t.throws(load(rule('{verb: logs}')), { message: /subresource "log" of pods, read with verb get/ });
  t.throws(load(rule('{verb: apply}')), { message: /kubectl apply sends patch/ });
  t.throws(load(rule('{verb: impersonate}')), { message: /verb "impersonate" never names a request kubetape sees/ });
  t.throws(load(rule('{verb: bind}')), { message: /never names a request kubetape sees/ });
});

t.test('typos in subresources are refused with the line and the closest subresource', async (t) => {
  t.throws(load(rule('{subresource: exce}')), { message: 'policy.yaml:3: subresource "exce" is not a Kubernetes subresource; did you mean "exec"?' });
  t.throws(load('rules:\n  - name: r\n    match:\n      subresource:\n        - exec\n        - atach\n    action: allow\n'), {
    message: /^policy\.yaml:6: subresource "atach" .*did you mean "attach"\?$/,
  });
  t.throws(load(rule('{subresource: evcition}')), { message: /did you mean "eviction"\?/ });
  t.throws(load(rule('{subresource: port-forward}')), {
    message: /subresource "port-forward" is not a Kubernetes subresource: the subresource is "portforward"/,
  });
  t.throws(load(rule('{subresource: logs}')), { message: /the subresource is "log"/ });
  t.throws(load(rule('{subresource: console}')), {
    message:
      /subresource "console" is not a Kubernetes subresource \(status, .*approval, or "\*" for any\); for an aggregated API's own subresource, name its apiGroup in the rule/,
  });
});

t.test('valid words load: every verb and subresource, "*", "" and aggregated APIs\' own subresources', async (t) => {
  const p = parsePolicyText(
    rule(`{verb: [${KUBERNETES_VERBS.join(', ')}, "*"], subresource: [${KUBERNETES_SUBRESOURCES.join(', ')}, "*", ""]}`) +
      '  - name: kubevirt-console\n    match: {apiGroup: subresources.kubevirt.io, resource: virtualmachineinstances, subresource: [console, vnc]}\n    action: deny\n    message: no consoles\n',
    'policy.yaml',
  );
  t.equal(p.rules.length, 2);
  t.throws(
    load(rule('{apiGroup: [subresources.kubevirt.io, ""], subresource: consle}')),
    { message: /subresource "consle"/ },
    'a rule that also names a Kubernetes group is checked',
  );
  t.throws(load(rule('{apiGroup: "*", subresource: exce}')), { message: /subresource "exce"/ }, 'apiGroup "*" covers Kubernetes groups, so it is checked');
});

t.test('inline policies (kubetape.yaml policy:) are checked the same way, naming the path', async (t) => {
  t.throws(() => parsePolicyObject({ rules: [{ name: 'r', match: { verb: ['get', 'lsit'] }, action: 'allow' }] }), {
    message: 'policy.rules[0].match.verb[1]: verb "lsit" is not a Kubernetes verb; did you mean "list"?',
  });
  t.throws(() => parsePolicyObject({ rules: [{ name: 'r', match: { subresource: 'exce' }, action: 'allow' }] }), {
    message: /^policy\.rules\[0\]\.match\.subresource: subresource "exce"/,
  });
});

t.test('the vocabulary itself', async (t) => {
  t.equal(verbProblem('list', { wildcard: false }), undefined);
  t.match(verbProblem('*', { wildcard: false }), /"\*" is not a Kubernetes verb/, '"*" is a word of the policy language only');
  t.equal(verbProblem('*', { wildcard: true }), undefined);
  t.equal(verbProblem('lsit', { wildcard: false, label: '--verb' }), '--verb "lsit" is not a Kubernetes verb; did you mean "list"?');
  t.equal(subresourceProblem('', { wildcard: false }), undefined, '"" is the object itself');
  t.equal(closest('gte', KUBERNETES_VERBS), 'get');
  t.equal(closest('x', KUBERNETES_VERBS), undefined, 'no suggestion for something far from every verb');
  t.equal(closest('ephemeralcontainer', KUBERNETES_SUBRESOURCES), 'ephemeralcontainers');
});
