/**
 * The platform's Prometheus metrics (every name starts with `bulkhead_`). Request metrics are observed by
 * the HTTP hooks (http-metering.ts); scheduler, job, deployment and audit gauges are read from the
 * database at scrape time (platform-snapshot.ts); process metrics from Node itself (process-metrics.ts).
 *
 * Per-tenant labels hold the tenant *id* only, bounded by `maxTenants` (first come, first labelled; the
 * rest are `tenant="_other"`). Another module adds its metrics to `registry` — one line, e.g.
 *   new Counter({ name: 'bulkhead_security_alerts_total', help: '…', labelNames: ['kind', 'tenant'], registers: [metrics.registry] })
 * and bounds its tenant label with `metrics.tenantLabel(id)`.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createBoundedLabels } from './metric-labels.ts';
import { statusClass } from './metric-labels.ts';
import type { PlatformSnapshot, SnapshotReader } from './platform-snapshot.ts';
import { registerProcessMetrics } from './process-metrics.ts';
import { createInferenceWindow } from './inference-window.ts';
import type { InferenceWindow } from './inference-window.ts';

export interface PlatformMetrics {
  readonly registry: Registry;
  /** The bounded label of a tenant id (itself, or `_other` past the limit). */
  tenantLabel(tenantId: string): string;
  /** One API request ended. `route` is the OpenAPI template (metric-labels.ts `openApiRoute`). */
  observeHttp(request: { method: string; route: string; status: number; seconds: number; tenantId: string | undefined }): void;
  /** One inference request (`/v2/...`) ended, for deployment `name` of `tenantId`. */
  observeInference(request: { tenantId: string; deployment: string; status: number; seconds: number }): void;
  /** Bytes of an artifact or dataset download sent to a tenant. */
  observeDownload(tenantId: string, bytes: number): void;
  /** This process's recent inference requests per deployment (inference-window.ts), for the console. */
  readonly inferenceWindow: InferenceWindow;
}

export interface PlatformMetricsOptions {
  /** The registry to fill (the platform's, which the audit log already writes to); a new one otherwise. */
  registry?: Registry;
  maxTenants: number;
  /** Database-derived gauges; omitted in tests of request metrics alone. */
  snapshot?: SnapshotReader;
  /** Connections of the database pool (PostgreSQL), read at scrape. */
  poolStats?: () => { total: number; idle: number; waiting: number } | undefined;
}

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Sums values per label after mapping tenants to bounded labels (several tenants share `_other`). */
const sumBy = (entries: Iterable<[string, number]>): Map<string, number> => {
  const out = new Map<string, number>();
  for (const [key, value] of entries) out.set(key, (out.get(key) ?? 0) + value);
  return out;
};

