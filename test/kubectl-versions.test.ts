// The dispatcher picks kubectl 1.27 to 1.33 by the server's minor version;
// kubetape passes /version through, so each of them talks through kubetape.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness } from './helpers/harness.js';
import { kubectl } from './helpers/kubectl.js';

for (const minor of ['27', '30', '33']) {
  t.test(`kubectl 1.${minor} through kubetape`, async (t) => {
    const h = await startHarness({ api: { minor } });
    t.teardown(() => h.close());
    const k = (args: string[]) => kubectl(args, { kubeconfig: h.kubeconfig });
    const file = join(h.dir, 'cm.yaml');
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v${minor}\ndata:\n  k: v\n`);
    let r = await k(['apply', '-f', file]);
    t.equal(r.code, 0, r.stderr);
    r = await k(['get', 'configmaps']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`^v${minor}\\s+1\\s+`, 'm'), 'Table columns NAME DATA AGE');
    const agents = new Set(h.api.received.map((q) => String(q.headers['user-agent'] ?? '').split(' ')[0]));
    t.ok(
      [...agents].some((a) => a.startsWith(`kubectl/v1.${minor}.`)),
      `kubectl 1.${minor} spoke (${[...agents].join(', ')})`,
    );
    const sessions = await h.kt.store.listSessions();
    t.ok(
      sessions.some((s) => s.command === 'kubectl apply' && s.verbs.includes('create')),
      'the apply session is recorded with its create',
    );
  });
}
