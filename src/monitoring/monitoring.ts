/**
 * Monitoring assembled: the Prometheus metrics, the in-memory request usage counters and their periodic
 * flush, the periodic job metering and storage sampling, and the usage reads. Built by the composition
 * root; the timers run only in the server (`start`), and `stop` flushes before the database closes.
 */
import type { Registry } from 'prom-client';
import type { Db } from '../db/index.ts';
import type { RateCard } from '../contract/usage.ts';
import { meterEndedJobs } from './job-metering.ts';
import { createPlatformMetrics } from './platform-metrics.ts';
import type { PlatformMetrics } from './platform-metrics.ts';
import { createSnapshotReader } from './platform-snapshot.ts';
import { sampleStorage } from './storage-sampling.ts';
import { createCgroupSampling } from './cgroup-sampling.ts';
import type { CgroupReader } from './cgroup-sampling.ts';
import { createUsageAccumulator } from './usage-accumulator.ts';
import type { UsageAccumulator } from './usage-accumulator.ts';
import { createUsageService } from './usage-service.ts';
import type { UsageService } from './usage-service.ts';

export interface MonitoringOptions {
  maxTenants: number;
  flushIntervalMs: number;
  sampleIntervalMs: number;
  rateCard: RateCard;
}

export interface Monitoring {
  metrics: PlatformMetrics;
  /** Request-driven usage, counted in memory and flushed to the ledger. */
  usage: UsageAccumulator;
  service: UsageService;
  /** One round of the periodic work: flush the request counters, meter ended jobs, sample storage. */
  sample(): Promise<void>;
  /** Starts the flush and sampling timers (the server only; unref'd). */
  start(): void;
  /** Stops the timers and writes what is counted in memory (a graceful stop loses nothing). */
  stop(): Promise<void>;
}

export const createMonitoring = (deps: {
  db: Db;
  instanceId: string;
  registry: Registry;
  options: MonitoringOptions;
  poolStats?: () => { total: number; idle: number; waiting: number } | undefined;
  /** Reads the job and worker cgroups (local executor); without it, memory in use and workers' CPU are not sampled. */
  readCgroups?: CgroupReader;
  log: { error(obj: object, msg: string): void };
}): Monitoring => {
  const { db, options } = deps;
  const metrics = createPlatformMetrics({
    registry: deps.registry, maxTenants: options.maxTenants, snapshot: createSnapshotReader(db),
    ...(deps.poolStats === undefined ? {} : { poolStats: deps.poolStats }),
  });
  const usage = createUsageAccumulator({ db, instanceId: deps.instanceId, intervalMs: options.flushIntervalMs, onError: (error) => deps.log.error({ err: error }, 'usage flush failed; the counts are kept and retried') });
  const service = createUsageService({ db, rateCard: options.rateCard });
  let timer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> | undefined;
  const sampleCgroups = deps.readCgroups === undefined ? undefined : createCgroupSampling({ db, instanceId: deps.instanceId, intervalMs: options.sampleIntervalMs, read: deps.readCgroups });
  const sampleOnce = async (): Promise<void> => {
    await meterEndedJobs(db);
    await sampleStorage(db, options.sampleIntervalMs);
    if (sampleCgroups !== undefined) await sampleCgroups();
  };
  const sample = async (): Promise<void> => {
    await usage.flush();
    await sampleOnce();
  };
  return {
    metrics, usage, service, sample,
    start() {
      usage.start();
      if (timer !== undefined) return;
      timer = setInterval(() => {
        if (sampling !== undefined) return;
        sampling = sampleOnce()
          .catch((error: unknown) => deps.log.error({ err: error }, 'usage sampling failed'))
          .finally(() => { sampling = undefined; });
      }, options.sampleIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await sampling;
      await usage.stop();
      await meterEndedJobs(db).catch((error: unknown) => deps.log.error({ err: error }, 'usage sampling failed'));
      // The serving workers' CPU up to now (they are stopped after this, with the deployments).
      await sampleCgroups?.().catch((error: unknown) => deps.log.error({ err: error }, 'usage sampling failed'));
    },
  };
};
