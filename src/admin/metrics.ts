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
  readonly approvalWebhookFailures = new Counter({
    name: 'kubetape_approval_webhook_failures_total',
    help: 'Approver notifications that could not be delivered (error, timeout or non-2xx answer).',
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

  // The AWS store's spool and uploader (issue 5). The gauges read the spool when scraped.
  private spoolSource: (() => SpoolStats) | undefined;
  readonly uploadDuration = new Histogram({
    name: 'kubetape_upload_duration_seconds',
    help: 'Time of each successful upload call, by target (dynamodb, s3).',
    labelNames: ['target'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly uploadFailures = new Counter({
    name: 'kubetape_upload_failures_total',
    help: 'Upload calls that failed (each is retried; recordings wait in the spool), by target.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly uploadRetries = new Counter({
    name: 'kubetape_upload_retries_total',
    help: 'Upload calls repeated after a failure or unprocessed BatchWrite items, by target.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly spoolRefusals = new Counter({
    name: 'kubetape_spool_full_refusals_total',
    help: 'New sessions and requests refused because the spool was full (failMode closed).',
    registers: [this.registry],
  });
  readonly spoolDroppedEvents = new Counter({
    name: 'kubetape_spool_dropped_events_total',
    help: 'Events not recorded because the spool was full (failMode open). Any increase means evidence is missing.',
    registers: [this.registry],
  });
  readonly spoolBytes = this.spoolGauge('kubetape_spool_bytes', 'Bytes in the spool (recorded locally, not yet all uploaded).', (s) => s.bytes);
  readonly spoolEvents = this.spoolGauge(
    'kubetape_spool_pending_events',
    'Events read from the spool and not yet uploaded (spool depth; bytes not read yet are in kubetape_spool_unread_bytes).',
    (s) => s.pendingEvents,
  );
  readonly spoolUnreadBytes = this.spoolGauge('kubetape_spool_unread_bytes', 'Spool bytes the uploader has not read yet.', (s) => s.unreadBytes);
  readonly spoolOldestAge = this.spoolGauge(
    'kubetape_spool_oldest_event_age_seconds',
    'Age of the oldest recorded event not yet uploaded (0 when all are).',
    (s) => s.oldestAgeSeconds,
  );
  readonly spoolFull = this.spoolGauge(
    'kubetape_spool_full',
    '1 while the spool is at its size limit: new sessions and requests are refused (failMode closed) or not recorded (open).',
    (s) => (s.full ? 1 : 0),
  );

  private spoolGauge(name: string, help: string, pick: (s: SpoolStats) => number): Gauge {
    const source = () => this.spoolSource;
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      collect(this: Gauge) {
        const s = source();
        this.set(s ? pick(s()) : 0);
      },
    });
  }

  /** The AWS store reports its spool here. */
  watchSpool(source: () => SpoolStats): void {
    this.spoolSource = source;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kubetape_' });
  }
}

export interface SpoolStats {
  bytes: number;
  pendingEvents: number;
  unreadBytes: number;
  oldestAgeSeconds: number;
  full: boolean;
}
