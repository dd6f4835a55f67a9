// One cluster's data path (recorder, REST forwarder, upgrade handlers), and
// the routers that pick a cluster by path when kubetape serves several.
import type { Agent } from 'node:https';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { ServeConfig } from '../config/config.js';
import type { Authenticator } from '../authenticate/identity.js';
import type { Metrics } from '../admin/metrics.js';
import type { RecordingStore } from '../store/store.js';
import { Recorder } from '../record/recorder.js';
import type { RecordingLimits } from '../record/limits.js';
import { createAdmission } from '../admission/admit.js';
import { createRestForwarder } from '../forward/rest.js';
import { createUpgradeTunnel } from '../forward/upgrade-tunnel.js';
import { createStreamHandler, type StreamHandler } from '../forward/streams/index.js';
import { refuseUpgrade } from '../forward/refuse-upgrade.js';
import type { Upstream } from '../model/upstream.js';
import { sendStatus } from '../model/status.js';
import type { PolicyHolder } from '../authorize/policy/holder.js';
import { policyStreamAuthorizer } from '../authorize/policy/guard.js';
import type { ApprovalStore } from '../authorize/approvals/store.js';
import { clusterOfTarget, unknownClusterMessage } from '../clusters/routing.js';
import { setTarget, targetOf, type UpgradeHandler } from './request-target.js';

export interface ClusterRoute {
  upstream: Upstream;
  recorder: Recorder;
  rest: RequestHandler;
  upgrade: StreamHandler;
}

export interface RouteDeps {
  config: ServeConfig;
  store: RecordingStore;
  authenticator: Authenticator;
  metrics: Metrics;
  agent: Agent;
  log: (line: string) => void;
  /** Guardrails, when a policy is configured. */
  policy?: PolicyHolder;
  /** Just-in-time approval state (with a policy). */
  approvals?: ApprovalStore;
  /** Disk reserve and per-user recording budgets, shared by every cluster's recorder. */
  limits?: RecordingLimits;
}

export function createClusterRoute(upstream: Upstream, d: RouteDeps): ClusterRoute {
  const c = d.config;
  const principal = upstream.credentials.principal?.bind(upstream.credentials);
  const recorder = new Recorder(d.store, {
    cluster: upstream.name,
    maxBodyBytes: c.recording.maxBodyBytes,
    maxStreamBytes: c.recording.maxStreamBytes,
    ...(c.recording.maxStreamEvents !== undefined ? { maxStreamEvents: c.recording.maxStreamEvents } : {}),
    ...(d.limits ? { limits: d.limits } : {}),
    idleMs: c.recording.sessionIdleSeconds * 1000,
    failMode: c.recording.failMode,
    onRecordFailure: (err) => {
      d.metrics.recordFailures.inc();
      d.log(`kubetape: RECORDING FAILURE: ${err.message}`);
    },
    ...(principal ? { principal } : {}),
    ...(d.policy ? { patterns: () => d.policy!.current.patterns } : {}),
  });
  const connectTimeoutMs = c.upstreamTimeoutSeconds * 1000;
  // One admission step per cluster; the three transports are handed it.
  const admit = createAdmission({
    authenticator: d.authenticator,
    upstream,
    recorder,
    metrics: d.metrics,
    agent: d.agent,
    ...(d.policy ? { policy: d.policy, authorizeStream: policyStreamAuthorizer(d.policy, upstream.name, d.approvals, { upstream, agent: d.agent }) } : {}),
    ...(d.approvals ? { approvals: d.approvals } : {}),
  });
  const rest = createRestForwarder({
    upstream,
    admit,
    metrics: d.metrics,
    agent: d.agent,
    responseTimeoutMs: connectTimeoutMs,
    maxRequestBodyBytes: c.maxRequestBodyBytes,
  });
  // exec, attach and port-forward are terminated and decoded; any other
  // upgrade (a WebSocket watch, a proxy subresource) is tunnelled as bytes.
  const tunnel = createUpgradeTunnel({ admit, metrics: d.metrics, connectTimeoutMs });
  const upgrade = createStreamHandler({
    admit,
    metrics: d.metrics,
    connectTimeoutMs,
    otherUpgrades: (req, socket, head, target) => void tunnel(req, socket, head, target),
  });
  return { upstream, recorder, rest, upgrade };
}

/** Requests to /clusters/NAME/... go to that cluster's forwarder with the prefix removed. */
export function routeRequests(routes: ClusterRoute[]): RequestHandler {
  const byName = new Map(routes.map((r) => [r.upstream.name, r]));
  const names = routes.map((r) => r.upstream.name);
  return (req: Request, res: Response, next: NextFunction) => {
    const target = targetOf(res);
    const p = clusterOfTarget(target);
    const route = p && byName.get(p.cluster);
    if (!p || !route) return sendStatus(res, 404, unknownClusterMessage(target, names), 'NotFound');
    setTarget(req, res, p.rest);
    return route.rest(req, res, next);
  };
}

export function routeUpgrades(routes: ClusterRoute[]): UpgradeHandler {
  const byName = new Map(routes.map((r) => [r.upstream.name, r]));
  return (req, socket, head, target) => {
    const p = clusterOfTarget(target);
    const route = p && byName.get(p.cluster);
    if (!p || !route) {
      socket.on('error', () => socket.destroy());
      return refuseUpgrade(socket, 404, unknownClusterMessage(target), 'NotFound');
    }
    setTarget(req, undefined, p.rest);
    void route.upgrade(req, socket, head, p.rest);
  };
}
