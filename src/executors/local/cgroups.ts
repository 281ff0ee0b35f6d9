/**
 * Job cgroups on cgroup v1 and v2 behind one interface (CgroupDriver). Layout:
 * `<root>[/<controller>]/<prefix>/tenant-<tenantId>/job-<jobId>` — the tenant parent carries the tenant's
 * aggregate cap, the job child its own cap. Only the executor creates and removes these directories.
 *
 * The backends: cgroups-v1.ts (one hierarchy per controller; this host) and cgroups-v2.ts (the unified
 * hierarchy, with delegation: the platform's subtree is its own cgroup when it is not the root cgroup).
 * Both are exercised for real: v1 by the e2e tests on this host, v2 by the same tests inside a Debian VM
 * booted with cgroup v2 only (`npm run test:vm`, scripts/vm/). cgroups-shared.ts holds what they share.
 */
import { exists } from './cgroups-shared.ts';
import { createCgroupV1Driver } from './cgroups-v1.ts';
import { createCgroupV2Driver, type CgroupV2Options } from './cgroups-v2.ts';
import { join } from 'node:path';

export type CgroupController = 'memory' | 'cpu' | 'cpuacct' | 'pids' | 'cpuset';

export interface TenantCgroupLimits {
  cpu: number;
  memoryMiB: number;
}

export interface JobCgroupLimits {
  cpu: number;
  memoryMiB: number;
  pids: number;
  /** cpuset list; when absent the job inherits the tenant parent's CPUs. */
  cpus?: string;
}

export interface CgroupUsage {
  cpuMs?: number;
  peakMemoryBytes?: number;
  /** The same CPU time at full resolution (usage metering): cpuacct.usage ns / 1e9, usage_usec / 1e6. */
  cpuCoreSeconds?: number;
  /** The same high-water mark under its metering name. */
  memoryPeakBytes?: number;
  /** Memory in use now (v1 memory.usage_in_bytes, v2 memory.current): sampled by usage metering. */
  memoryCurrentBytes?: number;
}

export interface JobCgroup {
  readonly tenantId: string;
  readonly jobId: string;
  /** The `cgroup.procs` files a launcher must write its own pid into (one per hierarchy) before exec. */
  readonly procsFiles: readonly string[];
  /** The job's directory in the hierarchy that carries `controller` (v2: the one job directory). */
  dirFor(controller: CgroupController): string | undefined;
  /** Pids currently in the job cgroup. */
  pids(): Promise<number[]>;
  /** Sends `signal` to every process in the cgroup except `exceptPid`; returns the pids signalled. */
  signalAll(signal: NodeJS.Signals, exceptPid?: number): Promise<number[]>;
  /**
   * SIGKILLs every process until the cgroup is empty (new forks are caught by the next round; pids.max
   * bounds how many there can be). Returns every pid killed. Gives up after ~2 s and reports what is left
   * through the returned list only — callers then still try `remove()`.
   */
  killAll(): Promise<number[]>;
  /** How many processes the kernel OOM-killed in this job's memory cgroup (0 without a memory controller). */
  oomKills(): Promise<number>;
  usage(): Promise<CgroupUsage>;
  /** Kills what is left and removes the job's directories (retries while the kernel still reports busy). */
  remove(): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 'v1' | 'v2';
  /** v1: where the controller hierarchies are mounted; v2: the base cgroup directory `<prefix>` lives in. */
  readonly root: string;
  /** v2 only: this process's cgroup on the unified hierarchy ('/' = root cgroup; else delegated to us). */
  readonly ownCgroup?: string;
  readonly controllers: ReadonlySet<CgroupController>;
  /** Creates (or updates) the tenant parent and creates the job child with its limits. */
  createJob(tenantId: string, jobId: string, tenant: TenantCgroupLimits, job: JobCgroupLimits): Promise<JobCgroup>;
  /** A handle on an existing job cgroup (for orphan reaping); does not check that it exists. */
  openJob(tenantId: string, jobId: string): JobCgroup;
  /** Every job cgroup under the prefix, in any hierarchy. */
  listJobs(): Promise<Array<{ tenantId: string; jobId: string }>>;
  /** Removes empty tenant directories and the prefix directory itself when empty. Never removes a job. */
  pruneEmpty(): Promise<void>;
}

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;

/** Ids become path components: anything but this alphabet could walk out of the prefix. */
export function isSafeCgroupId(id: string): boolean {
  return idPattern.test(id);
}

/**
 * Picks the hierarchy to use under `root` (default `/sys/fs/cgroup`): v2 when `root` itself is a cgroup2
 * mount whose base (root cgroup, or our own delegated cgroup) offers memory/cpu/pids, else v1 controller
 * directories under it. Returns undefined when neither is usable (then only the `process` tier can run,
 * without cgroup limits). Writes nothing.
 */
export async function detectCgroupDriver(root = '/sys/fs/cgroup', prefix = 'bulkhead', v2: CgroupV2Options = {}): Promise<CgroupDriver | undefined> {
  if (await exists(join(root, 'cgroup.controllers'))) {
    const driver = await createCgroupV2Driver(root, prefix, v2);
    if (driver !== undefined) return driver;
  }
  return createCgroupV1Driver(root, prefix);
}
