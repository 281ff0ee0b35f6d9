import os from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { createLocalExecutor, describeInventory, inventoryUnits, readGpuInventory } from '../executors/local/index.ts';
import type { GpuInventory } from '../executors/local/index.ts';
import type { ImageService } from '../images/index.ts';
import { createClusterJobBackend, createFairShareStore, createJobRelays, createRelayRefusalAuditor, createJobRunner, createJobService, createJobStore, createLocalJobBackend } from '../jobs/index.ts';
import type { ClusterExecution, FairShareStore, JobRelays, JobRunner, JobService, JobStoragePort, JobStore, JobTrackingPort } from '../jobs/index.ts';
import type { HostExecutor } from '../executors/host-executor-contract.ts';

export interface JobSystem {
  store: JobStore;
  /** Submission: quota, capacity and queue limits checked in the enqueuing transaction. */
  service: JobService;
  runner: JobRunner;
  relays: JobRelays;
  /** `$BULKHEAD_HOME/jobs`: one directory per tenant id, holding its running jobs' scratch directories. */
  jobsDir: string;
  /** Each tenant's decayed usage for fair share (issue 15), as the runner persists it. */
  fairShare: FairShareStore;
}

/** This host's GPUs: discovered in BULKHEAD_GPU_DEV_DIR, or the configured BULKHEAD_GPU_DEVICES there. */
export const gpuInventoryOf = (config: Config): GpuInventory =>
  readGpuInventory({
    devDir: config.gpuDevDir,
    ...(config.gpuDevices === undefined ? {} : { devices: config.gpuDevices }),
    ...(config.gpuMigProfiles === undefined ? {} : { migProfiles: config.gpuMigProfiles }),
  });

/**
 * What the scheduler may hand out: the configured capacity, else this host's CPUs and 80% of its memory.
 * GPUs: for local jobs the GPU units of the inventory — 1 per whole GPU, a MIG instance its compute
 * slices — (a declared BULKHEAD_CAPACITY_GPU is not trusted there: the scheduler must never count a device
 * it cannot grant); on a cluster the declared figure.
 */
export const jobCapacity = (config: Config, inventory: GpuInventory = gpuInventoryOf(config)): { cpu: number; memoryMiB: number; gpu: number } => ({
  cpu: config.capacityCpu ?? os.availableParallelism(),
  memoryMiB: config.capacityMemoryMiB ?? Math.floor((os.totalmem() / 1024 / 1024) * 0.8),
  gpu: config.executor === 'kubernetes' ? config.capacityGpu ?? 0 : inventoryUnits(inventory),
});

/** Doctor's GPU lines: the inventory, and a declared capacity that disagrees with it. */
export const describeGpus = (config: Config): string[] => {
  const inventory = gpuInventoryOf(config);
  const lines = describeInventory(inventory);
  if (config.executor === 'local' && config.capacityGpu !== undefined && config.capacityGpu !== inventoryUnits(inventory)) {
    lines.push(`  BULKHEAD_CAPACITY_GPU=${config.capacityGpu} is ignored for local jobs: the inventory has ${inventoryUnits(inventory)} unit(s)`);
  }
  return lines;
};

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
    leaderDb?: Db;
    /** OCI images (issue 17): resolving a job's `image` at submission and its rootfs at launch. */
    images?: ImageService | undefined },
): JobSystem => {
  const store = createJobStore({ db: deps.db });
  const relays = createJobRelays({ refusals: createRelayRefusalAuditor(deps.db, { error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'jobs', msg, ...obj })}\n`) }) });
  const jobsDir = join(config.home, 'jobs');
  const cpuIds = Array.from({ length: os.availableParallelism() }, (_, i) => i);
  const inventory = gpuInventoryOf(config);
  const capacity = jobCapacity(config, inventory);
  const log = {
    info: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 30, component: 'jobs', msg, ...obj })}\n`),
    error: (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level: 50, component: 'jobs', msg, ...obj, err: obj && 'err' in obj ? String((obj as { err: unknown }).err) : undefined })}\n`),
  };
  // The host executor runs local jobs; with a cluster it runs none, but still probes the host and reaps leftovers.
  // A process-tier job granted no GPU is kept off the inventory's nodes by a device cgroup.
  const gpuNodes = [...inventory.devices, ...inventory.controlNodes].map((n) => n.path);
  const executor = deps.executor ?? createLocalExecutor({ relayPort: config.relayPort, cgroupPrefix: config.cgroupPrefix, gpuNodes });
  const backend = deps.cluster === undefined
    ? createLocalJobBackend({ executor, identity: deps.identity, relays, jobsDir, relayPort: config.relayPort, preemptGraceMs: config.preemptGraceMs, diskMiB: config.jobDiskMiB, storage: deps.storage, tracking: deps.tracking, images: deps.images })
    : createClusterJobBackend({ cluster: deps.cluster, identity: deps.identity, host: executor, storage: deps.storage, tracking: deps.tracking, log });
  const fairShare = createFairShareStore({ db: deps.db, leaderDb: deps.leaderDb });
  const runner = createJobRunner({
    // The runner's writes (admissions, transitions, logs) are the leader's: fenced when replicas run.
    store: deps.leaderDb === undefined ? store : createJobStore({ db: deps.leaderDb }),
    tenants: deps.tenants,
    backend,
    capacity: { ...capacity, cpuIds },
    // Specific devices are granted only to jobs on this host; a cluster's device plugin picks its own.
    ...(deps.cluster === undefined ? { gpus: inventory } : {}),
    // Fair share on decayed usage (issue 15): the ledger's writes are the leader's too.
    fairShare: { store: fairShare, halfLifeMs: config.fairShareHalfLifeMs },
    tickIntervalMs: config.schedulerIntervalMs,
    preemptGraceMs: config.preemptGraceMs,
    tracking: deps.tracking,
    log,
  });
  const service = createJobService({ store, capacity: () => runner.capacity(), onSubmitted: () => runner.poke(), images: deps.images, gpuSharing: deps.cluster === undefined });
  return { store, service, runner, relays, jobsDir, fairShare };
};
