import os from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { createLocalExecutor } from '../executors/local/index.ts';
import { createJobRelays } from '../jobs/job-relay.ts';
import type { JobRelays } from '../jobs/job-relay.ts';
import { createJobRunner } from '../jobs/job-runner.ts';
import type { ClusterExecution, JobExecutor, JobRunner, JobStoragePort, JobTrackingPort } from '../jobs/job-runner.ts';
import { createJobStore } from '../jobs/job-store.ts';
import type { JobStore } from '../jobs/job-store.ts';

export interface JobSystem {
  store: JobStore;
  runner: JobRunner;
  relays: JobRelays;
  /** `$BULKHEAD_HOME/jobs`: one directory per tenant id, holding its running jobs' scratch directories. */
  jobsDir: string;
}

/** What the scheduler may hand out: the configured capacity, else this host's CPUs and 80% of its memory; GPUs only when declared. */
export const jobCapacity = (config: Config): { cpu: number; memoryMiB: number; gpu: number } => ({
  cpu: config.capacityCpu ?? os.availableParallelism(),
  memoryMiB: config.capacityMemoryMiB ?? Math.floor((os.totalmem() / 1024 / 1024) * 0.8),
  gpu: config.capacityGpu,
});

/**
 * Builds the job system on the local executor. Capacity is this host's CPUs and 80% of its memory
 * unless configured; GPUs only when declared. Storage and tracking ports connect datasets, code bundles,
 * outputs and MLflow runs when those services are present.
 */
export const createJobSystem = (
  config: Config,
  deps: { db: Db; tenants: TenantService; identity: IdentityService; executor?: JobExecutor; storage?: JobStoragePort; tracking?: JobTrackingPort; cluster?: ClusterExecution | undefined },
): JobSystem => {
  const store = createJobStore({ db: deps.db });
  const relays = createJobRelays();
  const jobsDir = join(config.home, 'jobs');
  const cpuIds = Array.from({ length: os.availableParallelism() }, (_, i) => i);
  const capacity = jobCapacity(config);
  const runner = createJobRunner({
    store,
    tenants: deps.tenants,
    identity: deps.identity,
    executor: deps.executor ?? createLocalExecutor({ relayPort: config.relayPort, cgroupPrefix: config.cgroupPrefix }),
    relays,
    capacity: { ...capacity, cpuIds },
    jobsDir,
    tickIntervalMs: config.schedulerIntervalMs,
    preemptGraceMs: config.preemptGraceMs,
    relayPort: config.relayPort,
    storage: deps.storage,
    tracking: deps.tracking,
    cluster: deps.cluster,
    log: {
      info: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 30, component: 'jobs', msg, ...obj })}\n`),
      error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'jobs', msg, ...obj, err: obj && 'err' in obj ? String((obj as { err: unknown }).err) : undefined })}\n`),
    },
  });
  return { store, runner, relays, jobsDir };
};
