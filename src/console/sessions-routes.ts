// The sessions API on kubetape's own listener (/kubetape/v1/whoami,
// /sessions, /sessions/ID, /sessions/ID/events|cast|live|player[/N],
// /accesses; also
// under /clusters/NAME/). Callers are authenticated like every request (a
// bearer token, or the console's cookie); what they may see is decided per
// session (visibility.ts) on every endpoint, and a session they may not see
// answers 404 like one that does not exist. Every call is itself recorded,
// as a request in the caller's own session, like the approvals API: a read
// of a recording is an access (`reads` in the summary, `GET /accesses`).
// Recorded content is served as recorded: masked values stay masked.
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { ServerResponse } from 'node:http';
import { sendStatus } from '../model/status.js';
import type { RequestTarget } from '../model/request-target.js';
import { requestAttributes } from '../model/request-attributes.js';
import type { Identity } from '../model/identity.js';
import type { RecordEvent, SessionSummary } from '../model/recording.js';
import { clientOf, recordedHeaders } from '../forward/headers.js';
import type { Recorder, Exchange } from '../record/recorder.js';
import type { RecordingStore } from '../store/store.js';
import type { ConsoleConfig } from '../config/console.js';
import type { Policy } from '../authorize/policy/types.js';
import { isApprover, isViewer, maySee, scopedFilter, visibilityOf, type Visibility } from './visibility.js';
import { QueryError, encodeCursor, isSessionId, parseListQuery } from './list-query.js';
import { AsciicastWriter, castLines } from './asciicast.js';
import { DEFAULT_SEGMENTS, segmentCast, segmentIndex, type CastEvent, type CastHeader, type SegmentedCast } from './cast-segments.js';
import { NoTerminalError, terminalEvents } from './terminal-events.js';
import { withoutBodies } from './event-bodies.js';
import { resolveBodyRefs } from '../record/decode/body-refs.js';
import { followSession } from './live.js';
import { listAccesses, parseAccessQuery } from './accesses.js';
import type { BrowserSession } from './browser-sessions.js';

export interface SessionsApiOptions {
  store: RecordingStore;
  /** Where each call is recorded (the caller's own session). */
  recorder: Recorder;
  console: () => ConsoleConfig | undefined;
  policy: () => Policy | undefined;
  /** How often a live view looks for new events (local store: 250 ms; AWS store: its flush interval). */
  liveIntervalMs: number;
}

/** An error answered as a Status. */
class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (id: string) => new ApiError(404, `session ${JSON.stringify(id.slice(0, 40))} not found`);

/** The path after /kubetape/v1/ (and an optional /clusters/NAME/ before it), or undefined when it is not this API's. */
function routeOf(t: RequestTarget): string[] | undefined {
  let s = t.segments;
  if (s[0] === 'clusters' && s.length >= 2) s = s.slice(2);
  if (s[0] !== 'kubetape' || s[1] !== 'v1') return undefined;
  const rest = s.slice(2);
  if (rest[0] === 'whoami' && rest.length === 1) return rest;
  if (rest[0] === 'accesses' && rest.length === 1) return rest;
  if (rest[0] === 'sessions' && (rest.length <= 3 || (rest.length === 4 && rest[2] === 'player'))) return rest;
  return undefined;
}