export const createPlatformMetrics = (options: PlatformMetricsOptions): PlatformMetrics => {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const tenants = createBoundedLabels(options.maxTenants);
  const deployments = createBoundedLabels(options.maxTenants);
  const tenantLabel = (tenantId: string) => tenants.label(tenantId);

  const httpRequests = new Counter({ name: 'bulkhead_http_requests_total', help: 'API requests by route template (as the OpenAPI document spells it), method and status class', labelNames: ['method', 'route', 'status_class'], registers });
  const httpDuration = new Histogram({ name: 'bulkhead_http_request_duration_seconds', help: 'API request latency by route template, method and status class', labelNames: ['method', 'route', 'status_class'], buckets: latencyBuckets, registers });
  const tenantRequests = new Counter({ name: 'bulkhead_tenant_http_requests_total', help: 'API requests per calling tenant (tenant id, bounded: the rest are _other)', labelNames: ['tenant', 'status_class'], registers });
  const inferenceRequests = new Counter({ name: 'bulkhead_inference_requests_total', help: 'Inference gateway requests per deployment (tenant id / deployment name) and status class', labelNames: ['tenant', 'deployment', 'status_class'], registers });
  const inferenceRejected = new Counter({ name: 'bulkhead_inference_rate_limited_total', help: 'Inference requests answered 429 (rate limit, concurrency cap or full queue) per deployment', labelNames: ['tenant', 'deployment'], registers });
  const inferenceDuration = new Histogram({ name: 'bulkhead_inference_request_duration_seconds', help: 'Inference request latency per deployment', labelNames: ['tenant', 'deployment'], buckets: latencyBuckets, registers });
  const httpSeries = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();
  const downloadBytes = new Counter({ name: 'bulkhead_artifact_download_bytes_total', help: 'Artifact and dataset bytes sent to each tenant', labelNames: ['tenant'], registers });

  const inferenceWindow = createInferenceWindow();

  const snapshot = options.snapshot;
  if (snapshot !== undefined) {
    const queueLength = new Gauge({ name: 'bulkhead_scheduler_queue_length', help: 'Jobs waiting in the queue (status queued), all tenants', registers, collect: () => refresh() });
    const jobs = new Gauge({ name: 'bulkhead_jobs', help: 'Jobs per tenant by state: queued, admitted, running', labelNames: ['tenant', 'state'], registers, collect: () => refresh() });
    const runningCpu = new Gauge({ name: 'bulkhead_jobs_running_cpu_cores', help: 'CPU cores requested by running jobs, per tenant', labelNames: ['tenant'], registers, collect: () => refresh() });
    const fairShare = new Gauge({ name: 'bulkhead_tenant_fair_share_ratio', help: "A tenant's fair share of the pool: its weight over the weights of tenants with jobs queued, admitted or running", labelNames: ['tenant'], registers, collect: () => refresh() });
    const usageShare = new Gauge({ name: 'bulkhead_tenant_cpu_usage_ratio', help: "A tenant's share of the CPU cores of all running jobs", labelNames: ['tenant'], registers, collect: () => refresh() });
    const admitted = new Counter({ name: 'bulkhead_jobs_admitted_total', help: 'Job admissions by the scheduler, per tenant (from the audit stream)', labelNames: ['tenant'], registers, collect: () => refresh() });
    const preempted = new Counter({ name: 'bulkhead_jobs_preempted_total', help: 'Job preemptions, per tenant (from the audit stream)', labelNames: ['tenant'], registers, collect: () => refresh() });
    const deploymentsActive = new Gauge({ name: 'bulkhead_deployments', help: 'Deployments with at least one replica wanted, per tenant', labelNames: ['tenant'], registers, collect: () => refresh() });
    const replicas = new Gauge({ name: 'bulkhead_deployment_replicas', help: 'Replicas wanted over all deployments, per tenant', labelNames: ['tenant'], registers, collect: () => refresh() });
    const sealLag = new Gauge({ name: 'bulkhead_audit_seal_lag_seconds', help: 'Age of the oldest audit event not yet sealed into its hash chain (0 when all are sealed)', registers, collect: () => refresh() });
    const unsealed = new Gauge({ name: 'bulkhead_audit_unsealed_events', help: 'Audit events not yet sealed into their hash chain', registers, collect: () => refresh() });
    const scrapeErrors = new Counter({ name: 'bulkhead_metrics_snapshot_errors_total', help: 'Scrapes whose database snapshot failed (the database gauges then keep their last values)', registers });
    // prom-client collects all metrics concurrently: each database gauge awaits the same snapshot (one
    // read per scrape, cached by the reader), and the first to get it applies it to all of them once.
    let applied: PlatformSnapshot | undefined;
    let failed: unknown;
    const refresh = async (): Promise<void> => {
      let s: PlatformSnapshot;
      try {
        s = await snapshot.read();
      } catch (error) {
        if (error !== failed) scrapeErrors.inc();
        failed = error;
        return;
      }
      if (s === applied) return;
      applied = s;
      queueLength.set(s.jobs.filter((j) => j.status === 'queued').reduce((sum, j) => sum + j.count, 0));
      jobs.reset();
      for (const state of ['queued', 'admitted', 'running'] as const) {
        for (const [tenant, n] of sumBy(s.jobs.filter((j) => j.status === state).map((j) => [tenantLabel(j.tenantId), j.count]))) jobs.set({ tenant, state }, n);
      }
      const running = s.jobs.filter((j) => j.status === 'running');
      const totalCpu = running.reduce((sum, j) => sum + j.cpu, 0);
      runningCpu.reset();
      usageShare.reset();
      for (const [tenant, cpu] of sumBy(running.map((j) => [tenantLabel(j.tenantId), j.cpu]))) {
        runningCpu.set({ tenant }, cpu);
        usageShare.set({ tenant }, totalCpu === 0 ? 0 : cpu / totalCpu);
      }
      const activeTenants = new Set(s.jobs.map((j) => j.tenantId));
      const totalWeight = [...activeTenants].reduce((sum, id) => sum + (s.weights.get(id) ?? 1), 0);
      fairShare.reset();
      for (const [tenant, share] of sumBy([...activeTenants].map((id) => [tenantLabel(id), (s.weights.get(id) ?? 1) / totalWeight]))) fairShare.set({ tenant }, share);
      for (const e of s.jobEvents) (e.event === 'admit' ? admitted : preempted).inc({ tenant: tenantLabel(e.tenantId) }, e.count);
      deploymentsActive.reset();
      replicas.reset();
      for (const [tenant, n] of sumBy(s.deployments.map((d) => [tenantLabel(d.tenantId), d.active]))) deploymentsActive.set({ tenant }, n);
      for (const [tenant, n] of sumBy(s.deployments.map((d) => [tenantLabel(d.tenantId), d.replicas]))) replicas.set({ tenant }, n);
      sealLag.set(s.auditSealLagSeconds);
      unsealed.set(s.auditUnsealedEvents);
    };
  }

  const poolStats = options.poolStats;
  if (poolStats !== undefined) {
    new Gauge({
      name: 'bulkhead_db_pool_connections', help: 'Database pool connections by state: total, idle, and requests waiting for one', labelNames: ['state'], registers,
      collect() {
        const stats = poolStats();
        if (stats === undefined) return;
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });
  }

  registerProcessMetrics(registry);

  return {
    registry,
    tenantLabel,
    inferenceWindow,
    observeHttp({ method, route, status, seconds, tenantId }) {
      // The bound children of each (method, route, status class) are kept: prom-client hashes a label
      // object on every call otherwise, which is most of what counting a request costs.
      const key = `${method} ${route} ${String(status)}`;
      let series = httpSeries.get(key);
      if (series === undefined) {
        const labels = { method, route, status_class: statusClass(status) };
        series = { count: httpRequests.labels(labels), duration: httpDuration.labels(labels) };
        httpSeries.set(key, series);
      }
      series.count.inc();
      series.duration.observe(seconds);
      if (tenantId !== undefined) tenantRequests.inc({ tenant: tenantLabel(tenantId), status_class: statusClass(status) });
    },
    observeInference({ tenantId, deployment, status, seconds }) {
      const tenant = tenantLabel(tenantId);
      // A deployment label is bounded like a tenant's; a tenant already in _other has all its deployments there.
      const name = tenant === '_other' ? '_other' : deployments.label(`${tenantId}/${deployment}`) === '_other' ? '_other' : deployment;
      inferenceRequests.inc({ tenant, deployment: name, status_class: statusClass(status) });
      if (status === 429) inferenceRejected.inc({ tenant, deployment: name });
      inferenceDuration.observe({ tenant, deployment: name }, seconds);
      inferenceWindow.observe(tenantId, deployment, status, seconds);
    },
    observeDownload(tenantId, bytes) {
      if (bytes > 0) downloadBytes.inc({ tenant: tenantLabel(tenantId) }, bytes);
    },
  };
};
