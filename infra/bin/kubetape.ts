// The CDK app: `npx cdk synth` / `npx cdk deploy` in infra/ (cdk.json
// compiles this first). Settings come from context, see lib/settings.ts.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { KubetapeStack } from '../lib/kubetape-stack.js';
import { SettingsError } from '../lib/settings.js';

/** The repository root: the nearest directory above this file holding kubetape's Dockerfile (source and compiled layouts differ in depth). */
export function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'Dockerfile')) && existsSync(join(dir, 'bin', 'kubetape.js'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no kubetape Dockerfile above ${from}`);
  }
}

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) as string | undefined;
const account = context('account') ?? process.env['CDK_DEFAULT_ACCOUNT'];
const region = context('region') ?? process.env['CDK_DEFAULT_REGION'];
try {
  new KubetapeStack(app, context('stackName') ?? 'Kubetape', {
    imageDirectory: findRepoRoot(resolve(dirname(fileURLToPath(import.meta.url)))),
    ...(account || region ? { env: { account, region } } : {}),
    description: 'kubetape: recording proxy for the Kubernetes API (storage, identity, service)',
  });
} catch (e) {
  // A bad setting is the operator's to fix: say which, without a stack trace.
  if (e instanceof SettingsError) {
    process.stderr.write(`kubetape-infra: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
app.synth();
