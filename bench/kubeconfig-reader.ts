// What the bench needs from a kubeconfig: server, CA and bearer token of the
// current context (or the first of each list when there is none).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface KubeconfigAccess {
  server: string;
  ca?: string;
  token?: string;
}

type Entry = Record<string, unknown>;

export function readKubeconfigAccess(file: string): KubeconfigAccess {
  let doc: Record<string, unknown>;
  try {
    doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot read kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  const contexts = list(doc['contexts']);
  const current = contexts.find((c) => c.name === doc['current-context']) ?? contexts[0];
  const ctx = (current?.['context'] ?? {}) as Record<string, unknown>;
  const cluster = pick(list(doc['clusters']), ctx['cluster'])?.['cluster'] as Record<string, unknown> | undefined;
  const user = pick(list(doc['users']), ctx['user'])?.['user'] as Record<string, unknown> | undefined;
  const server = cluster?.['server'];
  if (typeof server !== 'string') throw new Error(`kubeconfig ${file} names no cluster server`);
  const out: KubeconfigAccess = { server };
  const caData = cluster?.['certificate-authority-data'];
  const caFile = cluster?.['certificate-authority'];
  if (typeof caData === 'string') out.ca = Buffer.from(caData, 'base64').toString('utf8');
  else if (typeof caFile === 'string') out.ca = readFileSync(caFile, 'utf8');
  const token = user?.['token'];
  if (typeof token === 'string') out.token = token;
  return out;
}

function list(v: unknown): Entry[] {
  return Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Entry[]) : [];
}

function pick(items: Entry[], name: unknown): Entry | undefined {
  return items.find((i) => i.name === name) ?? items[0];
}
