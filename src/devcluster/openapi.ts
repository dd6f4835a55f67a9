// OpenAPI v3: the /openapi/v3 index (paths with hashed serverRelativeURLs) and
// one document per group-version. kubectl reads two things from them: the
// x-kubernetes-group-version-kind of each operation and whether PATCH takes a
// `fieldValidation` parameter (then it leaves validation to the server).
//
// PATCH request bodies deliberately omit application/strategic-merge-patch+json:
// kubectl would then compute client-side apply patches from the schemas here,
// which are skeletons; without it kubectl uses its compiled-in types and sends
// exactly the strategic merge patch it sends to a real cluster.
import { createHash } from 'node:crypto';
import { apiGroups, resourcesIn, type ResourceDef } from './resources.js';

type Doc = Record<string, unknown>;

function param(name: string, where: 'query' | 'path', description: string, required = false): Doc {
  return { name, in: where, description, required, schema: { type: 'string', uniqueItems: true } };
}

const P = {
  name: (kind: string) => param('name', 'path', `name of the ${kind}`, true),
  namespace: param('namespace', 'path', 'object name and auth scope, such as for teams and projects', true),
  pretty: param('pretty', 'query', "If 'true', then the output is pretty printed."),
  dryRun: param('dryRun', 'query', 'When present, indicates that modifications should not be persisted. Valid value: All.'),
  fieldManager: param('fieldManager', 'query', 'A name associated with the actor or entity that is making these changes.'),
  fieldValidation: param('fieldValidation', 'query', 'How the server handles unknown or duplicate fields: Ignore, Warn or Strict.'),
  force: { ...param('force', 'query', 'Force is going to "force" Apply requests.'), schema: { type: 'boolean', uniqueItems: true } },
  labelSelector: param('labelSelector', 'query', 'A selector to restrict the list of returned objects by their labels.'),
  fieldSelector: param('fieldSelector', 'query', 'A selector to restrict the list of returned objects by their fields.'),
  limit: { ...param('limit', 'query', 'Maximum number of responses to return for a list call.'), schema: { type: 'integer', uniqueItems: true } },
  continue: param('continue', 'query', 'The continue option from a previous paged list.'),
  resourceVersion: param('resourceVersion', 'query', 'Constrains which resource versions a request may be served from.'),
  timeoutSeconds: { ...param('timeoutSeconds', 'query', 'Timeout for the list/watch call.'), schema: { type: 'integer', uniqueItems: true } },
  watch: { ...param('watch', 'query', 'Watch for changes to the described resources.'), schema: { type: 'boolean', uniqueItems: true } },
  propagationPolicy: param('propagationPolicy', 'query', 'Whether and how garbage collection will be performed: Orphan, Background or Foreground.'),
  gracePeriodSeconds: {
    ...param('gracePeriodSeconds', 'query', 'The duration in seconds before the object should be deleted.'),
    schema: { type: 'integer', uniqueItems: true },
  },
};

function schemaName(d: ResourceDef): string {
  const pkg = d.group === '' ? 'core' : d.group.split('.')[0];
  return `io.k8s.api.${pkg}.${d.version}.${d.kind}`;
}

function ref(name: string): Doc {
  return { $ref: `#/components/schemas/${name}` };
}

function content(schema: Doc, types = ['application/json', 'application/yaml']): Doc {
  return Object.fromEntries(types.map((t) => [t, { schema }]));
}

function operation(d: ResourceDef, action: string, opId: string, extra: Doc): Doc {
  return {
    tags: [d.group ? `${d.group.split('.')[0]}_${d.version}` : `core_${d.version}`],
    description: `${action} ${d.kind}`,
    operationId: opId,
    ...extra,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: d.group, version: d.version, kind: d.kind },
  };
}

function opName(verb: string, d: ResourceDef, namespaced: boolean, list = false): string {
  const g = d.group ? d.group.split('.')[0].replace(/^./, (c) => c.toUpperCase()) : 'Core';
  const v = d.version.replace(/^./, (c) => c.toUpperCase());
  return `${verb}${g}${v}${namespaced ? 'Namespaced' : ''}${d.kind}${list ? 'List' : ''}`;
}

function ok(schema: Doc): Doc {
  return { '200': { description: 'OK', content: content(schema) }, '401': { description: 'Unauthorized' } };
}

