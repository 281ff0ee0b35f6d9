/**
 * cgroup v2 backend (Debian 12, Ubuntu 22.04+, RHEL 9, current Kubernetes nodes): one unified tree.
 *
 * Where the platform's cgroups live — delegation. The platform may only write below the cgroup it was
 * given: the root cgroup when it runs as the host's (or a VM's) root, or its own cgroup when a service
 * manager delegated it (systemd `Delegate=yes`, a container with its own cgroup namespace). That
 * directory is the *base*: `<base>/<prefix>/tenant-<t>/job-<j>`.
 *
 * The no-internal-processes rule: a non-root cgroup that enables controllers for its children in
 * `cgroup.subtree_control` must hold no processes itself. So before the first job, every process in a
 * non-root base (the platform itself, its helpers) moves into the leaf `<base>/bulkhead-supervisor`,
 * then `+memory +cpu +pids [+cpuset]` is enabled in the base, in `<prefix>` and in each tenant parent.
 * Only job leaves hold job processes. Detection itself writes nothing (usage readers detect too).
 *
 * Limits: `memory.max` (+ `memory.swap.max` 0, + `memory.oom.group` 1: an OOM kills the job as a
 * whole), `cpu.max` "<quota> <period>", `pids.max`, `cpuset.cpus`. Outcomes and usage: `memory.events`
 * (`oom_kill`), `cpu.stat` (`usage_usec`), `memory.peak` (kernel ≥ 5.19), `memory.current`. Killing:
 * `cgroup.kill` (kernel ≥ 5.14) then the shared SIGKILL loop for older kernels.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupController, CgroupDriver, CgroupUsage } from './cgroups.ts';
import { CFS_PERIOD_US, exists, listUnder, makeJobHandle, MiB, parseKeyValue, pruneUnder, readPids, readText, type Layout } from './cgroups-shared.ts';

/** The leaf a non-root delegated base's own processes move into (shared by every prefix on the host). */
export const SUPERVISOR_LEAF = 'bulkhead-supervisor';

export interface CgroupV2Options {
  /**
   * This process's cgroup relative to the cgroup2 mount `root` (the `0::<path>` line of
   * /proc/self/cgroup); '/' = the root cgroup. Default: read from /proc/self/cgroup when `root` is
   * /sys/fs/cgroup, else '/' (a configured root is then itself the base).
   */
  ownCgroup?: string;
}

/** The `0::/path` entry of a /proc/<pid>/cgroup text: the process's cgroup on the unified hierarchy. */
export function parseOwnCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  }
  return undefined;
}

/** Writes `value` to `file`, retrying while the kernel answers EBUSY (e.g. a process appeared meanwhile). */
async function writeRetrying(file: string, value: string, beforeRetry: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await writeFile(file, value);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 20) throw error;
      await beforeRetry();
    }
  }
}

