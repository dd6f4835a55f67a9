// Imports run one way (issue 11 item 3; ARCHITECTURE.md, "Layering"): a
// folder under src/ may import only from folders below it in LAYERS, and
// from itself. Shared types and helpers go down (to model/, mask/, or the
// lowest folder that uses them), never a stage reaching up or sideways.
// Every folder under src/ must be placed in LAYERS, so a new one is placed
// on purpose. Imports are read with TypeScript's own pre-processor (static,
// type-only, re-exports and dynamic import()), so comments never count.
import t from 'tap';
import ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Top to bottom. */
const LAYERS = [
  'cli',
  'devcluster',
  'login',
  'listen',
  'console',
  'config',
  'clusters',
  'admission',
  'authenticate',
  'authorize',
  'credentials',
  'forward',
  'record',
  'store',
  'kubeconfig',
  'admin',
  'mask',
  'model',
] as const;

/** Folders that import nothing else of ours (only node: modules and npm packages). */
const SELF_CONTAINED = ['model', 'mask'];

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface Edge {
  /** Relative to src/, with forward slashes. */
  file: string;
  target: string;
  from: string;
  to: string;
}

const rel = (p: string): string => relative(SRC, p).split(sep).join('/');
const folderOf = (relPath: string): string => relPath.split('/')[0];

/** Every import between two folders of src/. */
let scanned: Edge[] | undefined;
function crossFolderEdges(): Edge[] {
  if (scanned) return scanned;
  const edges: Edge[] = [];
  for (const path of tsFiles(SRC)) {
    const file = rel(path);
    const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (!spec.startsWith('.')) continue; // node: modules and packages
      const target = rel(resolve(dirname(path), spec));
      if (target.startsWith('../')) continue; // outside src/: not a layer
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) edges.push({ file, target, from, to });
    }
  }
  return (scanned = edges);
}

const rank = (folder: string): number => (LAYERS as readonly string[]).indexOf(folder);

t.test('every folder under src/ is placed in the layer list', async (t) => {
  const entries = readdirSync(SRC);
  const folders = entries.filter((n) => statSync(join(SRC, n)).isDirectory());
  const unplaced = folders.filter((f) => rank(f) < 0);
  t.same(unplaced, [], `add these folders to LAYERS in test/layering.test.ts (and to ARCHITECTURE.md): ${unplaced.join(', ')}`);
  const loose = entries.filter((n) => n.endsWith('.ts'));
  t.same(loose, [], `files directly in src/ belong to no layer: ${loose.join(', ')}`);
  const stale = LAYERS.filter((f) => !folders.includes(f));
  t.same(stale, [], `LAYERS names folders that no longer exist: ${stale.join(', ')}`);
});

t.test('imports only go down the layers', async (t) => {
  const edges = crossFolderEdges();
  t.ok(edges.length > 0, 'the scan found cross-folder imports at all');
  const wrong = edges
    .filter((e) => rank(e.from) >= 0 && rank(e.to) >= 0 && rank(e.to) <= rank(e.from))
    .map((e) => `${e.file} -> ${e.target} (folder ${e.from} may not import folder ${e.to})`);
  t.same(wrong, [], wrong.length ? `imports against the layering:\n  ${wrong.join('\n  ')}` : 'no import goes up or sideways');
});

t.test('model/ and mask/ import no other folder of ours', async (t) => {
  const wrong = crossFolderEdges()
    .filter((e) => SELF_CONTAINED.includes(e.from))
    .map((e) => `${e.file} -> ${e.target} (folder ${e.from} may not import folder ${e.to})`);
  t.same(wrong, [], wrong.length ? `imports out of a self-contained folder:\n  ${wrong.join('\n  ')}` : 'self-contained');
});
