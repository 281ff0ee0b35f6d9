import os from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { createLocalExecutor } from '../executors/local/index.ts';
import { createClusterJobBackend, createJobRelays, createRelayRefusalAuditor, createJobRunner, createJobService, createJobStore, createLocalJobBackend } from '../jobs/index.ts';
import type { ClusterExecution, JobRelays, JobRunner, JobService, JobStoragePort, JobStore, JobTrackingPort } from '../jobs/index.ts';
import type { HostExecutor } from '../executors/host-executor-contract.ts';

export interface JobSystem {
  store: JobStore;
  /** Submission: quota, capacity and queue limits checked in the enqueuing transaction. */
  service: JobService;
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
 * Builds the job system: the local job backend on the host executor, or the cluster backend when a
 * cluster is given. Capacity is this host's CPUs and 80% of its memory
 * unless configured; GPUs only when declared. Storage and tracking ports connect datasets, code bundles,
 * outputs and MLflow runs when those services are present.
 */
export const createJobSystem = (
  config: Config,
  deps: { db: Db; tenants: TenantService; identity: IdentityService; executor?: HostExecutor; storage?: JobStoragePort; tracking?: JobTrackingPort; cluster?: ClusterExecution | undefined;
    /** The runner's writes go through this Db (with replicas: fenced by the leader's token); default `db`. */
    leaderDb?: Db },
): JobSystem => {
  const store = createJobStore({ db: deps.db });
  const relays = createJobRelays({ refusals: createRelayRefusalAuditor(deps.db, { error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'jobs', msg, ...obj })}\n`) }) });
  const jobsDir = join(config.home, 'jobs');
  const cpuIds = Array.from({ length: os.availableParallelism() }, (_, i) => i);
  const capacity = jobCapacity(config);
  const log = {
    info: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 30, component: 'jobs', msg, ...obj })}\n`),
    error: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'jobs', msg, ...obj, err: obj && 'err' in obj ? String((obj as { err: unknown }).err) : undefined })}\n`),
  };
  // The host executor runs local jobs; with a cluster it runs none, but still probes the host and reaps leftovers.
  const executor = deps.executor ?? createLocalExecutor({ relayPort: config.relayPort, cgroupPrefix: config.cgroupPrefix });
  const backend = deps.cluster === undefined
    ? createLocalJobBackend({ executor, identity: deps.identity, relays, jobsDir, relayPort: config.relayPort, preemptGraceMs: config.preemptGraceMs, diskMiB: config.jobDiskMiB, storage: deps.storage, tracking: deps.tracking })
    : createClusterJobBackend({ cluster: deps.cluster, identity: deps.identity, host: executor, storage: deps.storage, tracking: deps.tracking, log });
  const runner = createJobRunner({
    // The runner's writes (admissions, transitions, logs) are the leader's: fenced when replicas run.
    store: deps.leaderDb === undefined ? store : createJobStore({ db: deps.leaderDb }),
    tenants: deps.tenants,
    backend,
    capacity: { ...capacity, cpuIds },
    tickIntervalMs: config.schedulerIntervalMs,
    preemptGraceMs: config.preemptGraceMs,
    tracking: deps.tracking,
    log,
  });
  const service = createJobService({ store, capacity: () => runner.capacity(), onSubmitted: () => runner.poke() });
  return { store, service, runner, relays, jobsDir };
};
