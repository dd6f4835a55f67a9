// SPDY/3.1 as kubectl and client-go speak it: framing, header compression,
// sessions (server and client role) and the HTTP/1.1 upgrade around them.
export { SPDY3_DICTIONARY } from './dictionary.js';
export { ControlType, GoAwayStatus, RstStatus, SettingId, SpdyProtocolError, decodeFrame, decodeFrameHead, encodeFrame, type SpdyFrame } from './frames.js';
export { FrameParser, type ParserLimits, type ParseResult } from './parser.js';
export {
  HeaderCompressor,
  HeaderDecompressor,
  decodeHeaderBlock,
  encodeHeaderBlock,
  normalizeHeaders,
  type SpdyHeaders,
  type SpdyHeadersInit,
} from './header-codec.js';
export { SpdyConnection, SpdyStreamResetError, type GoAwayInfo, type OpenStreamOptions, type SpdyConnectionOptions, type SpdyRole } from './connection.js';
export { SpdyStream } from './stream.js';
export {
  acceptSpdyUpgrade,
  dialSpdy,
  isSpdyUpgrade,
  negotiateStreamProtocol,
  offeredStreamProtocols,
  refuseSpdyUpgrade,
  SpdyUpgradeError,
  type DialSpdyOptions,
  type DialedSpdy,
} from './upgrade.js';