export function createSessionsRoutes(o: SessionsApiOptions): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const target = res.locals['target'] as RequestTarget;
    const route = routeOf(target);
    if (!route) return next();
    const identity = res.locals['identity'] as Identity;
    const browser = res.locals['browserSession'] as BrowserSession | undefined;
    const streaming = route[0] === 'sessions' && route.length === 3;
    let exchange: Exchange;
    try {
      exchange = await o.recorder.begin({
        identity,
        method: req.method,
        uri: target.uri,
        attrs: requestAttributes(req.method, target),
        headers: recordedHeaders(req.headers),
        streaming,
        ...clientOf(req),
      });
    } catch (err) {
      return sendStatus(res, 503, `kubetape refused the request because it could not be recorded: ${(err as Error).message}`, 'ServiceUnavailable');
    }
    const fail = (e: unknown) => {
      const err =
        e instanceof ApiError
          ? e
          : e instanceof QueryError
            ? new ApiError(400, e.message)
            : e instanceof NoTerminalError
              ? new ApiError(404, e.message)
              : new ApiError(500, `kubetape could not read the recordings: ${(e as Error).message}`);
      if (res.headersSent) {
        // A stream already under way cannot turn into a Status: cut it, the client sees it incomplete.
        exchange.finish(err.message, res.statusCode);
        res.destroy();
        return;
      }
      exchange.responseHead(err.code, 'application/json', undefined);
      exchange.finish(err.message, err.code);
      sendStatus(res, err.code, err.message);
    };
    const reply = (value: unknown) => {
      const out = Buffer.from(JSON.stringify(value));
      exchange.responseHead(200, 'application/json', undefined);
      exchange.responseData(out);
      exchange.finish(undefined, 200);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(out);
    };
    try {
      if (req.method !== 'GET') throw new ApiError(405, `${req.method} is not supported here (the sessions API is read-only: use GET)`);
      const vis = visibilityOf(identity, o.console(), o.policy());
      const q = target.params;
      if (route[0] === 'whoami') {
        noParams(q);
        return reply({
          user: identity.user,
          groups: identity.groups,
          viewer: isViewer(vis),
          approver: isApprover(vis),
          ...(browser ? { csrfToken: browser.csrfToken } : {}),
        });
      }
      if (route[0] === 'accesses') return reply({ items: await listAccesses(o.store, vis, parseAccessQuery(q)) });
      if (route.length === 1) return reply(await listPage(o.store, vis, q));
      const id = route[1];
      const summary = await visibleSummary(o.store, vis, id);
      if (!summary) throw notFound(id);
      if (route.length === 2) {
        onlyParams(q, ['verify']);
        // verify=false: the summary alone, without walking the hash chain. The console shows a
        // session (and starts its player) first and asks for the verification after it, since
        // the first walk of an hour-long exec takes most of a second.
        if (q.has('verify') && !flagParam(q, 'verify')) return reply({ summary });
        return reply({ summary, verification: await verify(o.store, id) });
      }
      const what = route[2];
      const done = () => exchange.finish(undefined, 200);
      if (what === 'events') return await streamEvents(o.store, id, q, res, exchange, done);
      if (what === 'cast') return await streamCast(o.store, id, q, res, exchange, done);
      if (what === 'player') return reply(await playerDocument(o.store, id, q, route[3]));
      if (what === 'live') return await streamLive(o, id, summary, q, res, exchange, done);
      throw notFound(id);
    } catch (e) {
      fail(e);
    }
  };
}

function noParams(q: URLSearchParams): void {
  for (const k of q.keys()) throw new QueryError(`unknown parameter ${JSON.stringify(k.slice(0, 40))}`);
}

function flagParam(q: URLSearchParams, name: string): boolean {
  const all = q.getAll(name);
  if (all.length === 0) return false;
  if (all.length > 1 || (all[0] !== 'true' && all[0] !== 'false')) throw new QueryError(`${name} must be true or false, given once`);
  return all[0] === 'true';
}

function seqParam(q: URLSearchParams, name: string): number | undefined {
  const all = q.getAll(name);
  if (all.length === 0) return undefined;
  if (all.length > 1 || !/^\d{1,9}$/.test(all[0]) || Number(all[0]) < 1)
    throw new QueryError(`${name} must be a request sequence number (1, 2, ...), given once`);
  return Number(all[0]);
}

function onlyParams(q: URLSearchParams, known: string[]): void {
  for (const k of q.keys()) if (!known.includes(k)) throw new QueryError(`unknown parameter ${JSON.stringify(k.slice(0, 40))} (known: ${known.join(', ')})`);
}

async function listPage(store: RecordingStore, vis: Visibility, q: URLSearchParams): Promise<{ items: SessionSummary[]; nextCursor?: string }> {
  const f = parseListQuery(q);
  const scoped = scopedFilter(vis, f);
  if (!scoped) return { items: [] };
  // One more than the page: whether there is a next page, without a second call.
  const got = await store.listSessions(scoped.exact ? { ...scoped.filter, limit: f.limit + 1 } : scoped.filter);
  const visible = scoped.exact ? got : got.filter((s) => maySee(vis, s));
  const items = visible.slice(0, f.limit);
  return visible.length > f.limit ? { items, nextCursor: encodeCursor(items[items.length - 1]) } : { items };
}

