// What the decoders hand the recorder: decoded events without their place in
// the session (session, seq and the offset are the exchange's to fill in),
// stamped with the time they describe.
import type { DecodedEvent } from '../../model/recording.js';

/** A decoded event before the recorder places it: `at` is the wall-clock time (ms) it describes. */
export type UnplacedEvent = Unplace<DecodedEvent>;
type Unplace<E> = E extends DecodedEvent ? Omit<E, 'session' | 'seq' | 'offsetMs'> & { at: number } : never;

/** Where decoded events go; false: take no more (the exchange ended, or the decoded record's budget is spent). */
export type DecodedSink = (ev: UnplacedEvent) => boolean;

/** A decoder met input it cannot read: the connection's decoding stops there, its raw bytes stay the record. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export interface DecodeLimits {
  /** Bytes of each decoded body (and WebSocket payload) kept: recording.maxBodyBytes. */
  maxBodyBytes: number;
}