function pathsFor(d: ResourceDef): Record<string, Doc> {
  const prefix = d.group ? `/apis/${d.group}/${d.version}` : `/api/${d.version}`;
  const ns = d.namespaced;
  const collection = ns ? `${prefix}/namespaces/{namespace}/${d.resource}` : `${prefix}/${d.resource}`;
  const item = `${collection}/{name}`;
  const obj = ref(schemaName(d));
  const list = ref(`${schemaName(d)}List`);
  const body = { content: content(obj, ['*/*']), required: true };
  const out: Record<string, Doc> = {};
  const coll: Doc = { parameters: ns ? [P.namespace, P.pretty] : [P.pretty] };
  if (d.verbs.includes('list')) {
    coll.get = operation(d, 'list', opName('list', d, ns), {
      parameters: [P.continue, P.fieldSelector, P.labelSelector, P.limit, P.resourceVersion, P.timeoutSeconds, P.watch],
      responses: ok(list),
    });
  }
  if (d.verbs.includes('create')) {
    coll.post = operation(d, 'post', opName('create', d, ns), {
      parameters: [P.dryRun, P.fieldManager, P.fieldValidation],
      requestBody: body,
      responses: { ...ok(obj), '201': { description: 'Created', content: content(obj) } },
    });
  }
  if (d.verbs.includes('deletecollection')) {
    coll.delete = operation(d, 'deletecollection', opName('deleteCollection', d, ns), {
      parameters: [P.dryRun, P.fieldSelector, P.labelSelector, P.gracePeriodSeconds, P.propagationPolicy],
      responses: ok(ref('io.k8s.apimachinery.pkg.apis.meta.v1.Status')),
    });
  }
  out[collection] = coll;
  if (!d.stored) return out;
  const one: Doc = { parameters: ns ? [P.name(d.kind), P.namespace, P.pretty] : [P.name(d.kind), P.pretty] };
  one.get = operation(d, 'get', opName('read', d, ns), { responses: ok(obj) });
  one.put = operation(d, 'put', opName('replace', d, ns), { parameters: [P.dryRun, P.fieldManager, P.fieldValidation], requestBody: body, responses: ok(obj) });
  one.patch = operation(d, 'patch', opName('patch', d, ns), {
    parameters: [P.dryRun, P.fieldManager, P.fieldValidation, P.force],
    requestBody: {
      content: Object.fromEntries(
        ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'].map((t) => [
          t,
          { schema: ref('io.k8s.apimachinery.pkg.apis.meta.v1.Patch') },
        ]),
      ),
      required: true,
    },
    responses: ok(obj),
  });
  one.delete = operation(d, 'delete', opName('delete', d, ns), {
    parameters: [P.dryRun, P.gracePeriodSeconds, P.propagationPolicy],
    responses: ok(ref('io.k8s.apimachinery.pkg.apis.meta.v1.Status')),
  });
  out[item] = one;
  return out;
}

function schemasFor(defs: ResourceDef[]): Doc {
  const loose = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const schemas: Doc = {
    'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': { description: 'Standard object metadata.', ...loose },
    'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta': { description: 'Standard list metadata.', ...loose },
    'io.k8s.apimachinery.pkg.apis.meta.v1.Status': { description: 'Status is a return value for calls that do not return other objects.', ...loose },
    'io.k8s.apimachinery.pkg.apis.meta.v1.Patch': { description: 'The body of a PATCH request.', type: 'object' },
  };
  for (const d of defs) {
    const gvk = [{ group: d.group, kind: d.kind, version: d.version }];
    schemas[schemaName(d)] = {
      description: `${d.kind} (schema skeleton served by the kubetape test API server).`,
      type: 'object',
      properties: {
        apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
        kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
        metadata: { allOf: [ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta')], default: {} },
      },
      'x-kubernetes-preserve-unknown-fields': true,
      'x-kubernetes-group-version-kind': gvk,
    };
    if (d.stored) {
      schemas[`${schemaName(d)}List`] = {
        type: 'object',
        required: ['items'],
        properties: {
          apiVersion: { type: 'string' },
          items: { type: 'array', items: { allOf: [ref(schemaName(d))], default: {} } },
          kind: { type: 'string' },
          metadata: { allOf: [ref('io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta')], default: {} },
        },
        'x-kubernetes-group-version-kind': [{ group: d.group, kind: `${d.kind}List`, version: d.version }],
      };
    }
  }
  return schemas;
}

/** The served group-versions as /openapi/v3 names them: "api/v1", "apis/apps/v1". */
function served(): Array<{ key: string; group: string; version: string }> {
  return [{ key: 'api/v1', group: '', version: 'v1' }, ...apiGroups().map((g) => ({ key: `apis/${g.name}/${g.version}`, group: g.name, version: g.version }))];
}

export class OpenApi {
  private readonly docs = new Map<string, { json: string; hash: string }>();

  constructor(private readonly minor: string) {
    for (const gv of served()) {
      const defs = resourcesIn(gv.group, gv.version);
      const paths: Record<string, Doc> = {};
      for (const d of defs) Object.assign(paths, pathsFor(d));
      const doc = {
        openapi: '3.0.0',
        info: { title: 'Kubernetes', version: `v1.${this.minor.replace(/\D.*$/, '')}.0` },
        paths,
        components: {
          schemas: schemasFor(defs),
          securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
        },
        security: [{ BearerToken: [] }],
      };
      const json = JSON.stringify(doc);
      this.docs.set(gv.key, { json, hash: createHash('sha512').update(json).digest('hex').toUpperCase().slice(0, 128) });
    }
  }

  index(): object {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    for (const [key, d] of this.docs) paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${d.hash}` };
    return { paths };
  }

  /** The document for "api/v1" or "apis/<g>/<v>", or undefined. */
  document(key: string): { json: string; hash: string } | undefined {
    return this.docs.get(key);
  }
}
