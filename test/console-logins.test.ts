// Console logins outlive a restart with the local store: kept in the data
// dir by their token's hash (the file never holds a token), a logout stays a
// logout after the restart, and a file someone edited gives no login.
// (Replicas on the AWS store: test/console-api-aws.test.ts.)
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './helpers/harness.js';
import { httpsCall } from './helpers/https-call.js';
import { linkLogin } from './helpers/console-login.js';
import { startKubetape, type RunningKubetape } from '../src/listen/start.js';
import { resolveConfig } from '../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'console-logins-'));
let h: Harness;
let kt: RunningKubetape;
const consoleConfig = { viewers: [{ group: 'auditors' }], linkTtlSeconds: 300, sessionTtlSeconds: 3600 };

t.before(async () => {
  writeFileSync(join(dir, 'tokens.csv'), 'vic-token,vic,,"auditors"\n');
  h = await startHarness({ config: { tokenFile: join(dir, 'tokens.csv'), console: consoleConfig } });
  kt = h.kt;
});
t.teardown(async () => {
  await kt?.close();
  await h?.api.close();
  rmSync(dir, { recursive: true, force: true });
});

/** kubetape stopped and started again on the same data dir (same CA, same logins file). */
async function restart(): Promise<void> {
  await kt.close();
  kt = await startKubetape(
    resolveConfig(
      {},
      {
        listen: '127.0.0.1:0',
        adminListen: '127.0.0.1:0',
        dataDir: h.dataDir,
        kubeconfig: h.upstreamKubeconfig,
        tokenFile: join(dir, 'tokens.csv'),
        console: consoleConfig,
      },
    ),
    { log: () => undefined },
  );
}

const whoami = (cookie: string) => httpsCall(`${kt.url}/kubetape/v1/whoami`, { ca: kt.ca, headers: { cookie: `kubetape_session=${cookie}` } });

t.test('a login outlives a restart; a logout too; the file holds no token', async (t) => {
  const cookie = await linkLogin(kt.url, kt.ca, h.dataDir, { user: 'vic', groups: ['auditors'] });
  const me = await whoami(cookie);
  t.equal(me.status, 200);
  const csrf = (JSON.parse(me.body) as { csrfToken: string }).csrfToken;
  const file = join(h.dataDir, 'console-logins.json');
  t.equal(statSync(file).mode & 0o777, 0o600, 'the logins file is readable by kubetape only');
  const text = readFileSync(file, 'utf8');
  t.notMatch(text, cookie, 'it keeps the token hashed, never the token');

  await restart();
  const again = await whoami(cookie);
  t.equal(again.status, 200, 'still logged in after the restart');
  t.equal((JSON.parse(again.body) as { user: string }).user, 'vic');

  const out = await httpsCall(`${kt.url}/kubetape/v1/logout`, {
    ca: kt.ca,
    method: 'POST',
    headers: { cookie: `kubetape_session=${cookie}`, 'x-kubetape-csrf': csrf },
  });
  t.equal(out.status, 200, 'logged out');
  t.equal((await whoami(cookie)).status, 401, 'the cookie no longer logs in');
  await restart();
  t.equal((await whoami(cookie)).status, 401, 'nor after another restart');
});

t.test('an edited logins file gives no login', async (t) => {
  const cookie = await linkLogin(kt.url, kt.ca, h.dataDir, { user: 'vic', groups: ['auditors'] });
  const file = join(h.dataDir, 'console-logins.json');
  await kt.close();
  // Someone makes every kept login a viewer's with a malformed identity, and adds a login of their own making.
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { identity: { user: unknown; groups: unknown } }>;
  for (const s of Object.values(saved)) s.identity.groups = 'auditors';
  writeFileSync(file, JSON.stringify({ ...saved, 'not-a-hash': { identity: { user: 'x', groups: [] }, csrfToken: 'c', expiresAt: Date.now() + 1e6 } }));
  await restart();
  t.equal((await whoami(cookie)).status, 401, 'a login whose identity is not well formed is dropped');
  writeFileSync(file, '{not json');
  await restart();
  t.equal((await whoami(cookie)).status, 401, 'an unreadable file: everyone logs in again, kubetape starts');
});
