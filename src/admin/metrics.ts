// Prometheus metrics. One registry per server instance (tests run several in
// one process), exposed on the admin listener only.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'kubetape_requests_total',
    help: 'Requests handled, by Kubernetes verb and HTTP status code.',
    labelNames: ['verb', 'code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'kubetape_request_duration_seconds',
    help: 'Time from receiving a request to the end of its response (streams included).',
    labelNames: ['verb'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'kubetape_authentication_failures_total',
    help: 'Requests refused because the caller could not be authenticated.',
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'kubetape_upstream_errors_total',
    help: 'Requests that failed because the upstream cluster could not be reached or timed out.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly recordFailures = new Counter({
    name: 'kubetape_recording_failures_total',
    help: 'Recording writes that failed. Any increase means evidence may be missing.',
    registers: [this.registry],
  });
  readonly failClosedRefusals = new Counter({
    name: 'kubetape_fail_closed_refusals_total',
    help: 'Requests refused because their recording could not be made durable (failMode closed).',
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'kubetape_bytes_total',
    help: 'Body bytes passed through, by direction (in = from callers, out = to callers).',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  readonly activeSessions = new Gauge({
    name: 'kubetape_active_sessions',
    help: 'Recording sessions currently open.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kubetape_' });
  }
}
