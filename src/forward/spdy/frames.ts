// SPDY/3 frame layouts and their pure encode/decode. Header blocks stay
// compressed here: compression needs the per-connection zlib context, which
// lives in header-codec.ts, so the connection pairs the two in order.
//
// Every frame starts with 8 bytes:
//   control: |1| version(15) | type(16) | flags(8) | length(24) |
//   data:    |0| stream id(31)          | flags(8) | length(24) |

export const SPDY_VERSION = 3;
export const FRAME_HEADER_SIZE = 8;
/** The 24-bit length field caps a frame's payload here. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
const STREAM_ID_MASK = 0x7fffffff;

export const ControlType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
export const FLAG_SETTINGS_CLEAR = 0x01;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  INVALID_CREDENTIALS: 10,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (the values Go's spdystream, our main peer, uses). */
export const GoAwayStatus = {
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
} as const;

/** SETTINGS ids we name; others pass through as numbers. */
export const SettingId = {
  MAX_CONCURRENT_STREAMS: 4,
  INITIAL_WINDOW_SIZE: 7,
} as const;

export interface DataFrame {
  type: 'data';
  streamId: number;
  fin: boolean;
  data: Buffer;
}
export interface SynStreamFrame {
  type: 'syn_stream';
  streamId: number;
  associatedStreamId: number;
  /** 0 (highest) .. 7 */
  priority: number;
  slot: number;
  fin: boolean;
  unidirectional: boolean;
  /** zlib-compressed name/value block */
  headerBlock: Buffer;
}
export interface SynReplyFrame {
  type: 'syn_reply';
  streamId: number;
  fin: boolean;
  headerBlock: Buffer;
}
export interface HeadersFrame {
  type: 'headers';
  streamId: number;
  fin: boolean;
  headerBlock: Buffer;
}
export interface RstStreamFrame {
  type: 'rst_stream';
  streamId: number;
  status: number;
}
export interface SettingsEntry {
  flags: number;
  id: number;
  value: number;
}
export interface SettingsFrame {
  type: 'settings';
  clearSettings: boolean;
  entries: SettingsEntry[];
}
export interface PingFrame {
  type: 'ping';
  id: number;
}
export interface GoAwayFrame {
  type: 'goaway';
  lastGoodStreamId: number;
  status: number;
}
export interface WindowUpdateFrame {
  type: 'window_update';
  /** 0 = the whole session (SPDY/3.1) */
  streamId: number;
  delta: number;
}

export type SpdyFrame =
  DataFrame | SynStreamFrame | SynReplyFrame | HeadersFrame | RstStreamFrame | SettingsFrame | PingFrame | GoAwayFrame | WindowUpdateFrame;

/** Frames that carry a compressed header block. */
export type HeaderBearingFrame = SynStreamFrame | SynReplyFrame | HeadersFrame;

/** Malformed input. The connection answers it with GOAWAY(PROTOCOL_ERROR). */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

/** The fixed 8-byte prefix, decoded. */
export type FrameHead =
  { control: true; version: number; controlType: number; flags: number; length: number } | { control: false; streamId: number; flags: number; length: number };

export function decodeFrameHead(buf: Buffer, offset = 0): FrameHead {
  const first = buf.readUInt32BE(offset);
  const flagsAndLength = buf.readUInt32BE(offset + 4);
  const flags = flagsAndLength >>> 24;
  const length = flagsAndLength & 0xffffff;
  if (first & 0x80000000) {
    return { control: true, version: (first >>> 16) & 0x7fff, controlType: first & 0xffff, flags, length };
  }
  return { control: false, streamId: first & STREAM_ID_MASK, flags, length };
}

function controlFrame(controlType: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`SPDY control frame payload too large: ${payload.length}`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  out.writeUInt32BE((0x8000 | SPDY_VERSION) * 0x10000 + controlType, 0);
  out.writeUInt32BE(flags * 0x1000000 + payload.length, 4);
  payload.copy(out, FRAME_HEADER_SIZE);
  return out;
}

