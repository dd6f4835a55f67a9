// The kubeconfig templates in kubeconfig-templates/: finding them (from
// src/kubeconfig/ when run from source, from dist/src/kubeconfig/ when
// compiled) and filling their {{placeholders}}.
//
// Placeholders are substituted in the parsed YAML, never in its text, so a
// value can hold any character without breaking or injecting YAML.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export type TemplateName = 'eks' | 'generic' | 'eks-oidc' | 'generic-oidc';

export const PLACEHOLDERS = [
  'proxyServer',
  'proxyCaData',
  'token',
  'contextName',
  'upstreamClusterName',
  'upstreamUserName',
  'upstreamServer',
  'eksClusterName',
  'eksRegion',
  'execCommand',
  'oidcIssuer',
  'oidcClientId',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type PlaceholderValues = Partial<Record<Placeholder, string>>;

/** The stanzas a template yields: the body of a `clusters[].cluster` and of a `users[].user`. */
export interface FilledTemplate {
  cluster: Record<string, unknown>;
  user: Record<string, unknown>;
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

const TEMPLATES_DIR_NAME = 'kubeconfig-templates';
let cachedDir: string | undefined;

/** kubeconfig-templates/ of the package: the nearest ancestor holding package.json and that directory. */
export function templatesDir(): string {
  if (cachedDir) return cachedDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, TEMPLATES_DIR_NAME))) return (cachedDir = join(dir, TEMPLATES_DIR_NAME));
    const parent = dirname(dir);
    if (parent === dir) throw new TemplateError(`cannot find the ${TEMPLATES_DIR_NAME} directory above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function readTemplate(name: TemplateName, dir = templatesDir()): string {
  const file = join(dir, `${name}.yaml`);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TemplateError(`cannot read kubeconfig template ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
/** Marks a value to leave out. */
const OMIT = Symbol('omit');

function isKnown(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

function fillString(s: string, values: PlaceholderValues, file: string): string | typeof OMIT {
  let missing = false;
  const out = s.replace(PLACEHOLDER, (_m, name: string) => {
    if (!isKnown(name)) throw new TemplateError(`${file}: unknown placeholder {{${name}}} (known: ${PLACEHOLDERS.join(', ')})`);
    const v = values[name];
    if (v === undefined || v === '') missing = true;
    return v ?? '';
  });
  return missing ? OMIT : out;
}

function fillValue(v: unknown, values: PlaceholderValues, file: string): unknown {
  if (typeof v === 'string') return fillString(v, values, file);
  if (Array.isArray(v)) {
    if (v.length === 0) return v;
    const items = v.map((x) => fillValue(x, values, file)).filter((x) => x !== OMIT);
    return items.length === 0 ? OMIT : items;
  }
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v);
    if (entries.length === 0) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) {
      const filled = fillValue(x, values, file);
      if (filled !== OMIT) out[k] = filled;
    }
    if (Array.isArray(out.extensions)) {
      // A named extension without its content means nothing to kubectl.
      const kept = (out.extensions as unknown[]).filter((e) => !(typeof e === 'object' && e !== null && 'name' in e && !('extension' in e)));
      if (kept.length > 0) out.extensions = kept;
      else delete out.extensions;
    }
    return Object.keys(out).length === 0 ? OMIT : out;
  }
  return v;
}

function asMapping(v: unknown, key: string, file: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TemplateError(`${file}: "${key}" must be a mapping`);
  return v as Record<string, unknown>;
}

/** Fill a template's text; `file` names it in errors. */
export function fillTemplate(text: string, values: PlaceholderValues, file = 'kubeconfig template'): FilledTemplate {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new TemplateError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const top = asMapping(doc, 'top level', file);
  const cluster = fillValue(asMapping(top.cluster, 'cluster', file), values, file);
  const user = fillValue(asMapping(top.user, 'user', file), values, file);
  const clusterMap = cluster === OMIT ? {} : (cluster as Record<string, unknown>);
  const userMap = user === OMIT ? {} : (user as Record<string, unknown>);
  if (typeof clusterMap.server !== 'string') throw new TemplateError(`${file}: the cluster stanza must set server (e.g. "{{proxyServer}}")`);
  return { cluster: clusterMap, user: userMap };
}

/** Read and fill one of the shipped templates. */
export function renderTemplate(name: TemplateName, values: PlaceholderValues, dir?: string): FilledTemplate {
  const d = dir ?? templatesDir();
  return fillTemplate(readTemplate(name, d), values, join(d, `${name}.yaml`));
}
