// Turns the text of one kubeconfig file into a checked KubeconfigFile.
// kubectl ignores unknown fields and so do we; fields kubetape reads are
// type-checked so a typo surfaces as one sentence naming the file and entry.
import { parse, YAMLParseError } from 'yaml';
import type { ClusterConfig, ContextConfig, KubeconfigFile, UserConfig } from './types.js';
import { textOf } from '../model/text.js';

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

/** Checks field types in place; `where` names the entry for error messages. */
class Checker {
  constructor(private readonly file: string) {}

  fail(where: string, msg: string): never {
    throw new KubeconfigError(`${this.file}: ${where}: ${msg}`);
  }

  str(o: Obj, key: string, where: string): void {
    const v = o[key];
    if (v === undefined || v === null) {
      delete o[key];
      return;
    }
    if (typeof v === 'number' || typeof v === 'boolean') o[key] = String(v);
    else if (typeof v !== 'string') this.fail(where, `"${key}" must be a string, not ${describe(v)}`);
  }

  bool(o: Obj, key: string, where: string): void {
    const v = o[key];
    if (v === undefined || v === null) {
      delete o[key];
      return;
    }
    if (typeof v !== 'boolean') this.fail(where, `"${key}" must be true or false, not ${describe(v)}`);
  }

  strList(o: Obj, key: string, where: string): void {
    const v = o[key];
    if (v === undefined || v === null) {
      delete o[key];
      return;
    }
    if (!Array.isArray(v)) this.fail(where, `"${key}" must be a list of strings`);
    o[key] = v.map((item, i) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number' || typeof item === 'boolean') return String(item);
      return this.fail(where, `"${key}[${i}]" must be a string, not ${describe(item)}`);
    });
  }

  extensions(o: Obj, where: string): void {
    const v = o.extensions;
    if (v === undefined || v === null) {
      delete o.extensions;
      return;
    }
    if (!Array.isArray(v)) this.fail(where, '"extensions" must be a list of {name, extension}');
    v.forEach((e, i) => {
      if (!isObj(e) || typeof e.name !== 'string') this.fail(where, `"extensions[${i}]" needs a string "name"`);
    });
  }

  /** A `clusters`/`users`/`contexts` list: entries {name, <inner>}, names unique within the file. */
  namedList<T>(doc: Obj, key: string, inner: string, check: (value: Obj, where: string) => void): Array<{ name: string } & Record<string, T>> {
    const list = doc[key];
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) this.fail(key, `must be a list, not ${describe(list)}`);
    const seen = new Set<string>();
    return list.map((entry, i) => {
      if (!isObj(entry)) this.fail(`${key}[${i}]`, `must be a mapping with "name" and "${inner}"`);
      const name = entry.name;
      if (typeof name !== 'string' || name === '') this.fail(`${key}[${i}]`, 'needs a non-empty string "name"');
      if (seen.has(name)) this.fail(`${key}[${i}]`, `duplicate name "${name}"`);
      seen.add(name);
      const value = entry[inner] ?? {};
      if (!isObj(value)) this.fail(`${inner} "${name}"`, `"${inner}" must be a mapping, not ${describe(value)}`);
      check(value, `${inner} "${name}"`);
      return { ...entry, name, [inner]: value } as { name: string } & Record<string, T>;
    });
  }

  cluster(c: Obj, where: string): void {
    for (const k of ['server', 'certificate-authority', 'certificate-authority-data', 'tls-server-name', 'proxy-url']) this.str(c, k, where);
    this.bool(c, 'insecure-skip-tls-verify', where);
    this.bool(c, 'disable-compression', where);
    this.extensions(c, where);
  }

  user(u: Obj, where: string): void {
    for (const k of [
      'client-certificate',
      'client-certificate-data',
      'client-key',
      'client-key-data',
      'token',
      'tokenFile',
      'as',
      'as-uid',
      'username',
      'password',
    ]) {
      this.str(u, k, where);
    }
    this.strList(u, 'as-groups', where);
    if (u['auth-provider'] !== undefined && u['auth-provider'] !== null) {
      const ap = u['auth-provider'];
      if (!isObj(ap) || typeof ap.name !== 'string') this.fail(where, '"auth-provider" needs a string "name"');
    }
    if (u.exec !== undefined && u.exec !== null) this.exec(u.exec, where);
    else delete u.exec;
    this.extensions(u, where);
  }

  exec(e: unknown, where: string): void {
    if (!isObj(e)) this.fail(where, `"exec" must be a mapping, not ${describe(e)}`);
    const w = `${where} exec`;
    this.str(e, 'command', w);
    this.str(e, 'apiVersion', w);
    this.str(e, 'installHint', w);
    this.str(e, 'interactiveMode', w);
    this.strList(e, 'args', w);
    this.bool(e, 'provideClusterInfo', w);
    if (typeof e.command !== 'string' || e.command === '') this.fail(w, 'needs a "command"');
    if (typeof e.apiVersion !== 'string' || e.apiVersion === '') this.fail(w, 'needs an "apiVersion" (client.authentication.k8s.io/v1 or v1beta1)');
    const mode = e.interactiveMode;
    if (mode !== undefined && mode !== 'Never' && mode !== 'IfAvailable' && mode !== 'Always') {
      this.fail(w, `"interactiveMode" must be Never, IfAvailable or Always, not "${textOf(mode)}"`);
    }
    const env = e.env;
    if (env === undefined || env === null) {
      delete e.env;
    } else {
      if (!Array.isArray(env)) this.fail(w, '"env" must be a list of {name, value}');
      e.env = env.map((item, i) => {
        if (!isObj(item) || typeof item.name !== 'string') this.fail(w, `"env[${i}]" needs a string "name"`);
        const value = item.value ?? '';
        if (typeof value === 'object') this.fail(w, `"env[${i}].value" must be a string`);
        return { name: item.name, value: textOf(value) };
      });
    }
  }

  context(c: Obj, where: string): void {
    for (const k of ['cluster', 'user', 'namespace']) this.str(c, k, where);
    this.extensions(c, where);
  }
}

/** Parse and check one kubeconfig file's text. An empty file is an empty kubeconfig, as for kubectl. */
export function parseKubeconfigText(text: string, file: string): KubeconfigFile {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false, uniqueKeys: false });
  } catch (err) {
    const detail = err instanceof YAMLParseError ? err.message.split('\n')[0] : String((err as Error)?.message ?? err);
    throw new KubeconfigError(`${file}: not valid YAML: ${detail}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObj(doc)) throw new KubeconfigError(`${file}: not a kubeconfig (the top level is ${describe(doc)}, expected a mapping)`);
  const check = new Checker(file);
  check.str(doc, 'current-context', 'current-context');
  check.str(doc, 'kind', 'kind');
  if (doc.kind !== undefined && doc.kind !== 'Config') check.fail('kind', `expected "Config", found "${textOf(doc.kind)}"`);
  return {
    ...(doc as KubeconfigFile),
    clusters: check.namedList<ClusterConfig>(doc, 'clusters', 'cluster', (c, w) => check.cluster(c, w)) as KubeconfigFile['clusters'],
    users: check.namedList<UserConfig>(doc, 'users', 'user', (u, w) => check.user(u, w)) as KubeconfigFile['users'],
    contexts: check.namedList<ContextConfig>(doc, 'contexts', 'context', (c, w) => check.context(c, w)) as KubeconfigFile['contexts'],
  };
}
