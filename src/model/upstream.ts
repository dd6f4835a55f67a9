// The cluster kubetape forwards to, as the forwarders need it. Built from a
// kubeconfig context by serve; anything that yields these fields will do.
import { Agent } from 'node:https';
import type { Identity, UpstreamPrincipal } from './identity.js';
import type { ImpersonationCheck, ImpersonationRequest } from './impersonation.js';

export interface UpstreamAuth {
  /** The Authorization header value kubetape sends upstream, if the credential is a token. */
  authorization?: string;
  /** Client certificate and key (PEM) when the credential is mTLS. */
  cert?: string;
  key?: string;
  /** Further headers to send upstream with this credential (Impersonate-User / Impersonate-Group). */
  headers?: Record<string, string | string[]>;
}

/**
 * What kubetape presents upstream. Sources for one shared credential ignore
 * the caller; per-caller sources (an EKS user's own role session,
 * impersonation) need the authenticated identity and throw a CredentialError
 * (403/503) when there is none for them.
 */
export interface CredentialSource {
  get(identity?: Identity): Promise<UpstreamAuth>;
  /** The upstream rejected the credential (401): fetch a fresh one (for this caller) next time. */
  invalidate(identity?: Identity): void;
  /** True when the credential depends on the caller (probes then go without one). */
  readonly perCaller?: boolean;
  /** Who the cluster will see for this caller, for recordings; undefined when it would refuse them. */
  principal?(identity: Identity): UpstreamPrincipal | undefined;
  /** Impersonation clusters: callers may impersonate when the cluster allows it; absent, Impersonate-* is refused. */
  readonly callerImpersonation?: CallerImpersonation;
}

/**
 * A cluster that lets callers impersonate once the cluster itself agrees.
 * Only impersonation-mode clusters have one: there kubetape already speaks
 * with its own credential plus Impersonate-*, so swapping in the identity the
 * caller asked for changes nothing but whom the cluster sees.
 */
export interface CallerImpersonation {
  /** The first check the cluster denies, or undefined when all are allowed. Throws when the cluster could not be asked. */
  denied(caller: Identity, request: ImpersonationRequest): Promise<ImpersonationCheck | undefined>;
  /** kubetape's own credential acting as `request` (headers built from the parsed request, never the caller's). */
  credentialAs(request: ImpersonationRequest): Promise<UpstreamAuth>;
}

export interface Upstream {
  /** The name recordings carry for this cluster (the kubeconfig context name by default). */
  name: string;
  server: URL;
  ca?: string;
  insecureSkipTlsVerify: boolean;
  credentials: CredentialSource;
  /** The kubeconfig context's namespace, carried into the kubeconfig kubetape writes. */
  namespace?: string;
}

/** Connection options for one request to the upstream, with the credential of the moment. */
export interface UpstreamTarget {
  protocol: string;
  host: string;
  hostname: string;
  port: number;
  /** Path prefix of the server URL (e.g. Rancher's /k8s/clusters/c-xxx), without a trailing slash. */
  path: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export function upstreamTarget(u: Upstream, auth: UpstreamAuth): UpstreamTarget {
  const url = u.server;
  const https = url.protocol === 'https:';
  const t: UpstreamTarget = {
    protocol: url.protocol,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : https ? 443 : 80,
    path: url.pathname.replace(/\/+$/, ''),
  };
  if (u.ca) t.ca = u.ca;
  if (auth.cert) t.cert = auth.cert;
  if (auth.key) t.key = auth.key;
  return t;
}

/**
 * One keep-alive agent for all upstream requests. Node keys its socket pools
 * by the TLS options of each request (ca, cert, key), so a rotated client
 * certificate gets fresh connections without a new agent.
 */
export function upstreamAgent(): Agent {
  return new Agent({ noDelay: true, keepAlive: true, keepAliveMsecs: 30_000, maxSockets: Infinity, maxFreeSockets: 64, scheduling: 'lifo' });
}
