// The console's web UI at /kubetape/ui/: the files `node ui/build.mjs`
// wrote into dist/ui/ (index.html and content-hashed assets). The shell holds
// no recording, so it is served before authentication; every recording is
// read by the page through the authenticated /kubetape/v1/ API.
//
// Recorded content is hostile and the page shows it, so every response here
// carries a strict Content-Security-Policy: scripts and styles only from this
// origin, none inline, no framing, no <base>, forms only back here. Script
// also needs 'wasm-unsafe-eval': asciinema-player's terminal emulator is a
// WebAssembly module compiled in the page, and browsers refuse that without
// it ('wasm-unsafe-eval' allows compiling WebAssembly only, never JS eval).
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendStatus } from '../model/status.js';

export const UI_PREFIX = '/kubetape/ui';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
  woff2: 'font/woff2',
  wasm: 'application/wasm',
};

/** An asset name as the build writes them: no slash, no leading dot, a known extension. */
const ASSET = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\.(js|css|png|svg|woff2|wasm)$/;

export interface UiStaticOptions {
  /** The built UI (default: dist/ui of this checkout, from source or from dist/). */
  root?: string;
}

/** Where `node ui/build.mjs` wrote the UI, whether this module runs from src/ (tests) or dist/src/ (the package). */
export function defaultUiRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/console/ -> dist/ui; src/console/ -> dist/ui
  return basename(resolve(here, '../..')) === 'dist' ? resolve(here, '../../ui') : resolve(here, '../../dist/ui');
}

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * Serves GET and HEAD under /kubetape/ui/: /kubetape/ui/assets/NAME from the
 * build (immutable: names carry a hash), and index.html for every other path
 * (the app's own routes: /kubetape/ui/sessions/ID, /kubetape/ui/approvals).
 * Anything else falls through to the next handler.
 */
export function createUiStatic(o: UiStaticOptions = {}): Handler {
  const root = o.root ?? defaultUiRoot();
  return (req, res, next) => {
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const path = url.split('?')[0];
    if (path !== UI_PREFIX && !path.startsWith(`${UI_PREFIX}/`)) return next();
    serve(root, path, req, res).catch(() => res.destroy());
  };
}

async function serve(root: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendStatus(res, 405, `${req.method} is not supported on ${UI_PREFIX}/`, 'MethodNotAllowed');
  }
  if (path === UI_PREFIX) {
    res.writeHead(308, { Location: `${UI_PREFIX}/` });
    return void res.end();
  }
  const rest = path.slice(UI_PREFIX.length + 1);
  if (rest.startsWith('assets/')) {
    const name = rest.slice('assets/'.length);
    const m = ASSET.exec(name);
    if (!m) return sendStatus(res, 404, `no such console asset`, 'NotFound');
    let data: Buffer;
    try {
      data = await readFile(join(root, 'assets', name));
    } catch {
      return sendStatus(res, 404, `no such console asset`, 'NotFound');
    }
    return send(res, req, 200, TYPES[m[1]], data, 'public, max-age=31536000, immutable');
  }
  let html: Buffer;
  try {
    html = await readFile(join(root, 'index.html'));
  } catch {
    return sendStatus(res, 503, 'the kubetape console is not built: run `node ui/build.mjs` (npm run build does)', 'ServiceUnavailable');
  }
  return send(res, req, 200, 'text/html; charset=utf-8', html, 'no-cache');
}

function send(res: ServerResponse, req: IncomingMessage, code: number, type: string, data: Buffer, cache: string): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': data.length, 'Cache-Control': cache });
  res.end(req.method === 'HEAD' ? undefined : data);
}
