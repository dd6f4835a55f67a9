// Content negotiation and response framing the way kube-apiserver does it:
// Accept picks JSON, YAML, a meta.k8s.io Table or PartialObjectMetadata; bodies
// of 128 KiB or more are gzipped when the client accepts gzip; bodies under
// 2 KiB carry Content-Length and larger ones go chunked (Go's net/http rule).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzip } from 'node:zlib';
import { stringify as toYaml } from 'yaml';
import { notAcceptable, type ApiError } from './errors.js';

export type Target = { kind: 'json' } | { kind: 'yaml' } | { kind: 'table'; apiVersion: string } | { kind: 'partial'; apiVersion: string; list: boolean };

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

export function parseAccept(accept: string | undefined): MediaRange[] {
  if (!accept) return [];
  return accept
    .split(',')
    .map((part) => {
      const [type, ...params] = part.split(';').map((s) => s.trim());
      const p: Record<string, string> = {};
      for (const kv of params) {
        const i = kv.indexOf('=');
        if (i > 0) p[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
      }
      return { type: type.toLowerCase(), params: p };
    })
    .filter((m) => m.type);
}

const META_VERSIONS = new Set(['v1', 'v1beta1']);

/**
 * Picks the response form. `transformable` is false for endpoints that never
 * convert (discovery, status subresources answered as objects, logs).
 */
export function negotiate(accept: string | undefined, transformable: boolean): Target {
  const ranges = parseAccept(accept);
  if (ranges.length === 0) return { kind: 'json' };
  for (const m of ranges) {
    const as = m.params.as;
    if (m.type === 'application/json' && as) {
      if (!transformable || m.params.g !== 'meta.k8s.io' || !META_VERSIONS.has(m.params.v ?? '')) continue;
      const apiVersion = `meta.k8s.io/${m.params.v}`;
      if (as === 'Table') return { kind: 'table', apiVersion };
      if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { kind: 'partial', apiVersion, list: as.endsWith('List') };
      continue;
    }
    if (m.type === 'application/json' || m.type === '*/*' || m.type === 'application/*') return { kind: 'json' };
    if (m.type === 'application/yaml') return { kind: 'yaml' };
  }
  throw notAcceptableError();
}

export function notAcceptableError(): ApiError {
  return notAcceptable('only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
}

export function contentTypeFor(t: Target): string {
  switch (t.kind) {
    case 'json':
      return 'application/json';
    case 'yaml':
      return 'application/yaml';
    case 'table':
      return `application/json;as=Table;v=${t.apiVersion.split('/')[1]};g=meta.k8s.io`;
    case 'partial':
      return `application/json;as=${t.list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata'};v=${t.apiVersion.split('/')[1]};g=meta.k8s.io`;
  }
}

const GZIP_THRESHOLD = 128 * 1024;
const CONTENT_LENGTH_LIMIT = 2048;

export interface SendOptions {
  compression: boolean;
}

/** Writes a complete response body with the real server's framing and compression. */
export function sendBody(req: IncomingMessage, res: ServerResponse, code: number, body: string, contentType: string, opts: SendOptions): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  res.statusCode = code;
  res.setHeader('Content-Type', contentType);
  const buf = Buffer.from(body);
  const acceptsGzip = /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''));
  if (opts.compression && acceptsGzip && buf.length >= GZIP_THRESHOLD) {
    gzip(buf, { level: 1 }, (err, zipped) => {
      if (res.destroyed) return;
      if (err) {
        res.end(buf);
        return;
      }
      res.setHeader('Content-Encoding', 'gzip');
      res.setHeader('Vary', 'Accept-Encoding');
      res.end(zipped);
    });
    return;
  }
  if (buf.length < CONTENT_LENGTH_LIMIT) res.setHeader('Content-Length', buf.length);
  res.end(buf);
}

export function sendObject(req: IncomingMessage, res: ServerResponse, code: number, value: unknown, target: Target, opts: SendOptions): void {
  if (target.kind === 'yaml') sendBody(req, res, code, toYaml(value), 'application/yaml', opts);
  else sendBody(req, res, code, typeof value === 'string' ? value : JSON.stringify(value), contentTypeFor(target), opts);
}
