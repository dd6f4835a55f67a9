// @kubernetes/client-node's Exec through kubetape: the WebSocket client most
// Node tools use. It speaks v4.channel.k8s.io (offered alone here, as the
// client-node releases before v5 support did) and v5 (its current offer);
// stdout and stderr arrive on their own streams, the exit status through
// its status callback, against a WebSocket cluster and a SPDY-only one.
import t from 'tap';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
// Not re-exported by the package index; its socket factory is how a caller picks the subprotocols offered.
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import { recorded, settledStreamExchanges, startStreamHarness, type StreamHarness } from './helpers/streams.js';

interface ExecResult {
  stdout: string;
  stderr: string;
  status: V1Status;
  protocol: string;
}

/** Runs one exec with client-node; `only` restricts the subprotocols it offers. */
async function clientNodeExec(kubeconfig: string, command: string[], input: string, only?: string): Promise<ExecResult> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  let socket: WebSocket | undefined;
  const factory = (uri: string, protocols: string[], opts: WebSocket.ClientOptions): WebSocket =>
    (socket = new WebSocket(uri, only ? [only] : protocols, opts));
  const exec = new Exec(kc, new WebSocketHandler(kc, factory));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  // client-node closes the socket when stdin ends unless the protocol is v5
  // (v4 cannot say "stdin ended"), so under v4 stdin stays open to the end.
  const stdin = new PassThrough();
  stdin.write(input);
  if (only !== 'v4.channel.k8s.io') stdin.end();
  const status = await new Promise<V1Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no status within 15 s; stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(err)}`)), 15_000);
    exec
      .exec('default', 'web-0', 'main', command, stdout, stderr, stdin, false, (s) => {
        clearTimeout(timer);
        resolve(s);
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
  });
  const ws = socket!;
  if (ws.readyState !== WebSocket.CLOSED) await new Promise((r) => ws.once('close', r));
  stdin.end();
  return { stdout: out, stderr: err, status, protocol: ws.protocol };
}

const harnesses: StreamHarness[] = [];
t.teardown(async () => {
  for (const s of harnesses) await s.close();
});

for (const upstream of [
  { name: 'WebSocket cluster', webSocket: true },
  { name: 'SPDY-only cluster', webSocket: false },
]) {
  t.test(`client-node Exec through kubetape to a ${upstream.name}`, async (t) => {
    const s = await startStreamHarness({ minor: '32', upstream: { webSocket: upstream.webSocket } });
    harnesses.push(s);
    for (const only of ['v4.channel.k8s.io', undefined]) {
      const label = `${only ?? 'default offer'} -> ${upstream.name}`;
      // head -n1, not cat: v4 has no way to say stdin ended.
      const failing = await clientNodeExec(s.h.kubeconfig, ['sh', '-c', 'head -n1; echo oops >&2; exit 3'], 'first line\nsecond line\n', only);
      t.equal(failing.protocol, only ?? 'v5.channel.k8s.io', `${label}: kubetape answered the protocol offered`);
      t.equal(failing.stdout, 'first line\n', `${label}: stdout`);
      t.equal(failing.stderr, 'oops\n', `${label}: stderr on its own stream`);
      t.equal(failing.status.status, 'Failure', `${label}: status callback reports the failure`);
      t.equal(failing.status.reason, 'NonZeroExitCode');
      t.same(failing.status.details?.causes, [{ reason: 'ExitCode', message: '3' }], `${label}: with the exit code`);

      const ok = await clientNodeExec(s.h.kubeconfig, ['sh', '-c', 'printf done'], '', only);
      t.equal(ok.stdout, 'done');
      t.equal(ok.status.status, 'Success', `${label}: success through the status callback`);

      const [x] = await settledStreamExchanges(
        s.h.kt.store,
        (x) =>
          x.request.exec?.command.join(' ') === 'sh -c head -n1; echo oops >&2; exit 3' &&
          x.response?.streamProtocol?.client.includes(only ?? 'v5.channel.k8s.io') === true,
      );
      t.equal(x.response?.exitCode, 3, `${label}: exit code recorded`);
      t.equal(recorded(x, 'stdout').toString(), 'first line\n');
      t.equal(recorded(x, 'stderr').toString(), 'oops\n');
      t.match(recorded(x, 'stdin').toString(), /^first line\n/, `${label}: stdin recorded`);
    }
  });
}
