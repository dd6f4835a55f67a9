// What the admission step (src/admission/) hands a transport, and what a
// transport asks of it. The types live here, below admission, so that the
// transports (REST, exec/attach/port-forward, the tunnel) are given an
// `admit` function by listen and never import admission: imports run one
// way. See admission/admit.ts for the sequence itself.
import type { IncomingMessage } from 'node:http';
import type { ExecRequest, PortForwardRequest } from '../model/recording.js';
import type { Identity } from '../model/identity.js';
import type { RequestAttributes } from '../model/request-attributes.js';
import type { RequestTarget } from '../model/request-target.js';
import type { Exchange } from '../record/recorder.js';
import type { Upstream, UpstreamAuth } from '../model/upstream.js';
import type { StreamKind } from './streams/stream-request.js';
import type { InlineMasking } from './streams/inline-mask.js';
import type { TypedLineRules } from './streams/typed-line.js';

/** How the request travels: it decides which policy questions apply, never what is asked. */
export type AdmissionKind = 'rest' | 'tunnel' | StreamKind;

export interface AdmissionRequest {
  req: IncomingMessage;
  method: string;
  target: RequestTarget;
  kind: AdmissionKind;
  /** The credential the caller presented: its Authorization header, or the bearer token of a WebSocket subprotocol. */
  authorization: string | undefined;
  /**
   * Already authenticated, with the same authenticator, by the request
   * chain (kubetape's own API and cluster routing need to know who asks
   * before a request reaches a forwarder); then not authenticated again.
   */
  identity?: Identity;
  /** Transport headers worth recording beside the usual ones (Upgrade, offered subprotocols). */
  extraHeaders?: Record<string, string>;
  /** REST: reads the request body; called only once the caller is authenticated. */
  readBody?: () => Promise<Buffer | undefined>;
  /** Watches and follows (REST), and every upgrade. */
  streaming: boolean;
  exec?: ExecRequest;
  portForward?: PortForwardRequest;
  /** A refusal the transport found before the policy (a malformed query, no usable protocol): recorded, nothing else asked. */
  early?: Refusal;
  /** Aborted when the client goes away (a `hold:` then ends). */
  signal?: AbortSignal;
}

export interface Refusal {
  code: number;
  message: string;
  /** The Status reason (Forbidden, ServiceUnavailable, ...). */
  reason?: string;
}

export interface Admitted {
  /** The one target everything was decided and recorded on: what the transport sends upstream. */
  target: RequestTarget;
  identity: Identity;
  attrs: RequestAttributes;
  exchange: Exchange;
  upstream: Upstream;
  /** The credential for the upstream request (never the caller's). */
  auth: UpstreamAuth;
  body?: Buffer;
  /** REST: Secret values must be masked in the response. */
  mask?: { watch: boolean; onUnmaskable: 'refuse' | 'marker' };
  /** exec/attach: line rules on what is typed, and credential patterns masked inline. */
  typed?: TypedLineRules;
  inline?: InlineMasking;
}

export type Admission =
  | { ok: true; admitted: Admitted }
  /** `gone`: the client left while held; there is nobody to answer. */
  | { ok: false; refusal: Refusal; gone?: boolean };

export type Admit = (r: AdmissionRequest) => Promise<Admission>;
