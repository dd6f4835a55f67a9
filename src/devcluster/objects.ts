// The in-memory "etcd": objects per resource, one global resourceVersion
// counter, a bounded history of changes, and watch fan-out.
//
// Test API (everything returns copies; changes reach watchers like API writes):
//   objects.put(obj)                       create or replace by apiVersion/kind/namespace/name; fills uid,
//                                          resourceVersion, creationTimestamp (kept if given), defaults, and a
//                                          plausible status when none is given (pods Running). A missing
//                                          namespace is created on the fly.
//   objects.get(resource, ns, name)        'pods' | 'pod' | 'po' | 'Pod' | 'deployments.apps' ...; ns ignored for cluster-scoped
//   objects.list(resource, ns?)            sorted like etcd keys (namespace, name)
//   objects.update(resource, ns, name, fn) fn mutates a copy; stored as a MODIFIED event
//   objects.delete(resource, ns, name)     immediate, DELETED event; a namespace takes its contents with it
//   objects.seedConfigMaps(ns, count, bytesEach, prefix?)  bulk data for big-list tests and the benchmark
//   objects.resourceVersion                the current global resourceVersion (string)
//
// Stored objects are never mutated in place (writers clone), so lists can
// serialise straight from storage and cache each object's JSON.
import { randomUUID } from 'node:crypto';
import { clone } from './merge.js';
import { IpAllocator, prepareForCreate, prepareForUpdate, timestamp } from './kinds.js';
import { findResource, groupVersion, resourceForKind, RESOURCES, type ResourceDef } from './resources.js';
import { META_ORDER, type KubeObject } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rv: number;
  def: ResourceDef;
  object: KubeObject;
  /** The state before a MODIFIED event, for selector transitions. */
  previous?: KubeObject;
}

interface Entry {
  obj: KubeObject;
  json?: string;
  itemJson?: string;
}

class Table {
  readonly entries = new Map<string, Entry>();
  private sortedKeys: string[] | undefined;
  keys(): string[] {
    this.sortedKeys ??= [...this.entries.keys()].sort();
    return this.sortedKeys;
  }
  set(key: string, e: Entry): void {
    if (!this.entries.has(key)) this.sortedKeys = undefined;
    this.entries.set(key, e);
  }
  delete(key: string): void {
    if (this.entries.delete(key)) this.sortedKeys = undefined;
  }
}

/** Field order as the Go types marshal: kind, apiVersion, metadata, the body, status last. */
export function canonical(o: KubeObject): KubeObject {
  const meta: Record<string, unknown> = {};
  for (const k of META_ORDER) if (o.metadata[k] !== undefined) meta[k] = o.metadata[k];
  for (const [k, v] of Object.entries(o.metadata)) if (!(k in meta) && v !== undefined) meta[k] = v;
  const out: Record<string, unknown> = { kind: o.kind, apiVersion: o.apiVersion, metadata: meta };
  for (const [k, v] of Object.entries(o)) if (!(k in out) && k !== 'status' && v !== undefined) out[k] = v;
  if (o.status !== undefined) out.status = o.status;
  return out as KubeObject;
}

export function objectKey(d: ResourceDef, namespace: string | undefined, name: string): string {
  return d.namespaced ? `${namespace ?? ''}/${name}` : name;
}

const tableKey = (d: ResourceDef): string => `${d.group}/${d.resource}`;

export type Listener = (e: StoreEvent) => void;

export class ObjectStore {
  private rv = 1000;
  private readonly tables = new Map<string, Table>();
  private readonly history: StoreEvent[] = [];
  /** Watches from a resourceVersion below this get 410 Expired. */
  private historyFloor = this.rv;
  private readonly listeners = new Set<Listener>();
  private readonly historyLimit = 20000;

  constructor(readonly ips: IpAllocator = new IpAllocator()) {}

  // ---------------------------------------------------------------- test API

  get resourceVersion(): string {
    return String(this.rv);
  }