/** The session's summary when this reader may see it; undefined for an id that is malformed, unknown or someone else's. */
export async function visibleSummary(store: RecordingStore, vis: Visibility, id: string): Promise<SessionSummary | undefined> {
  if (!isSessionId(id)) return undefined;
  const s = store.summary ? await store.summary(id) : (await store.listSessions({})).find((x) => x.id === id);
  return s && maySee(vis, s) ? s : undefined;
}

async function verify(store: RecordingStore, id: string): Promise<{ ok: boolean; problems: string[] }> {
  if (!store.verify) return { ok: false, problems: ['this store cannot verify recordings'] };
  try {
    const r = await store.verify(id);
    return { ok: r.ok, problems: r.ok ? [] : (r.problems ?? (r.problem ? [r.problem] : ['does not verify'])) };
  } catch (e) {
    return { ok: false, problems: [`could not be verified: ${(e as Error).message}`] };
  }
}

/** Writes and waits for the client to take it; false when the client is gone. */
export function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/**
 * Lines gathered into writes of about 64 KiB: a write per line of a 100,000-event
 * recording (each a TLS record and an HTTP chunk) cost more than building them.
 * `push` waits only when a batch goes out and the client is slow (backpressure).
 */
export class BatchWriter {
  private parts: string[] = [];
  private size = 0;
  open = true;

  constructor(
    private readonly res: ServerResponse,
    private readonly limit = 64 * 1024,
  ) {}

  async push(text: string): Promise<boolean> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= this.limit) await this.flush();
    return this.open;
  }

  async flush(): Promise<boolean> {
    if (this.parts.length === 0 || !this.open) return this.open;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.open = await write(this.res, text);
    return this.open;
  }
}

const STREAM_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

/** Whether an event falls in the [from, to] range of request sequence numbers (the session's start and end only on an open side). */
function inRange(ev: RecordEvent, from: number | undefined, to: number | undefined): boolean {
  if (ev.type === 'session.start') return from === undefined;
  if (ev.type === 'session.end') return to === undefined;
  return (from === undefined || ev.seq >= from) && (to === undefined || ev.seq <= to);
}

/** Event types a `types=` filter may name. */
const EVENT_TYPES = new Set<string>([
  'session.start',
  'session.end',
  'request',
  'response',
  'response.chunk',
  'stream',
  'http.exchange',
  'ws.frame',
  'decode.note',
  'mcp.message',
] satisfies RecordEvent['type'][]);

/** `types=request,response`: only those event types (a timeline needs no stream events); undefined: all. */
function typesParam(q: URLSearchParams): Set<string> | undefined {
  const all = q.getAll('types');
  if (all.length === 0) return undefined;
  if (all.length > 1) throw new QueryError('types must be given once (a comma-separated list)');
  const types = all[0].split(',');
  for (const t of types)
    if (!EVENT_TYPES.has(t)) throw new QueryError(`types: unknown event type ${JSON.stringify(t.slice(0, 40))} (known: ${[...EVENT_TYPES].join(', ')})`);
  return new Set(types);
}

async function streamEvents(store: RecordingStore, id: string, q: URLSearchParams, res: ServerResponse, exchange: Exchange, done: () => void): Promise<void> {
  onlyParams(q, ['from', 'to', 'bodies', 'types']);
  const types = typesParam(q);
  const from = seqParam(q, 'from');
  const to = seqParam(q, 'to');
  if (from !== undefined && to !== undefined && to < from) throw new QueryError('to must not be before from');
  const bodies = flagParam(q, 'bodies');
  exchange.responseHead(200, 'application/x-ndjson', undefined);
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', ...STREAM_HEADERS });
  const out = new BatchWriter(res);
  // With bodies: decoded port-forward bodies recorded as references to the raw bytes are filled in from them.
  for await (const ev of bodies ? resolveBodyRefs(() => store.readSession(id)) : store.readSession(id)) {
    // Read to the end even past `to`: a long request's response (a watch) comes after later requests.
    if (!inRange(ev, from, to) || (types && !types.has(ev.type))) continue;
    if (!(await out.push(JSON.stringify(bodies ? ev : withoutBodies(ev)) + '\n'))) break;
  }
  await out.flush();
  res.end();
  done();
}