export async function createCgroupV2Driver(root: string, prefix: string, options: CgroupV2Options = {}): Promise<CgroupDriver | undefined> {
  let own = options.ownCgroup;
  if (own === undefined) {
    own = root === '/sys/fs/cgroup' ? (parseOwnCgroup((await readText('/proc/self/cgroup')) ?? '') ?? '/') : '/';
  }
  if (own.split('/').includes('..')) return undefined;
  // Already moved into the supervisor leaf (by this or an earlier driver): the base is its parent.
  if (own.endsWith(`/${SUPERVISOR_LEAF}`)) own = own.slice(0, -SUPERVISOR_LEAF.length - 1) || '/';
  const delegated = own !== '/';
  const base = delegated ? join(root, own) : root;
  // The controllers the base may hand to its children: for the root cgroup all that exist, for a
  // delegated cgroup those its parent enabled for it.
  const available = (await readText(join(base, 'cgroup.controllers')))?.trim().split(/\s+/) ?? [];
  const controllers = new Set<CgroupController>();
  for (const c of ['memory', 'cpu', 'pids', 'cpuset'] as const) if (available.includes(c)) controllers.add(c);
  if (!controllers.has('memory') && !controllers.has('pids') && !controllers.has('cpu')) return undefined;
  try {
    await access(join(base, 'cgroup.subtree_control'), fsConstants.W_OK);
    await access(base, fsConstants.W_OK);
  } catch {
    return undefined; // not delegated to us
  }
  // cpu.stat's usage_usec exists even without the cpu controller; report cpuacct as "available".
  controllers.add('cpuacct');
  const enable = [...controllers].filter((c) => c !== 'cpuacct').map((c) => `+${c}`).join(' ');
  const prefixDir = join(base, prefix);
  const layoutFor = (tenantId: string, jobId: string): Layout => {
    const jobDir = join(prefixDir, `tenant-${tenantId}`, `job-${jobId}`);
    return {
      jobDirs: [jobDir],
      procsFiles: [join(jobDir, 'cgroup.procs')],
      dirFor: (c) => (controllers.has(c) ? jobDir : undefined),
    };
  };
  const files = {
    async oom(dir: string) {
      return parseKeyValue(await readText(join(dir, 'memory.events')), 'oom_kill') ?? 0;
    },
    async usage(layout: Layout): Promise<CgroupUsage> {
      const usage: CgroupUsage = {};
      const dir = layout.jobDirs[0];
      if (dir === undefined) return usage;
      const usec = parseKeyValue(await readText(join(dir, 'cpu.stat')), 'usage_usec');
      if (usec !== undefined) {
        usage.cpuMs = Math.round(usec / 1000);
        usage.cpuCoreSeconds = usec / 1e6;
      }
      const peak = Number((await readText(join(dir, 'memory.peak')))?.trim() || Number.NaN); // kernel >= 5.19
      if (Number.isFinite(peak)) usage.peakMemoryBytes = usage.memoryPeakBytes = peak;
      const current = Number((await readText(join(dir, 'memory.current')))?.trim() || Number.NaN);
      if (Number.isFinite(current)) usage.memoryCurrentBytes = current;
      return usage;
    },
    async kill(dirs: string[]) {
      for (const dir of dirs) {
        const file = join(dir, 'cgroup.kill'); // kernel >= 5.14: kills the whole subtree atomically
        if (await exists(file)) await writeFile(file, '1').catch(() => undefined);
      }
    },
  };

  // Moves every process of a non-root base into the supervisor leaf (new ones may be forked while we
  // move: repeat until the base is empty).
  const vacateBase = async (): Promise<void> => {
    if (!delegated) return;
    const leafProcs = join(base, SUPERVISOR_LEAF, 'cgroup.procs');
    for (let round = 0; round < 50; round += 1) {
      const pids = await readPids(join(base, 'cgroup.procs'));
      if (pids.length === 0) return;
      for (const pid of pids) {
        await writeFile(leafProcs, String(pid)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ESRCH') throw error; // exited meanwhile
        });
      }
    }
  };
  // Base and prefix: set up once per driver (the subtree_control writes are idempotent; a concurrent
  // driver with another prefix doing the same is harmless).
  let tree: Promise<void> | undefined;
  const setUpTree = async (): Promise<void> => {
    if (delegated) await mkdir(join(base, SUPERVISOR_LEAF), { recursive: true });
    await vacateBase();
    await writeRetrying(join(base, 'cgroup.subtree_control'), enable, vacateBase);
    await mkdir(prefixDir, { recursive: true });
    await writeFile(join(prefixDir, 'cgroup.subtree_control'), enable);
  };
  const ensureTree = (): Promise<void> => {
    tree ??= setUpTree().catch((error: unknown) => {
      tree = undefined;
      throw error;
    });
    return tree;
  };
  const limitsV2 = async (dir: string, cpu: number, memoryMiB: number): Promise<void> => {
    if (controllers.has('memory')) {
      await writeFile(join(dir, 'memory.max'), String(memoryMiB * MiB));
      if (await exists(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
    }
    if (controllers.has('cpu')) {
      await writeFile(join(dir, 'cpu.max'), `${Math.max(1000, Math.round(cpu * CFS_PERIOD_US))} ${CFS_PERIOD_US}`);
    }
  };
  return {
    version: 'v2',
    root: base,
    ownCgroup: own,
    controllers,
    async createJob(tenantId, jobId, tenant, job) {
      await ensureTree();
      const tenantDir = join(prefixDir, `tenant-${tenantId}`);
      const jobDir = join(tenantDir, `job-${jobId}`);
      // Not recursive: a prefix directory that went away (pruned meanwhile) must be set up again with its
      // subtree_control, not recreated bare by mkdir -p.
      const mkTenant = (): Promise<unknown> =>
        mkdir(tenantDir).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
      try {
        await mkTenant();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        tree = undefined;
        await ensureTree();
        await mkTenant();
      }
      await writeFile(join(tenantDir, 'cgroup.subtree_control'), enable);
      await limitsV2(tenantDir, tenant.cpu, tenant.memoryMiB);
      await mkdir(jobDir, { recursive: true });
      await limitsV2(jobDir, job.cpu, job.memoryMiB);
      if (controllers.has('memory') && (await exists(join(jobDir, 'memory.oom.group')))) {
        await writeFile(join(jobDir, 'memory.oom.group'), '1');
      }
      if (controllers.has('pids')) await writeFile(join(jobDir, 'pids.max'), String(job.pids));
      if (controllers.has('cpuset') && job.cpus !== undefined) await writeFile(join(jobDir, 'cpuset.cpus'), job.cpus);
      return makeJobHandle(tenantId, jobId, layoutFor(tenantId, jobId), files);
    },
    openJob(tenantId, jobId) {
      return makeJobHandle(tenantId, jobId, layoutFor(tenantId, jobId), files);
    },
    listJobs: () => listUnder([prefixDir]),
    async pruneEmpty() {
      tree = undefined; // the prefix directory may go: the next job sets it up again
      await pruneUnder(prefixDir);
    },
  };
}