  put(input: KubeObject): KubeObject {
    const d = input.apiVersion && input.kind ? resourceForKind(input.apiVersion, input.kind) : undefined;
    if (!d || !d.stored) throw new Error(`objects.put: unknown or unstored kind ${input.apiVersion ?? '?'}/${input.kind ?? '?'}`);
    const o = clone(input);
    o.metadata = { ...(o.metadata ?? {}) };
    const name = o.metadata.name;
    if (!name) throw new Error('objects.put: metadata.name is required');
    if (d.namespaced) {
      o.metadata.namespace ??= 'default';
      this.ensureNamespace(o.metadata.namespace);
    } else delete o.metadata.namespace;
    const old = this.lookup(d, o.metadata.namespace, name);
    const ctx = { ips: this.ips, viaApi: false };
    if (old) {
      o.metadata.uid ??= old.metadata.uid;
      o.metadata.creationTimestamp ??= old.metadata.creationTimestamp;
      if (o.status === undefined && old.status !== undefined) o.status = clone(old.status);
      prepareForUpdate(d, old, o, ctx);
      return clone(this.commitUpdate(d, old, o));
    }
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= timestamp();
    prepareForCreate(d, o, ctx);
    return clone(this.commitCreate(d, o));
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const d = this.resolve(resource);
    const o = this.lookup(d, namespace, name);
    return o && clone(o);
  }

  list(resource: string, namespace?: string): KubeObject[] {
    return this.listIn(this.resolve(resource), namespace).map((o) => clone(o));
  }

  update(resource: string, namespace: string | undefined, name: string, mutate: (o: KubeObject) => void): KubeObject {
    const d = this.resolve(resource);
    const old = this.lookup(d, namespace, name);
    if (!old) throw new Error(`objects.update: ${d.resource} ${namespace ?? ''}/${name} not found`);
    const o = clone(old);
    mutate(o);
    return clone(this.commitUpdate(d, old, o));
  }

  delete(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const d = this.resolve(resource);
    const old = this.lookup(d, namespace, name);
    if (!old) return undefined;
    if (d.resource === 'namespaces') this.deleteNamespaceContents(name);
    return clone(this.commitDelete(d, old));
  }

