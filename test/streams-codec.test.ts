// The pieces of exec/attach/port-forward translation on their own: the
// WebSocket channel framing (binary and base64), the port-forward prefix,
// resize messages, Status translation between protocol versions, query
// parsing and protocol negotiation.
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import {
  ChannelFrameError,
  ResizeDecoder,
  decodeChannelFrame,
  encodeChannelFrame,
  encodeTerminalSize,
  portPrefix,
} from '../src/forward/streams/channel-frames.js';
import { errorChannelBytes, failureOutcome, outcomeFromErrorChannel } from '../src/forward/streams/exec-status.js';
import { parseExecRequest, parsePortForwardRequest, streamKind } from '../src/forward/streams/stream-request.js';
import { negotiateClient } from '../src/forward/streams/client-negotiation.js';
import { bearerTokenFromProtocols, offeredWebSocketProtocols } from '../src/forward/streams/protocols.js';
import { requestAttributes } from '../src/model/request-attributes.js';
import { parseRequestTarget, type RequestTarget } from '../src/model/request-target.js';
/** A target as the listener parses it (the tests' inputs are all canonical). */
function target(uri: string): RequestTarget {
  const r = parseRequestTarget(uri);
  if (!r.ok) throw new Error(`${uri}: ${r.reason}`);
  return r.target;
}

t.test('channel frames: binary puts the channel in byte 0, base64 a digit then base64', async (t) => {
  t.same([...(encodeChannelFrame(1, Buffer.from('hi'), true) as Buffer)], [1, 104, 105]);
  t.equal(encodeChannelFrame(0, Buffer.from('foo\n'), false), '0Zm9vCg==', "wsstream's documented example");
  t.same(decodeChannelFrame(Buffer.from([2, 0xff, 0x00]), true), { channel: 2, data: Buffer.from([0xff, 0x00]) }, 'binary data stays binary');
  t.same(decodeChannelFrame(Buffer.from('1Cg=='), false), { channel: 1, data: Buffer.from('\n') });
  t.equal(decodeChannelFrame(Buffer.alloc(0), true), undefined, 'an empty message is skipped');
  t.same(decodeChannelFrame(Buffer.from([255, 0]), true), { channel: 255, data: Buffer.from([0]) }, "v5's stdin close");
  t.throws(() => decodeChannelFrame(Buffer.from('0not base64!'), false), ChannelFrameError);
  const big = Buffer.alloc(100_000, 7);
  t.same(decodeChannelFrame(Buffer.from(encodeChannelFrame(4, big, false) as string), false), { channel: 4, data: big }, 'base64 round trip');
});

t.test('port-forward channels start with the port as two little-endian bytes', async (t) => {
  t.same([...portPrefix(80)], [80, 0]);
  t.same([...portPrefix(8080)], [0x90, 0x1f]);
  t.same([...portPrefix(65535)], [255, 255]);
});

t.test('resize messages: split, joined, noisy', async (t) => {
  const d = new ResizeDecoder();
  t.same(d.push('{"Width":80,'), [], 'half an object waits');
  t.same(
    d.push('"Height":24}\n{"Width":100,"Height":30}\n').map((m) => m.size),
    [
      { Width: 80, Height: 24 },
      { Width: 100, Height: 30 },
    ],
  );
  t.same(
    d.push('garbage{"Width":-1,"Height":3}{"Width":"x"}{"Width":7,"Height":9}').map((m) => m.size),
    [{ Width: 7, Height: 9 }],
    'invalid sizes are skipped',
  );
  t.equal(d.push('{"Width":1,"Height":2}').at(0)?.text, '{"Width":1,"Height":2}', 'the text is kept for the recording');
  t.same(d.push('{' + 'x'.repeat(10_000)), [], 'an object that never ends');
  t.same(
    d.push('{"Width":5,"Height":6}').map((m) => m.size),
    [{ Width: 5, Height: 6 }],
    'is dropped, not kept growing',
  );
  t.equal(encodeTerminalSize({ Width: 120, Height: 40 }), '{"Width":120,"Height":40}\n', "client-go's encoding");
});

