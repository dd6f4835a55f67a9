#!/usr/bin/env -S node --max-semi-space-size=2
// The CLI is TypeScript compiled to dist/ by `npm ci` (the prepare script).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`kubetape: ${err?.message ?? err}\n`); process.exitCode = 1; },
);
