// W3C Trace Context (traceparent, tracestate) and W3C Baggage as a client
// sent them, checked before anything is recorded: the values come from the
// caller, are shown back to auditors and are used to join sessions, so only
// well-formed, bounded values are kept. Also the name a client gives itself
// (an MCP server's name and version). Imports nothing of ours.

/** The trace context recorded with a request. */
export interface TraceContext {
  /** The traceparent header as sent (version 00 form). */
  traceparent: string;
  /** Its trace id (32 lowercase hex): the key `sessions list --trace` and `sessions show` group by. */
  traceId: string;
  /** Its parent (span) id: the one operation (a tool call's span) the request belongs to. */
  parentId: string;
  tracestate?: string;
  baggage?: string;
}

/** W3C says vendors must propagate at least 512 characters of tracestate; longer is cut away, not kept. */
export const MAX_TRACESTATE = 512;
/** Baggage kept (the W3C limit is 8192; recordings keep less). */
export const MAX_BAGGAGE = 1024;
/** A client name such as "mcp-server-kubernetes/4.1.7". */
export const MAX_CLIENT_NAME = 128;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[ -~]*)?$/;
// Printable ASCII without the characters that would break a header or a table.
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * A traceparent as W3C Trace Context level 1 reads it: version ff is
 * invalid, version 00 has exactly four fields, an all-zero trace or parent id
 * is invalid. Later versions may append fields (kept as sent).
 */
export function parseTraceparent(v: string | undefined): { traceId: string; parentId: string } | undefined {
  if (v === undefined || v.length > 256) return undefined;
  const m = TRACEPARENT.exec(v.trim());
  if (!m) return undefined;
  const [, version, traceId, parentId, , rest] = m;
  if (version === 'ff') return undefined;
  if (version === '00' && rest) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, parentId };
}

/** The trace context from what a client sent; undefined without a valid traceparent (tracestate and baggage mean nothing alone). */
export function traceContext(traceparent: string | undefined, tracestate: string | undefined, baggage: string | undefined): TraceContext | undefined {
  const ids = parseTraceparent(traceparent);
  if (!ids || traceparent === undefined) return undefined;
  const t: TraceContext = { traceparent: traceparent.trim(), ...ids };
  const state = tracestate?.trim();
  if (state && state.length <= MAX_TRACESTATE && PRINTABLE.test(state)) t.tracestate = state;
  const bag = baggage?.trim();
  if (bag && bag.length <= MAX_BAGGAGE && PRINTABLE.test(bag)) t.baggage = bag;
  return t;
}

/** A client's name for itself (name/version), kept when short and printable. */
export function clientName(v: string | undefined): string | undefined {
  const s = v?.trim();
  if (!s || s.length > MAX_CLIENT_NAME || !/^[A-Za-z0-9@][A-Za-z0-9@._/+ :-]*$/.test(s)) return undefined;
  return s;
}
