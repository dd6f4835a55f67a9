// The kubetape command line. Every command lives in its own module and
// registers itself here; errors meant for people are CliErrors, printed as
// one line.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliError } from './errors.js';
import { registerServeCommand } from './serve-command.js';
import { registerDevCommand } from './dev-command.js';
import { registerSessionsCommand } from './sessions-command.js';
import { registerKubeconfigCommand } from './kubeconfig-command.js';
import { registerReplayCommand } from './replay-command.js';
import { registerExportCommand } from './export-command.js';
import { registerCredentialCommand } from './credential-command.js';
import { registerLogoutCommand } from './logout-command.js';
import { registerVerifyCommand } from './verify-command.js';
import { registerApprovalsCommand } from './approvals-command.js';
import { registerPolicyCommand } from './policy-command.js';
import { registerConsoleCommand } from './console-command.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command('kubetape')
    .description('A recording proxy for the Kubernetes API: every request, response and exec stream, tied to a person.')
    .version(version(), '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServeCommand(program);
  registerDevCommand(program);
  registerSessionsCommand(program);
  registerKubeconfigCommand(program);
  registerReplayCommand(program);
  registerExportCommand(program);
  registerCredentialCommand(program);
  registerLogoutCommand(program);
  registerVerifyCommand(program);
  registerApprovalsCommand(program);
  registerPolicyCommand(program);
  registerConsoleCommand(program);
  program.commands.forEach(function apply(c) {
    c.exitOverride();
    c.commands.forEach(apply);
  });
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed help or the usage error
      return e.exitCode;
    }
    if (e instanceof CliError) {
      process.stderr.write(`kubetape: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
