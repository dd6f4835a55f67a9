// Watches and followed logs get their status line and headers as soon as the
// cluster sends them, not with the first event: kube-apiserver flushes the
// head of a watch at once, and clients wait for it before they report a
// watch as started (client-go's reflector, client-node's Watch, informers
// and Log, curl). Every case here is on a quiet resource, where no event
// comes for as long as the test cares to wait.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig, Log, Watch, makeInformer, type V1ConfigMap } from '@kubernetes/client-node';
import { startHarness, type Harness } from './helpers/harness.js';
import type { KubeObject } from './fake-apiserver/index.js';
import { rawRequest } from './helpers/raw-request.js';
import { parsePolicyObject } from '../src/authorize/policy/load.js';
import { relayMasked } from '../src/forward/masked-response.js';

/** How long a head may take on a quiet stream: far above a local round trip, far below "never". */
const HEAD_WITHIN_MS = 1000;

let h: Harness;
let token: string;
t.before(async () => {
  // Secrets are masked for everyone: their watches take the masked relay instead of the piped proxy.
  h = await startHarness({ config: { policy: parsePolicyObject({ rules: [{ match: { resource: 'secrets' }, action: 'mask' }] }) } });
  token = h.kt.localToken!;
  for (const ns of ['quiet', 'quiet-watch', 'quiet-informer', 'quiet-log']) h.api.objects.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const ns of ['quiet', 'quiet-log']) {
    h.api.objects.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'silent', namespace: ns },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    });
  }
});
t.teardown(() => h.close());

/** Resolves with the value, or rejects naming what did not happen in time. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]);
}

/** Opens a stream with a raw TLS client and times its head; the connection is closed once the head is in. */
async function timeHead(url: string, ca: string, bearer: string, target: string): Promise<{ status: number; ms: number; headers: Record<string, string> }> {
  const started = Date.now();
  try {
    const answer = await rawRequest({
      url,
      ca,
      method: 'GET',
      target,
      headers: { Authorization: `Bearer ${bearer}`, Accept: 'application/json' },
      headOnly: () => true,
      timeoutMs: HEAD_WITHIN_MS,
    });
    return { status: answer.status, ms: Date.now() - started, headers: answer.headers };
  } catch {
    return { status: 0, ms: Date.now() - started, headers: {} }; // no head in time
  }
}

const QUIET = [
  { name: 'a watch of configmaps', target: '/api/v1/namespaces/quiet/configmaps?watch=true' },
  { name: 'a followed log of a pod that has not logged', target: '/api/v1/namespaces/quiet/pods/silent/log?follow=true' },
  { name: 'a masked watch of secrets', target: '/api/v1/namespaces/quiet/secrets?watch=true' },
];

t.test('the test API server sends the head of a quiet stream at once, like kube-apiserver', async (t) => {
  for (const c of QUIET) {
    const head = await timeHead(h.api.url, h.api.ca, 'admin-token', c.target);
    t.equal(head.status, 200, `direct: ${c.name} answered 200 in ${head.ms} ms`);
  }
});

t.test('through kubetape, the head of a quiet stream arrives before any event', async (t) => {
  for (const c of QUIET) {
    const head = await timeHead(h.kt.url, h.kt.ca, token, c.target);
    t.equal(head.status, 200, `through kubetape: ${c.name} answered 200 in ${head.ms} ms`);
    t.ok(head.ms < HEAD_WITHIN_MS, `${c.name}: the head came in ${head.ms} ms`);
  }
});

function kubeconfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(h.kubeconfig);
  return kc;
}

const configMap = (namespace: string, name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { k: 'v' } });

