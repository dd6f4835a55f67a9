#!/usr/bin/env -S node --max-semi-space-size=2
// The CLI is TypeScript compiled to dist/ by `npm ci` (the prepare script). Run it as
// ./bin/kubetape.js from the clone (the README's way): no npx, so no copy in npx's cache to
// rebuild or to break; the shebang's flag keeps serve's young generation small.
// A reader that stops early (`kubetape verify --all | head -1`) closes the pipe. Every command
// then stops quietly, with the status a shell gives a command ended by SIGPIPE (128 + 13; node
// ignores the signal and reports EPIPE instead): no stack trace, and not a success either.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err) => {
    if (err?.code === 'EPIPE') process.exit(141);
    throw err;
  });
}
let main;
try {
  ({ main } = await import('../dist/src/cli/main.js'));
} catch (err) {
  // Not built (npm ci --ignore-scripts, or a clone without npm ci): say what to run, not a stack trace.
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('/dist/src/cli/main.js')) throw err;
  const root = new URL('..', import.meta.url).pathname;
  process.stderr.write(`kubetape: the CLI is not built yet: run \`npm ci\` (or \`npm run build\`) in ${root}\n`);
  process.exit(1);
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`kubetape: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  },
);
