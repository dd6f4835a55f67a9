#!/usr/bin/env -S node --max-semi-space-size=2
// The CLI is TypeScript compiled to dist/ by `npm ci` (the prepare script).
import { main } from '../dist/src/cli/main.js';
// A reader that stops early (`kubetape verify --all | head -1`) closes the pipe. Every command
// then stops quietly, with the status a shell gives a command ended by SIGPIPE (128 + 13; node
// ignores the signal and reports EPIPE instead): no stack trace, and not a success either.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err) => {
    if (err?.code === 'EPIPE') process.exit(141);
    throw err;
  });
}
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`kubetape: ${err?.message ?? err}\n`); process.exitCode = 1; },
);