/**
 * Casts built lately, kept under the session file's version (LocalStore.sessionVersion: any write
 * to the file changes it), so an hour-long exec opened again is not rebuilt from 100,000 events.
 * Read only after the reader's visibility was checked; at most CAST_CACHE_BYTES in all.
 */
const castCache = new Map<string, { version: string; text: string }>();
const CAST_CACHE_BYTES = 64 * 1024 * 1024;

function versionOf(store: RecordingStore, id: string): string | undefined {
  const v = (store as { sessionVersion?: (id: string) => string | undefined }).sessionVersion;
  return typeof v === 'function' ? v.call(store, id) : undefined;
}

function keepCast(key: string, version: string, text: string): void {
  keepBounded(castCache, key, { version, text }, CAST_CACHE_BYTES, (c) => c.text.length);
}

/**
 * Segmented casts for the console's player (cast-segments.ts), built once per cast and kept like the
 * casts: under the session file's version, or for a minute where the store has none, so that the
 * index and the segments the player then fetches are cut from the same recording.
 */
const playerCache = new Map<string, { version: string; at: number; cast: SegmentedCast }>();
const playerBuilds = new Map<string, Promise<{ version: string; at: number; cast: SegmentedCast }>>();
/** For tests: how many cuts were made. */
export const playerCuts = { made: 0 };
const PLAYER_CACHE_CHARS = 64 * 1024 * 1024;
const UNVERSIONED_PLAYER_MS = 60_000;
const MAX_IDLE_SECONDS = 3600;

async function playerDocument(store: RecordingStore, id: string, q: URLSearchParams, segment: string | undefined): Promise<unknown> {
  onlyParams(q, ['seq', 'stdin', 'idle']);
  const seq = seqParam(q, 'seq');
  const stdin = flagParam(q, 'stdin');
  const idleText = q.getAll('idle');
  // 0 is refused: it would squeeze every gap to nothing, the whole recording into one instant (and one segment).
  if (
    idleText.length > 1 ||
    (idleText.length === 1 && (!/^\d{1,4}(?:\.\d{1,3})?$/.test(idleText[0]) || Number(idleText[0]) < 0.001 || Number(idleText[0]) > MAX_IDLE_SECONDS))
  )
    throw new QueryError(`idle must be a number of seconds from 0.001 up to ${MAX_IDLE_SECONDS}, given once`);
  const idle = idleText.length ? Number(idleText[0]) : DEFAULT_SEGMENTS.idleTimeLimit;
  if (segment !== undefined && !/^\d{1,6}$/.test(segment)) throw new QueryError('a segment is a number (0, 1, ...)');
  const key = `${id}|${seq ?? ''}|${stdin}|${idle}`;
  const version = versionOf(store, id);
  let hit = playerCache.get(key);
  if (!hit || (version ? hit.version !== version : Date.now() - hit.at > UNVERSIONED_PLAYER_MS)) {
    // Viewers opening the same recording at once (an incident, a shared link) wait for one cut, not one each.
    const flight = `${key}|${version ?? ''}`;
    let building = playerBuilds.get(flight);
    if (!building) {
      building = (async () => {
        playerCuts.made++;
        const { header, events } = await castRecords(store, id, seq, stdin);
        const built = { version: version ?? '', at: Date.now(), cast: await segmentCast(header, events, { ...DEFAULT_SEGMENTS, idleTimeLimit: idle }) };
        keepBounded(playerCache, key, built, PLAYER_CACHE_CHARS, (v) => v.cast.size);
        return built;
      })().finally(() => playerBuilds.delete(flight));
      playerBuilds.set(flight, building);
    }
    hit = await building;
  }
  const cast = hit.cast;
  if (segment === undefined) {
    const query = q.toString();
    return segmentIndex(cast, (i) => `player/${i}${query ? `?${query}` : ''}`);
  }
  const s = cast.segments[Number(segment)];
  if (!s) throw new ApiError(404, `the player has ${cast.segments.length} segments; there is no segment ${segment}`);
  return s;
}