t.test("client-node's Watch on a quiet resource starts, then gets an event created later", async (t) => {
  const events: Array<{ type: string; name: string }> = [];
  let added: () => void = () => undefined;
  const gotAdded = new Promise<void>((resolve) => (added = resolve));
  let doneWith: unknown = 'not called';
  const watch = new Watch(kubeconfig());
  const controller = await within(
    watch.watch(
      '/api/v1/namespaces/quiet-watch/configmaps',
      {},
      (type, obj: V1ConfigMap) => {
        events.push({ type, name: obj.metadata?.name ?? '' });
        if (type === 'ADDED') added();
      },
      (err) => (doneWith = err),
    ),
    HEAD_WITHIN_MS * 2,
    'Watch.watch() resolving on a quiet resource',
  );
  t.equal(doneWith, 'not called', 'the watch is open: done was not called');
  t.same(events, [], 'no event yet: the resource is quiet');
  h.api.objects.put(configMap('quiet-watch', 'later'));
  await within(gotAdded, 5000, 'the ADDED event of a configmap created after the watch started');
  t.same(events, [{ type: 'ADDED', name: 'later' }]);
  controller.abort();
});

t.test('a client-node informer on a quiet namespace starts, then sees a later add', async (t) => {
  const kc = kubeconfig();
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1ConfigMap>(kc, '/api/v1/namespaces/quiet-informer/configmaps', () =>
    core.listNamespacedConfigMap({ namespace: 'quiet-informer' }),
  );
  let connects = 0;
  informer.on('connect', () => connects++);
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  let added: (name: string) => void = () => undefined;
  const gotAdded = new Promise<string>((resolve) => (added = resolve));
  informer.on('add', (o) => added(o.metadata?.name ?? ''));
  await within(informer.start(), HEAD_WITHIN_MS * 3, 'informer.start() on a quiet namespace (list, then watch)');
  t.equal(connects, 1, 'connected once');
  t.same(informer.list('quiet-informer'), [], 'the list was empty');
  h.api.objects.put(configMap('quiet-informer', 'arrives-later'));
  t.equal(await within(gotAdded, 5000, 'the add event of a configmap created after the informer started'), 'arrives-later');
  t.same(errors, [], 'no error');
  await informer.stop();
});

t.test("client-node's Log with follow on a pod that has not logged yet starts, then streams a later line", async (t) => {
  const out = new PassThrough();
  let text = '';
  let line: () => void = () => undefined;
  const gotLine = new Promise<void>((resolve) => (line = resolve));
  out.on('data', (c: Buffer) => {
    text += c.toString();
    if (text.includes('\n')) line();
  });
  const log = new Log(kubeconfig());
  const controller = await within(
    log.log('quiet-log', 'silent', 'app', out, { follow: true }),
    HEAD_WITHIN_MS * 2,
    'Log.log({follow: true}) resolving before the pod logged anything',
  );
  t.equal(text, '', 'nothing logged yet');
  h.api.logs.append('quiet-log', 'silent', 'app', 'first words');
  await within(gotLine, 5000, 'the line logged after the follow started');
  t.equal(text, 'first words\n');
  controller.abort();
});

t.test('the masked relay sends the head of a quiet watch it cannot mask (onUnmaskable: marker) at once', async (t) => {
  // kube-apiserver answering a protobuf watch (the test API server speaks JSON only): the head, then nothing.
  const upstream = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/vnd.kubernetes.protobuf;stream=watch', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
  });
  const front = createServer((req, res) => {
    const port = (upstream.address() as AddressInfo).port;
    httpGet({ host: '127.0.0.1', port, path: req.url }, (up) =>
      relayMasked(up, res, { watch: true, onUnmaskable: 'marker', onData: () => undefined, onEnd: () => undefined }),
    );
  });
  for (const s of [upstream, front]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    upstream.closeAllConnections();
    front.closeAllConnections();
    upstream.close();
    front.close();
  });
  const started = Date.now();
  const status = await within(
    new Promise<number>((resolve, reject) => {
      const req = httpGet({ host: '127.0.0.1', port: (front.address() as AddressInfo).port, path: '/api/v1/secrets?watch=true' }, (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
    }),
    HEAD_WITHIN_MS,
    'the head of a quiet protobuf watch through the masked relay',
  );
  t.equal(status, 200, `the head came in ${Date.now() - started} ms`);
});
