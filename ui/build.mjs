// Builds the console's browser code into dist/ui/: one bundled script and one
// stylesheet (the app's own plus asciinema-player's, both from node_modules,
// so nothing is fetched from a CDN at run time), named by content hash, and
// index.html referencing them. No inline script or style anywhere, so the
// server's Content-Security-Policy can forbid both. Idempotent: the same
// source gives the same files; assets of older builds are removed.
// Run as `node ui/build.mjs` (npm run build/pretest/prepare call it), or
// import buildUi() (the browser tests build before they start).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const UI = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(UI, '..');

/** @param {{ outDir?: string }} [o] */
export async function buildUi(o = {}) {
  const outDir = o.outDir ?? join(ROOT, 'dist', 'ui');
  const assets = join(outDir, 'assets');
  mkdirSync(assets, { recursive: true });
  const r = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: join(UI, 'src', 'main.ts'), style: join(UI, 'src', 'app.css') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    write: false,
    outdir: assets,
    legalComments: 'none',
    logLevel: 'silent',
    // asciinema-player's stylesheet and fonts come from node_modules; fonts are inlined so font-src 'self' (default-src) never needs a CDN.
    loader: { '.woff': 'dataurl', '.woff2': 'dataurl' },
  });
  const keep = new Set();
  /** @type {Record<string, string>} */
  const names = {};
  for (const f of r.outputFiles) {
    const ext = f.path.endsWith('.css') ? 'css' : f.path.endsWith('.js') ? 'js' : undefined;
    if (!ext) continue;
    const hash = createHash('sha256').update(f.contents).digest('hex').slice(0, 12);
    const name = `app-${hash}.${ext}`;
    names[ext] = name;
    keep.add(name);
    writeAtomic(join(assets, name), f.contents);
  }
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>kubetape console</title>
<link rel="stylesheet" href="/kubetape/ui/assets/${names.css}">
<script type="module" src="/kubetape/ui/assets/${names.js}"></script>
</head>
<body>
<noscript>The kubetape console needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
  writeAtomic(join(outDir, 'index.html'), html);
  for (const n of readdirSync(assets)) if (!keep.has(n) && !n.endsWith('.tmp')) rmSync(join(assets, n), { force: true });
  return { outDir, script: names.js, style: names.css };
}

/**
 * Concurrent builds (tests) never see a half-written file.
 * @param {string} path
 * @param {string | Uint8Array} data
 */
function writeAtomic(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const t0 = Date.now();
  const out = await buildUi();
  process.stdout.write(`kubetape console built into ${out.outDir} (${out.script}, ${out.style}) in ${Date.now() - t0} ms\n`);
}