  /** `count` ConfigMaps named `<prefix>-00000..` in `namespace`, each with ~bytesEach of text under data.payload. */
  seedConfigMaps(namespace: string, count: number, bytesEach: number, prefix = 'bulk'): void {
    const d = this.resolve('configmaps');
    this.ensureNamespace(namespace);
    const width = Math.max(5, String(count).length);
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${String(i).padStart(width, '0')}`;
      const o: KubeObject = {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { name, namespace, uid: randomUUID(), creationTimestamp: timestamp(), labels: { 'kubetape.test/seed': prefix } },
        data: { payload: fillerText(i, bytesEach) },
      };
      const old = this.lookup(d, namespace, name);
      if (old) this.commitUpdate(d, old, o);
      else this.commitCreate(d, o);
    }
  }

  // ------------------------------------------------------- server internals

  resolve(resource: string): ResourceDef {
    const d = findResource(resource);
    if (!d || !d.stored) throw new Error(`unknown resource "${resource}"`);
    return d;
  }

  /** The stored object itself: callers must not mutate it. */
  lookup(d: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.tables.get(tableKey(d))?.entries.get(objectKey(d, namespace, name))?.obj;
  }

  /** Stored objects (not copies) in key order, optionally within one namespace. */
  listIn(d: ResourceDef, namespace?: string): KubeObject[] {
    const t = this.tables.get(tableKey(d));
    if (!t) return [];
    const prefix = d.namespaced && namespace ? `${namespace}/` : '';
    const out: KubeObject[] = [];
    for (const k of t.keys()) {
      if (prefix && !k.startsWith(prefix)) continue;
      const e = t.entries.get(k);
      if (e) out.push(e.obj);
    }
    return out;
  }

  /** JSON of a stored object; `asItem` drops kind/apiVersion the way typed lists encode items. */
  jsonOf(d: ResourceDef, o: KubeObject, asItem: boolean): string {
    const e = this.tables.get(tableKey(d))?.entries.get(objectKey(d, o.metadata.namespace, String(o.metadata.name)));
    if (e && e.obj === o) {
      if (asItem) return (e.itemJson ??= JSON.stringify({ ...o, kind: undefined, apiVersion: undefined }));
      return (e.json ??= JSON.stringify(o));
    }
    return asItem ? JSON.stringify({ ...o, kind: undefined, apiVersion: undefined }) : JSON.stringify(o);
  }

  commitCreate(d: ResourceDef, o: KubeObject): KubeObject {
    const stored = this.stamp(d, o);
    this.table(d).set(objectKey(d, stored.metadata.namespace, String(stored.metadata.name)), { obj: stored });
    this.emit({ type: 'ADDED', rv: this.rv, def: d, object: stored });
    return stored;
  }

  commitUpdate(d: ResourceDef, old: KubeObject, o: KubeObject): KubeObject {
    const stored = this.stamp(d, o);
    this.table(d).set(objectKey(d, stored.metadata.namespace, String(stored.metadata.name)), { obj: stored });
    this.emit({ type: 'MODIFIED', rv: this.rv, def: d, object: stored, previous: old });
    return stored;
  }

  /** Removes the object; the DELETED event carries its last state at the deletion's resourceVersion. */
  commitDelete(d: ResourceDef, old: KubeObject): KubeObject {
    this.table(d).delete(objectKey(d, old.metadata.namespace, String(old.metadata.name)));
    this.rv++;
    const last = canonical({ ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } });
    this.emit({ type: 'DELETED', rv: this.rv, def: d, object: last });
    return last;
  }

  deleteNamespaceContents(namespace: string): void {
    for (const d of RESOURCES) {
      if (!d.namespaced || !d.stored) continue;
      for (const o of this.listIn(d, namespace)) this.commitDelete(d, o);
    }
  }

  /**
   * Subscribe to changes. With `sinceRv`, first returns the retained events after
   * it (or 'expired' when history no longer reaches back that far).
   */
  subscribe(listener: Listener, sinceRv?: number): { replay: StoreEvent[] | 'expired'; unsubscribe: () => void } {
    let replay: StoreEvent[] | 'expired' = [];
    if (sinceRv !== undefined) {
      if (sinceRv < this.historyFloor) replay = 'expired';
      else replay = this.history.filter((e) => e.rv > sinceRv);
    }
    this.listeners.add(listener);
    return { replay, unsubscribe: () => this.listeners.delete(listener) };
  }

  get oldestResourceVersion(): number {
    return this.historyFloor;
  }

  private ensureNamespace(namespace: string): void {
    const nsDef = this.resolve('namespaces');
    if (this.lookup(nsDef, undefined, namespace)) return;
    const ns: KubeObject = { kind: 'Namespace', apiVersion: 'v1', metadata: { name: namespace, uid: randomUUID(), creationTimestamp: timestamp() } };
    prepareForCreate(nsDef, ns, { ips: this.ips, viaApi: false });
    this.commitCreate(nsDef, ns);
  }

  private table(d: ResourceDef): Table {
    let t = this.tables.get(tableKey(d));
    if (!t) this.tables.set(tableKey(d), (t = new Table()));
    return t;
  }

  private stamp(d: ResourceDef, o: KubeObject): KubeObject {
    this.rv++;
    const out = canonical({ ...o, kind: d.kind, apiVersion: groupVersion(d), metadata: { ...o.metadata, resourceVersion: String(this.rv) } });
    return out;
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.historyFloor = dropped[dropped.length - 1].rv;
    }
    for (const l of [...this.listeners]) l(e);
  }
}

const WORDS = [
  'alpha',
  'bravo',
  'cluster',
  'node',
  'pod',
  'service',
  'config',
  'secret',
  'volume',
  'replica',
  'deploy',
  'ingress',
  'label',
  'selector',
  'status',
  'ready',
  'image',
  'container',
  'port',
  'endpoint',
  'namespace',
  'watch',
  'event',
  'kube',
  'tape',
  'record',
  'proxy',
  'session',
  'token',
  'apply',
  'patch',
  'merge',
  'value',
  'key',
  'data',
  'payload',
];
let fillerBlock: string | undefined;

/** Deterministic word soup: compresses like real config text (a few times), unlike a repeated byte. */
function fillerText(seed: number, bytes: number): string {
  if (!fillerBlock) {
    let x = 0x2545f491;
    const parts: string[] = [];
    let len = 0;
    while (len < 1 << 20) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const w = WORDS[(x >>> 0) % WORDS.length] + ((x >>> 8) % 7 === 0 ? `-${(x >>> 12) % 1000}` : '');
      parts.push(w);
      len += w.length + 1;
    }
    fillerBlock = parts.join(' ');
  }
  let out = '';
  let offset = (seed * 7919) % (fillerBlock.length - 1);
  while (out.length < bytes) {
    const take = Math.min(bytes - out.length, fillerBlock.length - offset);
    out += fillerBlock.slice(offset, offset + take);
    offset = 0;
  }
  return out;
}
