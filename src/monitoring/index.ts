/**
 * Monitoring: Prometheus metrics (every name `bulkhead_…`, served on a listener of their own), and usage
 * metering — the per-tenant usage ledger in hourly buckets (jobs from their cgroups, storage sampled,
 * requests counted in memory and flushed), its reads, and the chargeback report priced by the rate card.
 *
 * Owns: metric definitions and label bounds, the HTTP hooks that count requests, the `/metrics` listener,
 * the ledger's writes and reads. Deliberately does not own: measuring a job (the executor reads its cgroup
 * and the job store keeps the measurement), authorization of the usage routes (http/), or security
 * alerting (security/, which adds its metrics to `metrics.registry`).
 */
export { createMonitoring } from './monitoring.ts';
export type { Monitoring, MonitoringOptions } from './monitoring.ts';
export { createPlatformMetrics } from './platform-metrics.ts';
export type { PlatformMetrics } from './platform-metrics.ts';
export { createSnapshotReader } from './platform-snapshot.ts';
export { registerRequestMetering } from './http-metering.ts';
export type { RequestMetering } from './http-metering.ts';
export { startMetricsServer } from './metrics-server.ts';
export type { MetricsServer } from './metrics-server.ts';
export { createBoundedLabels, openApiRoute, OTHER_LABEL, UNMATCHED_ROUTE } from './metric-labels.ts';
export { createUsageAccumulator } from './usage-accumulator.ts';
export type { UsageAccumulator } from './usage-accumulator.ts';
export { meterEndedJobs, meterInterruptedJobs, recordAttempt, attemptEntries } from './job-metering.ts';
export type { CgroupUsageReader, MeasuredUsage } from './job-metering.ts';
export { sampleStorage } from './storage-sampling.ts';
export { createCgroupSampling, isServingWorker } from './cgroup-sampling.ts';
export type { CgroupReader, CgroupReading } from './cgroup-sampling.ts';
export { createUsageService, usageRange, periodRange } from './usage-service.ts';
export type { UsageService, TenantUsage } from './usage-service.ts';
export { insertLedgerEntries, spreadOverHours, hourOf } from './usage-ledger.ts';
export { registerAdmissionMetrics, registerTenantResourceMetrics } from './tenant-resource-metrics.ts';
export type { TenantResourceSources, TenantDbTimeReading, TenantBandwidthReading } from './tenant-resource-metrics.ts';
export { createInferenceWindow } from './inference-window.ts';
export type { InferenceWindow, InferenceWindowStats } from './inference-window.ts';
export { readSchedulerView } from './scheduler-view.ts';