t.test('the error channel between protocol versions', async (t) => {
  const v4Failure = Buffer.from(
    JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    }),
  );
  const fromV4 = outcomeFromErrorChannel(v4Failure, true);
  t.equal(fromV4.exitCode, 3);
  t.equal(errorChannelBytes(fromV4, true, true), v4Failure, 'v4 to v4: the same bytes');
  t.equal(
    errorChannelBytes(fromV4, false, true).toString(),
    'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
    'v4 to v1..v3: the message',
  );

  const success = outcomeFromErrorChannel(Buffer.from('{"metadata":{},"status":"Success"}'), true);
  t.equal(success.exitCode, 0);
  t.equal(errorChannelBytes(success, false, true).length, 0, 'success is silence before v4');

  const fromV1 = outcomeFromErrorChannel(Buffer.from('command terminated with non-zero exit code: error executing command [false], exit code 1'), false);
  t.equal(fromV1.exitCode, 1, 'the exit code is recovered from the kubelet wording');
  t.match(
    JSON.parse(errorChannelBytes(fromV1, true, false).toString()),
    { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '1' }] } },
    'v1 to v4: a Status kubectl turns into its exit code',
  );
  t.equal(
    errorChannelBytes(fromV1, false, false).toString(),
    'command terminated with non-zero exit code: error executing command [false], exit code 1',
    'v1 to v1: the same text',
  );

  const other = outcomeFromErrorChannel(Buffer.from('container not found ("x")'), false);
  t.equal(other.exitCode, undefined, 'no exit code in an arbitrary message');
  t.match(JSON.parse(errorChannelBytes(other, true, false).toString()), { status: 'Failure', message: 'container not found ("x")' });

  const silentV1 = outcomeFromErrorChannel(Buffer.alloc(0), false);
  t.equal(silentV1.exitCode, 0);
  t.same(JSON.parse(errorChannelBytes(silentV1, true, false).toString()), { metadata: {}, status: 'Success' });

  const broken = failureOutcome('kubetape: the connection to the cluster ended unexpectedly');
  t.match(JSON.parse(errorChannelBytes(broken, true, true).toString()), { kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500 });
  t.equal(errorChannelBytes(broken, false, true).toString(), 'kubetape: the connection to the cluster ended unexpectedly');
});

t.test('exec and port-forward queries', async (t) => {
  const exec = parseExecRequest(
    'exec',
    target('/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&command=echo%20a%26b&container=c&stdin=true&stdout=1&stderr=true&tty=true'),
  );
  t.same(
    exec,
    { ok: true, value: { command: ['sh', '-c', 'echo a&b'], container: 'c', tty: true, stdin: true, stdout: true, stderr: false } },
    'repeated command=, Go booleans, no stderr with a tty',
  );
  t.same(parseExecRequest('attach', target('/x/attach?stdin=true&stdout=false')), {
    ok: true,
    value: { command: [], tty: false, stdin: true, stdout: false, stderr: false },
  });
  t.match(parseExecRequest('exec', target('/x/exec?stdout=true')), { ok: false, message: /at least 1 command/ });
  t.match(parseExecRequest('exec', target('/x/exec?command=ls')), { ok: false, message: /at least 1 of stdin, stdout, stderr/ });
  t.same(parsePortForwardRequest(target('/x/portforward?ports=80,443&ports=8080')), { ok: true, value: { ports: [80, 443, 8080] } });
  t.same(parsePortForwardRequest(target('/x/portforward')), { ok: true, value: { ports: [] } });
  t.match(parsePortForwardRequest(target('/x/portforward?ports=0')), { ok: false });
  t.match(parsePortForwardRequest(target('/x/portforward?ports=http')), { ok: false });
  t.equal(streamKind(requestAttributes('POST', target('/api/v1/namespaces/d/pods/p/exec?command=x'))), 'exec');
  t.equal(streamKind(requestAttributes('GET', target('/api/v1/namespaces/d/pods/p/portforward'))), 'portforward');
  t.equal(streamKind(requestAttributes('GET', target('/api/v1/namespaces/d/pods/p/proxy'))), undefined);
  t.equal(streamKind(requestAttributes('GET', target('/api/v1/namespaces/d/services/s/exec'))), undefined);
});

