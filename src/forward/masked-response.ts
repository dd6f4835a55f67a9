// Relays an upstream response with Secret values masked, for the requests
// the policy says must not see them. Only these responses leave the
// zero-copy path: the body is decoded (gzip included), transformed, and
// re-sent without Content-Encoding. Watches are transformed line by line
// and keep streaming; lists are masked item by item as they stream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { maskJsonBody, maskSecretsIn } from '../mask/mask-secrets.js';
import { MAX_MASKED_OBJECT_BYTES, StreamingSecretMasker } from '../mask/mask-list-stream.js';
import { statusObject } from '../model/status.js';

export interface MaskedRelayOptions {
  watch: boolean;
  /** What to do with a body that cannot be masked (protobuf). */
  onUnmaskable: 'refuse' | 'marker';
  /** Every byte written to the client, for the recorder. */
  onData(chunk: Buffer): void;
  /** The response as the client got it: status, and an error when it broke. */
  onEnd(status: number, error?: string): void;
}

const HOP_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive']);

export function relayMasked(up: IncomingMessage, res: ServerResponse, options: MaskedRelayOptions): void {
  // An abort and the upstream error it may cause must not end the exchange twice.
  let ended = false;
  const o: MaskedRelayOptions = {
    ...options,
    onEnd: (code, error) => {
      if (ended) return;
      ended = true;
      options.onEnd(code, error);
    },
  };
  const status = up.statusCode ?? 502;
  const contentType = String(up.headers['content-type'] ?? '');
  if (!/json/i.test(contentType) && status < 400 && contentType !== '') {
    if (o.onUnmaskable === 'refuse') {
      up.resume();
      const body = JSON.stringify(
        statusObject(
          406,
          `kubetape masks Secret values and cannot do so in ${contentType.split(';')[0]}; ask for application/json (kubectl does by default)`,
          'NotAcceptable',
        ),
      );
      res.writeHead(406, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      o.onData(Buffer.from(body));
      o.onEnd(406, 'refused: Secret response in a format that cannot be masked');
      return;
    }
    // marker: the client gets the body as sent; the recorder stores only a marker for Secrets.
    copyHeaders(up, res, true);
    res.writeHead(status);
    // A quiet watch has no first bytes to carry the head: it goes out now, as the cluster sent it.
    if (o.watch) res.flushHeaders();
    up.on('data', (c: Buffer) => {
      o.onData(c);
      res.write(c);
    });
    up.once('end', () => {
      res.end();
      o.onEnd(status);
    });
    up.once('error', (e) => {
      res.destroy();
      o.onEnd(status, `upstream stream failed: ${e.message}`);
    });
    return;
  }

  const body = decoded(up);
  copyHeaders(up, res, false);
  const decoder = new StringDecoder('utf8');
  const fail = (e: Error) => {
    res.destroy();
    o.onEnd(status, `upstream stream failed: ${e.message}`);
  };
  body.once('error', fail);
  if (body !== up) up.once('error', fail);

  if (o.watch && status < 400) {
    res.writeHead(status);
    res.flushHeaders();
    let partial = '';
    const emit = (line: string) => {
      if (line.trim() === '') return;
      let out: string;
      try {
        out = JSON.stringify(maskSecretsIn(JSON.parse(line))) + '\n';
      } catch {
        // A line that is not JSON cannot hold a Secret kubectl would decode; drop nothing silently.
        out = line + '\n';
      }
      const buf = Buffer.from(out);
      o.onData(buf);
      res.write(buf);
    };
    body.on('data', (c: Buffer) => {
      const lines = (partial + decoder.write(c)).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) emit(l);
    });
    body.once('end', () => {
      emit(partial + decoder.end());
      res.end();
      o.onEnd(status);
    });
    return;
  }

  if (status >= 400) {
    // Error bodies are small Status objects (or a proxy's text): masked whole, as before.
    relayWhole(body, res, status, o, decoder);
    return;
  }
  relayStreaming(body, up, res, status, o);
}

/**
 * A get or list, masked as it streams: the list envelope goes out as it
 * comes, items one at a time (StreamingSecretMasker), so memory is bounded by
 * the largest object. A body that completes before any output (a get) still
 * goes out with a Content-Length. Malformed JSON ends the response with an
 * error: a 502 Status if nothing was sent yet, else a broken transfer. No
 * unmasked byte is ever written.
 */
function relayStreaming(body: Readable, up: IncomingMessage, res: ServerResponse, status: number, o: MaskedRelayOptions): void {
  const masker = new StreamingSecretMasker();
  let started = false;
  let over = false;
  let waiting = false;
  const send = (buf: Buffer) => {
    if (buf.length === 0) return;
    if (!started) {
      started = true;
      res.writeHead(status);
    }
    o.onData(buf);
    // A slow client holds the upstream back instead of letting output pile up here.
    if (!res.write(buf) && !waiting) {
      waiting = true;
      body.pause();
      res.once('drain', () => {
        waiting = false;
        body.resume();
      });
    }
  };
  const abort = (e: Error) => {
    over = true;
    body.removeAllListeners('data');
    body.resume(); // drain what is left without looking at it
    up.destroy();
    const message = `kubetape could not mask the response: ${e.message}`;
    if (!started && !res.headersSent) {
      const text = JSON.stringify(statusObject(502, message, 'InternalError'));
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.writeHead(502, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      o.onData(Buffer.from(text));
      o.onEnd(502, message);
    } else {
      res.destroy();
      o.onEnd(status, message);
    }
  };
  body.on('data', (c: Buffer) => {
    if (over) return;
    try {
      send(masker.write(c));
    } catch (e) {
      abort(e as Error);
    }
  });
  body.once('end', () => {
    if (over) return;
    let rest: Buffer;
    try {
      rest = masker.end();
    } catch (e) {
      abort(e as Error);
      return;
    }
    over = true;
    if (!started) {
      res.setHeader('Content-Length', rest.length);
      res.writeHead(status);
    }
    res.end(rest);
    if (rest.length > 0) o.onData(rest);
    o.onEnd(status);
  });
}

/** The whole body decoded, masked and re-sent: for error responses only. */
function relayWhole(body: Readable, res: ServerResponse, status: number, o: MaskedRelayOptions, decoder: StringDecoder): void {
  let text = '';
  let over = false;
  body.on('data', (c: Buffer) => {
    if (over) return;
    text += decoder.write(c);
    if (text.length > MAX_MASKED_OBJECT_BYTES) {
      over = true;
      body.resume();
      res.destroy();
      o.onEnd(status, `kubetape could not mask the response: an error body larger than ${MAX_MASKED_OBJECT_BYTES} bytes`);
    }
  });
  body.once('end', () => {
    if (over) return;
    text += decoder.end();
    const out = Buffer.from(maskJsonBody(text).text);
    res.setHeader('Content-Length', out.length);
    res.writeHead(status);
    res.end(out);
    o.onData(out);
    o.onEnd(status);
  });
}

function decoded(up: IncomingMessage): Readable {
  const enc = String(up.headers['content-encoding'] ?? '').toLowerCase();
  if (enc === 'gzip') return up.pipe(createGunzip());
  if (enc === 'deflate') return up.pipe(createInflate());
  return up;
}

function copyHeaders(up: IncomingMessage, res: ServerResponse, keepEncoding: boolean): void {
  for (const [name, value] of Object.entries(up.headers)) {
    if (value === undefined) continue;
    if (HOP_HEADERS.has(name) && !(keepEncoding && (name === 'content-encoding' || name === 'content-length'))) continue;
    res.setHeader(name, value);
  }
}
