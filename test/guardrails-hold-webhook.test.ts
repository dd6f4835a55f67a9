// Approver notification and held requests: a real HTTP server on 127.0.0.1
// receives the Slack-compatible webhook, and the real kubectl waits on a
// `hold:` rule while an approver decides with the kubetape CLI.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { kubectl, writeKubeconfig } from './helpers/kubectl.js';
import { cliFromSource } from './helpers/streams.js';
import { parsePolicyText, PolicyError } from '../src/authorize/policy/load.js';

const dir = mkdtempSync(join(tmpdir(), 'hold-webhook-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// The webhook receiver: keeps every body; answers 500 while `failing` is set.
const received: Array<{ text: string }> = [];
let failing = false;
const hook: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push(JSON.parse(body) as { text: string });
    res.statusCode = failing ? 500 : 200;
    res.end('ok');
  });
});
await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => hook.close(() => r())));
const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/services/T0/B0/secret`;

const POLICY = `approvals:
  webhook: ${hookUrl}
rules:
  - name: prod-delete-held
    match: { namespace: prod, verb: delete }
    action: require-approval
    message: delete in prod
    approvers: [sre]
    hold: 30s
  - name: qa-delete-short-hold
    match: { namespace: qa, verb: delete }
    action: require-approval
    approvers: [sre]
    hold: 1s
`;

let h: Harness;
let dev: string;
let sre: string;
t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'dev-token,dana,,"dev"\nsre-token,sam,,"sre"\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), policyFile: join(dir, 'policy.yaml') } });
  dev = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'dev-token', name: 'dev' });
  sre = writeKubeconfig(h.dir, { server: h.kt.url, ca: h.kt.ca, token: 'sre-token', name: 'sre' });
  for (const ns of ['prod', 'qa']) {
    h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    for (const p of ['web-0', 'web-1', 'web-2'])
      h.api.objects.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p, namespace: ns }, spec: { containers: [{ name: 'main', image: 'nginx' }] } });
  }
});
t.teardown(() => h.close());

const deletePod = (ns: string, pod: string) => kubectl(['delete', 'pod', pod, '-n', ns, '--wait=false'], { kubeconfig: dev });
const podExists = async (ns: string, pod: string) =>
  (await kubectl(['get', 'pod', pod, '-n', ns, '-o', 'name'], { kubeconfig: sre })).stdout.trim() === `pod/${pod}`;

async function waitFor<T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const idIn = (text: string) => /approval id (ap-[0-9a-f]+)/.exec(text)?.[1];

t.test('a held delete waits, the webhook tells approvers, an approval lets it complete', async (t) => {
  const before = received.length;
  const started = Date.now();
  const held = deletePod('prod', 'web-0');
  const note = await waitFor('the webhook', () => received[before]);
  const id = idIn(note.text);
  t.ok(id, `the notification names the approval id: ${note.text}`);
  t.match(note.text, /dana asks to delete pods "web-0" in namespace prod on cluster \S+ \(policy rule "prod-delete-held"\)/);
  t.match(note.text, `kubetape approvals approve ${id}`);
  t.ok(await podExists('prod', 'web-0'), 'nothing reached the cluster while held');
  const ok = await cliFromSource([['approvals', 'approve', id!, '--once', '--kubeconfig', sre]]);
  t.equal(ok[0].code, 0, ok[0].stderr.toString());
  const r = await held;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'pod "web-0" deleted');
  t.ok(Date.now() - started < 25_000, 'released by the approval, not by the hold running out');
  t.notOk(await podExists('prod', 'web-0'), 'forwarded once approved');
});

t.test('a hold that runs out, and a denial while held, answer 403; a reason notifies again', async (t) => {
  const before = received.length;
  const r0 = await deletePod('qa', 'web-2');
  t.equal(r0.code, 1);
  t.match(r0.stderr, /approval id ap-[0-9a-f]+.*held 1s without a decision/, 'the hold running out gives the usual 403 with the id');
  t.ok(await podExists('qa', 'web-2'));
  await waitFor('the webhook', () => received[before]);

  const b2 = received.length;
  const held2 = deletePod('prod', 'web-2');
  const note = await waitFor('the webhook', () => received[b2]);
  const id = idIn(note.text)!;
  const no = await cliFromSource([['approvals', 'deny', id, '--reason', 'not today', '--kubeconfig', sre]]);
  t.equal(no[0].code, 0, no[0].stderr.toString());
  const r = await held2;
  t.equal(r.code, 1);
  t.match(r.stderr, /Error from server \(Forbidden\): .*denied by sam \(not today\)/);
  t.ok(await podExists('prod', 'web-2'));

  const b3 = received.length;
  const ask = await cliFromSource([['approvals', 'request', id, '--reason', 'hotfix rollback', '--kubeconfig', dev]]);
  t.equal(ask[0].code, 0, ask[0].stderr.toString());
  const again = await waitFor('the webhook for the reason', () => received[b3]);
  t.match(again.text, `approval id ${id}`);
  t.match(again.text, 'Reason: hotfix rollback');
});

t.test('a failing webhook is counted and never blocks the refusal', async (t) => {
  failing = true;
  t.teardown(() => (failing = false));
  const failures = async () => (await h.kt.metrics.approvalWebhookFailures.get()).values[0]?.value ?? 0;
  const before = await failures();
  const r = await deletePod('qa', 'web-1');
  t.equal(r.code, 1);
  t.match(r.stderr, /approval id ap-/);
  const end = Date.now() + 10_000;
  while ((await failures()) <= before && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.equal(await failures(), before + 1, 'kubetape_approval_webhook_failures_total counts the failed delivery');
});

t.test('a webhook that is not an http(s) URL is refused at load with its line', async (t) => {
  t.throws(
    () => parsePolicyText('rules: []\napprovals:\n  webhook: ftp://x\n', 'p.yaml'),
    new PolicyError('p.yaml:3: webhook must be an http(s) URL, got "ftp://x"'),
  );
  t.throws(() => parsePolicyText('rules:\n  - action: deny\n    message: x\n    hold: 60s\n', 'p.yaml'), /hold" only applies to require-approval rules/);
});