function upgrade(headers: Record<string, string>): IncomingMessage {
  return { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) } as unknown as IncomingMessage;
}

t.test('protocol negotiation with the client', async (t) => {
  const ws = (protocols?: string) => upgrade({ Upgrade: 'websocket', ...(protocols ? { 'Sec-WebSocket-Protocol': protocols } : {}) });
  t.match(negotiateClient(ws('v5.channel.k8s.io'), 'exec', 'websocket'), {
    ok: true,
    plan: { kind: 'exec-websocket', protocol: { name: 'v5.channel.k8s.io', closeSignal: true } },
  });
  t.match(
    negotiateClient(ws('base64.channel.k8s.io, v4.channel.k8s.io'), 'exec', 'websocket'),
    { plan: { protocol: { name: 'base64.channel.k8s.io', binary: false } } },
    "the client's order wins",
  );
  t.match(
    negotiateClient(ws(), 'attach', 'websocket'),
    { plan: { protocol: { name: '', binary: true, statusJson: false } } },
    'no subprotocol: binary v1, as the kubelet',
  );
  t.match(negotiateClient(ws('v9.channel.k8s.io'), 'exec', 'websocket'), { ok: false, code: 400 });
  t.match(
    negotiateClient(ws('base64url.bearer.authorization.k8s.io.dG9r, v4.channel.k8s.io'), 'exec', 'websocket'),
    { plan: { protocol: { name: 'v4.channel.k8s.io' } } },
    'a token is not a protocol',
  );
  t.match(negotiateClient(ws('SPDY/3.1+portforward.k8s.io'), 'portforward', 'websocket', { ports: [] }), { plan: { kind: 'portforward-tunnel' } });
  t.match(negotiateClient(ws('v4.channel.k8s.io'), 'portforward', 'websocket', { ports: [80] }), {
    plan: { kind: 'portforward-websocket', protocol: { binary: true } },
  });
  t.match(negotiateClient(ws('v4.channel.k8s.io'), 'portforward', 'websocket', { ports: [] }), { ok: false, code: 400, message: /ports/ });

  const spdy = (versions?: string) => upgrade({ Upgrade: 'SPDY/3.1', ...(versions ? { 'X-Stream-Protocol-Version': versions } : {}) });
  t.match(negotiateClient(spdy('v4.channel.k8s.io, v3.channel.k8s.io'), 'exec', 'spdy'), {
    plan: { kind: 'exec-spdy', protocol: { name: 'v4.channel.k8s.io', statusJson: true } },
  });
  t.match(negotiateClient(spdy('v2.channel.k8s.io'), 'exec', 'spdy'), { plan: { protocol: { name: 'v2.channel.k8s.io', resize: false } } });
  t.match(negotiateClient(spdy(), 'exec', 'spdy'), { plan: { protocol: { name: 'channel.k8s.io' } } }, 'no header: v1');
  t.match(negotiateClient(spdy('v9.channel.k8s.io'), 'exec', 'spdy'), { ok: false, code: 403, message: /unable to negotiate protocol/ });
  t.match(negotiateClient(spdy('portforward.k8s.io'), 'portforward', 'spdy'), { plan: { kind: 'portforward-spdy', protocol: 'portforward.k8s.io' } });

  t.same(offeredWebSocketProtocols(['a, b', 'c']), ['a', 'b', 'c']);
  t.equal(
    bearerTokenFromProtocols(['v4.channel.k8s.io', `base64url.bearer.authorization.k8s.io.${Buffer.from('secret-token').toString('base64url')}`]),
    'secret-token',
  );
  t.equal(bearerTokenFromProtocols(['v4.channel.k8s.io']), undefined);
});