function checkStreamId(id: number, allowZero = false): void {
  if (!Number.isInteger(id) || id < (allowZero ? 0 : 1) || id > STREAM_ID_MASK) {
    throw new RangeError(`invalid SPDY stream id ${id}`);
  }
}

function finFlag(fin: boolean): number {
  return fin ? FLAG_FIN : 0;
}

/** Encodes one frame (header blocks must already be compressed). */
export function encodeFrame(frame: SpdyFrame): Buffer {
  switch (frame.type) {
    case 'data': {
      checkStreamId(frame.streamId);
      if (frame.data.length > MAX_FRAME_PAYLOAD) throw new RangeError(`SPDY data frame too large: ${frame.data.length}`);
      const head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
      head.writeUInt32BE(frame.streamId, 0);
      head.writeUInt32BE(finFlag(frame.fin) * 0x1000000 + frame.data.length, 4);
      return frame.data.length === 0 ? head : Buffer.concat([head, frame.data]);
    }
    case 'syn_stream': {
      checkStreamId(frame.streamId);
      checkStreamId(frame.associatedStreamId, true);
      const fixed = Buffer.alloc(10);
      fixed.writeUInt32BE(frame.streamId, 0);
      fixed.writeUInt32BE(frame.associatedStreamId, 4);
      fixed.writeUInt8((frame.priority & 0x7) << 5, 8);
      fixed.writeUInt8(frame.slot & 0xff, 9);
      const flags = finFlag(frame.fin) | (frame.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
      return controlFrame(ControlType.SYN_STREAM, flags, Buffer.concat([fixed, frame.headerBlock]));
    }
    case 'syn_reply':
    case 'headers': {
      checkStreamId(frame.streamId);
      const id = Buffer.allocUnsafe(4);
      id.writeUInt32BE(frame.streamId, 0);
      const type = frame.type === 'syn_reply' ? ControlType.SYN_REPLY : ControlType.HEADERS;
      return controlFrame(type, finFlag(frame.fin), Buffer.concat([id, frame.headerBlock]));
    }
    case 'rst_stream': {
      checkStreamId(frame.streamId);
      const p = Buffer.allocUnsafe(8);
      p.writeUInt32BE(frame.streamId, 0);
      p.writeUInt32BE(frame.status >>> 0, 4);
      return controlFrame(ControlType.RST_STREAM, 0, p);
    }
    case 'settings': {
      const p = Buffer.allocUnsafe(4 + frame.entries.length * 8);
      p.writeUInt32BE(frame.entries.length, 0);
      frame.entries.forEach((e, i) => {
        p.writeUInt32BE((e.flags & 0xff) * 0x1000000 + (e.id & 0xffffff), 4 + i * 8);
        p.writeUInt32BE(e.value >>> 0, 8 + i * 8);
      });
      return controlFrame(ControlType.SETTINGS, frame.clearSettings ? FLAG_SETTINGS_CLEAR : 0, p);
    }
    case 'ping': {
      const p = Buffer.allocUnsafe(4);
      p.writeUInt32BE(frame.id >>> 0, 0);
      return controlFrame(ControlType.PING, 0, p);
    }
    case 'goaway': {
      checkStreamId(frame.lastGoodStreamId, true);
      const p = Buffer.allocUnsafe(8);
      p.writeUInt32BE(frame.lastGoodStreamId, 0);
      p.writeUInt32BE(frame.status >>> 0, 4);
      return controlFrame(ControlType.GOAWAY, 0, p);
    }
    case 'window_update': {
      checkStreamId(frame.streamId, true);
      if (!Number.isInteger(frame.delta) || frame.delta < 1 || frame.delta > STREAM_ID_MASK) {
        throw new RangeError(`invalid SPDY window delta ${frame.delta}`);
      }
      const p = Buffer.allocUnsafe(8);
      p.writeUInt32BE(frame.streamId, 0);
      p.writeUInt32BE(frame.delta, 4);
      return controlFrame(ControlType.WINDOW_UPDATE, 0, p);
    }
  }
}

function need(payload: Buffer, bytes: number, what: string): void {
  if (payload.length < bytes) throw new SpdyProtocolError(`${what} frame too short (${payload.length} bytes)`);
}

function exact(payload: Buffer, bytes: number, what: string): void {
  if (payload.length !== bytes) throw new SpdyProtocolError(`${what} frame has length ${payload.length}, expected ${bytes}`);
}

function nonZeroStream(id: number, what: string): number {
  if (id === 0) throw new SpdyProtocolError(`${what} frame on stream 0`);
  return id;
}

/**
 * Decodes a complete frame from its head and payload. Returns undefined for
 * control types SPDY/3 tells receivers to ignore (unknown ones, CREDENTIAL);
 * throws SpdyProtocolError for malformed frames.
 */
export function decodeFrame(head: FrameHead, payload: Buffer): SpdyFrame | undefined {
  if (!head.control) {
    return { type: 'data', streamId: nonZeroStream(head.streamId, 'DATA'), fin: (head.flags & FLAG_FIN) !== 0, data: payload };
  }
  if (head.version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${head.version}`);
  const fin = (head.flags & FLAG_FIN) !== 0;
  switch (head.controlType) {
    case ControlType.SYN_STREAM:
      need(payload, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: nonZeroStream(payload.readUInt32BE(0) & STREAM_ID_MASK, 'SYN_STREAM'),
        associatedStreamId: payload.readUInt32BE(4) & STREAM_ID_MASK,
        priority: payload[8] >>> 5,
        slot: payload[9],
        fin,
        unidirectional: (head.flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: payload.subarray(10),
      };
    case ControlType.SYN_REPLY:
    case ControlType.HEADERS: {
      const what = head.controlType === ControlType.SYN_REPLY ? 'SYN_REPLY' : 'HEADERS';
      need(payload, 4, what);
      return {
        type: head.controlType === ControlType.SYN_REPLY ? 'syn_reply' : 'headers',
        streamId: nonZeroStream(payload.readUInt32BE(0) & STREAM_ID_MASK, what),
        fin,
        headerBlock: payload.subarray(4),
      };
    }
    case ControlType.RST_STREAM: {
      exact(payload, 8, 'RST_STREAM');
      const status = payload.readUInt32BE(4);
      if (status === 0) throw new SpdyProtocolError('RST_STREAM with status 0');
      return { type: 'rst_stream', streamId: nonZeroStream(payload.readUInt32BE(0) & STREAM_ID_MASK, 'RST_STREAM'), status };
    }
    case ControlType.SETTINGS: {
      need(payload, 4, 'SETTINGS');
      const count = payload.readUInt32BE(0);
      if (payload.length !== 4 + count * 8) throw new SpdyProtocolError(`SETTINGS frame of ${payload.length} bytes cannot hold ${count} entries`);
      const entries: SettingsEntry[] = [];
      for (let i = 0; i < count; i++) {
        const flagsAndId = payload.readUInt32BE(4 + i * 8);
        entries.push({ flags: flagsAndId >>> 24, id: flagsAndId & 0xffffff, value: payload.readUInt32BE(8 + i * 8) });
      }
      return { type: 'settings', clearSettings: (head.flags & FLAG_SETTINGS_CLEAR) !== 0, entries };
    }
    case ControlType.PING:
      exact(payload, 4, 'PING');
      return { type: 'ping', id: payload.readUInt32BE(0) };
    case ControlType.GOAWAY:
      // SPDY/2 GOAWAY had no status; SPDY/3 always sends 8 bytes.
      exact(payload, 8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: payload.readUInt32BE(0) & STREAM_ID_MASK, status: payload.readUInt32BE(4) };
    case ControlType.WINDOW_UPDATE: {
      exact(payload, 8, 'WINDOW_UPDATE');
      const delta = payload.readUInt32BE(4) & STREAM_ID_MASK;
      if (delta === 0) throw new SpdyProtocolError('WINDOW_UPDATE with delta 0');
      return { type: 'window_update', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, delta };
    }
    default:
      return undefined;
  }
}
