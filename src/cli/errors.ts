// An error meant for the person at the terminal: main prints `kubetape: <message>`
// (one line, no stack) and exits with exitCode.
export class CliError extends Error {
  override name = 'CliError';
  exitCode = 1;
}