/** The cast of a session (or of one request) as values: its size, then its events. */
async function castRecords(store: RecordingStore, id: string, seq: number | undefined, stdin: boolean): Promise<{ header: CastHeader; events: CastEvent[] }> {
  let header: CastHeader | undefined;
  const events: CastEvent[] = [];
  const writer = new AsciicastWriter(id, { stdin, markers: true }, async (r) => {
    if (Array.isArray(r)) events.push(r);
    else header = { width: r['width'] as number, height: r['height'] as number };
  });
  for await (const ev of terminalEvents(store, id, seq)) await writer.add(ev);
  await writer.end();
  return { header: header ?? { width: 80, height: 24 }, events };
}

function keepBounded<V>(cache: Map<string, V>, key: string, value: V, budget: number, sizeOf: (v: V) => number): void {
  cache.delete(key);
  cache.set(key, value);
  let total = 0;
  for (const v of cache.values()) total += sizeOf(v);
  for (const [k, v] of cache) {
    if (total <= budget) break;
    cache.delete(k);
    total -= sizeOf(v);
  }
}

async function streamCast(store: RecordingStore, id: string, q: URLSearchParams, res: ServerResponse, exchange: Exchange, done: () => void): Promise<void> {
  onlyParams(q, ['seq', 'stdin']);
  const seq = seqParam(q, 'seq');
  const stdin = flagParam(q, 'stdin');
  const out = new BatchWriter(res);
  const cacheKey = `${id}|${seq ?? ''}|${stdin}`;
  const version = versionOf(store, id);
  const cached = castCache.get(cacheKey);
  if (version && cached?.version === version) {
    exchange.responseHead(200, 'application/x-asciicast', undefined);
    res.writeHead(200, { 'Content-Type': 'application/x-asciicast', 'Content-Disposition': `attachment; filename="${id}.cast"`, ...STREAM_HEADERS });
    let ok = true;
    for (let at = 0; at < cached.text.length && ok; at += 1024 * 1024) ok = await write(res, cached.text.slice(at, at + 1024 * 1024));
    res.end();
    done();
    return;
  }
  const kept: string[] = [];
  let first = true;
  const sink = async (line: string) => {
    if (!res.headersSent) {
      exchange.responseHead(200, 'application/x-asciicast', undefined);
      res.writeHead(200, { 'Content-Type': 'application/x-asciicast', 'Content-Disposition': `attachment; filename="${id}.cast"`, ...STREAM_HEADERS });
    }
    if (version) kept.push(line);
    await out.push(line);
    // The header line goes out at once: the player can size its terminal while the rest is built.
    if (first) {
      first = false;
      await out.flush();
    }
  };
  const writer = new AsciicastWriter(id, { stdin, markers: true }, castLines(sink));
  for await (const ev of terminalEvents(store, id, seq)) {
    await writer.add(ev);
    if (!out.open) break;
  }
  if (out.open) await writer.end();
  await out.flush();
  if (out.open && version && versionOf(store, id) === version) {
    keepCast(cacheKey, version, kept.join(''));
  }
  res.end();
  done();
}

async function streamLive(
  o: SessionsApiOptions,
  id: string,
  summary: SessionSummary,
  q: URLSearchParams,
  res: ServerResponse,
  exchange: Exchange,
  done: () => void,
): Promise<void> {
  onlyParams(q, ['bodies']);
  const bodies = flagParam(q, 'bodies');
  exchange.responseHead(200, 'text/event-stream', undefined);
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Accel-Buffering': 'no', ...STREAM_HEADERS });
  // The response's close: the client went away (or the response ended). Not the request's: that closes
  // once its (empty) body is read.
  const closed = new AbortController();
  res.once('close', () => closed.abort());
  await followSession({
    store: o.store,
    id,
    live: summary.state === 'live',
    intervalMs: o.liveIntervalMs,
    signal: closed.signal,
    send: (ev) => write(res, `event: record\ndata: ${JSON.stringify(bodies ? ev : withoutBodies(ev))}\n\n`),
    heartbeat: () => write(res, ': still recording\n\n'),
  });
  if (!closed.signal.aborted) await write(res, 'event: end\ndata: {}\n\n');
  res.end();
  done();
}
