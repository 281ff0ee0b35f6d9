/**
 * Per-tenant metrics of the platform's own resources (issue 25, "Seen"): database time from the tenant
 * database gate and bytes moved from the bandwidth limiter. Both keep cumulative counters in memory (per
 * process); these collectors copy them into the registry at scrape time, with tenant labels bounded like
 * every other tenant metric (several tenants past the bound sum into `_other`).
 */
import { Counter, Gauge } from 'prom-client';
import type { PlatformMetrics } from './platform-metrics.ts';
import type { DbTimeUsage } from '../db/index.ts';

/** What the database gate reports per tenant (db/db-time-quota.ts `usage()`). */
export type TenantDbTimeReading = DbTimeUsage;

/** What the bandwidth limiter reports per tenant (bandwidth/ `counters()`). */
export interface TenantBandwidthReading {
  tenantId: string;
  ingressBytes: number;
  egressBytes: number;
  throttledSeconds: number;
}

export interface TenantResourceSources {
  dbTime?: () => readonly TenantDbTimeReading[];
  bandwidth?: () => readonly TenantBandwidthReading[];
}

/** Sums readings per bounded tenant label. */
const perLabel = <R extends { tenantId: string }>(metrics: PlatformMetrics, readings: readonly R[], value: (r: R) => number): Map<string, number> => {
  const out = new Map<string, number>();
  for (const reading of readings) {
    const label = metrics.tenantLabel(reading.tenantId);
    out.set(label, (out.get(label) ?? 0) + value(reading));
  }
  return out;
};

export const registerTenantResourceMetrics = (metrics: PlatformMetrics, sources: TenantResourceSources): void => {
  const registers = [metrics.registry];
  /** A counter whose value is the source's cumulative figure, copied at scrape. */
  const mirroredCounter = <R extends { tenantId: string }>(name: string, help: string, read: () => readonly R[], value: (r: R) => number) =>
    new Counter({
      name, help, labelNames: ['tenant'], registers,
      collect() {
        this.reset();
        for (const [tenant, total] of perLabel(metrics, read(), value)) if (total > 0) this.inc({ tenant }, total);
      },
    });

  const { dbTime, bandwidth } = sources;
  if (dbTime !== undefined) {
    mirroredCounter('bulkhead_tenant_db_seconds_total', "Seconds the tenant's admitted database operations took (this process; waits for the embedded database's connection included)", dbTime, (r) => r.dbSeconds);
    mirroredCounter('bulkhead_tenant_db_operations_total', "The tenant's database operations (transactions and scoped reads) in this process", dbTime, (r) => r.operations);
    mirroredCounter('bulkhead_tenant_db_statement_timeouts_total', "The tenant's statements ended by its statement timeout (dbStatementTimeoutMs)", dbTime, (r) => r.statementTimeouts);
    mirroredCounter('bulkhead_tenant_db_concurrency_refusals_total', "The tenant's database operations refused over dbMaxConcurrentOperations", dbTime, (r) => r.concurrencyRefusals);
    mirroredCounter('bulkhead_tenant_db_time_rate_waits_total', "The tenant's database operations that waited for its database time per second (dbTimeMsPerSecond) to be repaid", dbTime, (r) => r.timeRateWaits);
    mirroredCounter('bulkhead_tenant_db_time_rate_wait_seconds_total', "Seconds the tenant's database operations waited for its database time per second (dbTimeMsPerSecond)", dbTime, (r) => r.timeRateWaitSeconds);
    mirroredCounter('bulkhead_tenant_db_time_rate_refusals_total', "The tenant's database operations refused (429 DB_TIME_LIMITED): its database time per second was spent further ahead than the queue wait", dbTime, (r) => r.timeRateRefusals);
    mirroredCounter('bulkhead_tenant_db_fair_share_waits_total', "The tenant's searches that waited for its fair share of the database's CPUs while other tenants were busy (BULKHEAD_DB_FAIR_SLOTS)", dbTime, (r) => r.fairShareWaits);
    new Gauge({
      name: 'bulkhead_tenant_db_active_operations', help: "The tenant's database operations admitted now (this process)", labelNames: ['tenant'], registers,
      collect() {
        this.reset();
        for (const [tenant, n] of perLabel(metrics, dbTime(), (r) => r.active)) this.set({ tenant }, n);
      },
    });
  }
  if (bandwidth !== undefined) {
    new Counter({
      name: 'bulkhead_tenant_bandwidth_bytes_total', help: 'Bytes of request (ingress) and response (egress) bodies charged to the tenant by the bandwidth limiter (this process)', labelNames: ['tenant', 'direction'], registers,
      collect() {
        this.reset();
        const readings = bandwidth();
        for (const [tenant, total] of perLabel(metrics, readings, (r) => r.ingressBytes)) if (total > 0) this.inc({ tenant, direction: 'ingress' }, total);
        for (const [tenant, total] of perLabel(metrics, readings, (r) => r.egressBytes)) if (total > 0) this.inc({ tenant, direction: 'egress' }, total);
      },
    });
    mirroredCounter('bulkhead_tenant_bandwidth_throttled_seconds_total', "Seconds the tenant's transfers waited for its bandwidth quota or its share of the platform's pipe", bandwidth, (r) => r.throttledSeconds);
  }
};

/** The admission layer's counts (src/http/tenant-admission.ts `stats()` and `holding()`), process-wide. */
export interface AdmissionReading {
  rate: number;
  in_flight: number;
  connections: number;
  held: number;
  holding: number;
}

const admissionLimits = ['rate', 'in_flight', 'connections'] as const;
const admissionMetricNames = ['bulkhead_admission_refusals_total', 'bulkhead_admission_held_refusals_total', 'bulkhead_admission_refusals_held'];

/**
 * Refusals of the admission layer in front of Fastify (docs/operations.md, "Taking a flood"), copied from its
 * counters at scrape. Process-wide, not per tenant: a refusal is not logged or metered per request, so that a
 * flood of them is not a flood of log lines and series. Registered by the app over the platform; a second
 * app over the same platform replaces the first one's.
 */
export const registerAdmissionMetrics = (metrics: PlatformMetrics, read: () => AdmissionReading): void => {
  const registers = [metrics.registry];
  for (const name of admissionMetricNames) metrics.registry.removeSingleMetric(name);
  new Counter({
    name: 'bulkhead_admission_refusals_total', help: 'Requests answered 429 before their body was read, by the limit they were over (requests_per_second is `rate`)', labelNames: ['limit'], registers,
    collect() {
      this.reset();
      const reading = read();
      for (const limit of admissionLimits) if (reading[limit] > 0) this.inc({ limit }, reading[limit]);
    },
  });
  new Counter({
    name: 'bulkhead_admission_held_refusals_total', help: 'Of those, refusals of a large body held before their answer (BULKHEAD_REFUSAL_HOLD_MS)', registers,
    collect() {
      this.reset();
      const { held } = read();
      if (held > 0) this.inc(held);
    },
  });
  new Gauge({
    name: 'bulkhead_admission_refusals_held', help: 'Refusals held now, waiting for the end of their hold (at most BULKHEAD_MAX_HELD_REFUSALS)', registers,
    collect() {
      this.set(read().holding);
    },
  });
};
