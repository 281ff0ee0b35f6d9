/**
 * Job cgroups on cgroup v1 and v2 behind one interface. Layout under each hierarchy:
 * `<root>[/<controller>]/<prefix>/tenant-<tenantId>/job-<jobId>` — the tenant parent carries the tenant's
 * aggregate cap, the job child its own cap. Only the executor creates and removes these directories.
 *
 * v1 (this host): one directory per controller hierarchy (memory, cpu, cpuacct, pids, cpuset — possibly
 * co-mounted, deduplicated by real path); a process joins by writing its pid into `cgroup.procs` of every
 * hierarchy. There is no `cgroup.kill`, so killing loops SIGKILL over `cgroup.procs` until it is empty.
 * v2: one directory; controllers must be enabled in each ancestor's `cgroup.subtree_control`.
 * The v2 code follows the kernel documentation but could not be exercised on this host (its cgroup2
 * mount offers no useful controller); the e2e tests run on v1.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, realpath, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type CgroupController = 'memory' | 'cpu' | 'cpuacct' | 'pids' | 'cpuset';

const wantedControllers: readonly CgroupController[] = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset'];

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
  readonly root: string;
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

const CFS_PERIOD_US = 100_000;
const MiB = 1024 * 1024;
const idPattern = /^[A-Za-z0-9_-]{1,64}$/;

/** Ids become path components: anything but this alphabet could walk out of the prefix. */
export function isSafeCgroupId(id: string): boolean {
  return idPattern.test(id);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function readPids(procsFile: string): Promise<number[]> {
  const text = await readText(procsFile);
  if (text === undefined) return [];
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // ESRCH: already gone between reading cgroup.procs and the kill
  }
}

/** rmdir that tolerates "already gone" and retries while the kernel still tears the cgroup down. */
async function removeDir(path: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    try {
      await rmdir(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw error;
      await sleep(10);
    }
  }
}

function parseKeyValue(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) return Number(v);
  }
  return undefined;
}

interface Layout {
  /** Directory of the job in each hierarchy (deduplicated). */
  jobDirs: string[];
  procsFiles: string[];
  /** Directory of the job in the hierarchy that carries `controller`, if any. */
  dirFor(controller: CgroupController): string | undefined;
}

function makeJobHandle(
  tenantId: string,
  jobId: string,
  layout: Layout,
  files: {
    oom: (dir: string) => Promise<number>;
    usage: (layout: Layout) => Promise<CgroupUsage>;
    kill?: (dirs: string[]) => Promise<void>;
  },
): JobCgroup {
  const pids = async (): Promise<number[]> => {
    const all = new Set<number>();
    for (const file of layout.procsFiles) for (const pid of await readPids(file)) all.add(pid);
    return [...all];
  };
  const killAll = async (): Promise<number[]> => {
    const killed = new Set<number>();
    if (files.kill !== undefined) await files.kill(layout.jobDirs);
    // A fork bomb keeps creating processes while we kill; each round catches the new ones. pids.max
    // bounds the population, so the loop converges in a few rounds.
    for (let round = 0; round < 400; round += 1) {
      const alive = await pids();
      if (alive.length === 0) break;
      for (const pid of alive) if (signalPid(pid, 'SIGKILL')) killed.add(pid);
      await sleep(round < 20 ? 1 : 5);
    }
    return [...killed];
  };
  return {
    tenantId,
    jobId,
    procsFiles: layout.procsFiles,
    pids,
    async signalAll(signal, exceptPid) {
      const sent: number[] = [];
      for (const pid of await pids()) if (pid !== exceptPid && signalPid(pid, signal)) sent.push(pid);
      return sent;
    },
    killAll,
    async oomKills() {
      const dir = layout.dirFor('memory');
      return dir === undefined ? 0 : files.oom(dir);
    },
    usage: () => files.usage(layout),
    async remove() {
      await killAll();
      for (const dir of layout.jobDirs) await removeDir(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------- v1

/** cgroup v1: `<root>/<controller>/...`; controllers that share a mount are written once. */
export async function createCgroupV1Driver(root: string, prefix: string): Promise<CgroupDriver | undefined> {
  // controller → real hierarchy directory (cpu and cpuacct are often co-mounted as cpu,cpuacct).
  const hierarchy = new Map<CgroupController, string>();
  for (const controller of wantedControllers) {
    const dir = join(root, controller);
    if (!(await exists(join(dir, 'cgroup.procs')))) continue;
    try {
      await access(dir, fsConstants.W_OK);
      hierarchy.set(controller, await realpath(dir));
    } catch {
      // read-only or not ours: not usable
    }
  }
  if (!hierarchy.has('memory') && !hierarchy.has('pids') && !hierarchy.has('cpu')) return undefined;
  const hierarchies = [...new Set(hierarchy.values())];

  const tenantPath = (base: string, tenantId: string): string => join(base, prefix, `tenant-${tenantId}`);
  // A hierarchy that carries nothing but cpuset is only needed by jobs that are given CPUs: without a
  // cpuset of its own the job would get all of its tenant's (= all of the host's) CPUs anyway, so it
  // skips that hierarchy (one mkdir, two writes, one migration and one rmdir fewer per job).
  const cpusetOnly = [...hierarchy].filter(([, base]) => [...hierarchy].every(([c, b]) => b !== base || c === 'cpuset'));
  const cpusetOnlyBase = cpusetOnly.length === 1 ? cpusetOnly[0]?.[1] : undefined;
  const jobHierarchies = (job?: { cpus?: string }): string[] =>
    job === undefined || job.cpus !== undefined ? hierarchies : hierarchies.filter((base) => base !== cpusetOnlyBase);
  const layoutFor = (tenantId: string, jobId: string, job?: { cpus?: string }): Layout => {
    const jobDirs = jobHierarchies(job).map((base) => join(tenantPath(base, tenantId), `job-${jobId}`));
    return {
      jobDirs,
      procsFiles: jobDirs.map((dir) => join(dir, 'cgroup.procs')),
      dirFor(controller) {
        const base = hierarchy.get(controller);
        return base === undefined || !jobHierarchies(job).includes(base) ? undefined : join(tenantPath(base, tenantId), `job-${jobId}`);
      },
    };
  };
  const files = {
    async oom(dir: string) {
      return parseKeyValue(await readText(join(dir, 'memory.oom_control')), 'oom_kill') ?? 0;
    },
    async usage(layout: Layout): Promise<CgroupUsage> {
      const usage: CgroupUsage = {};
      const cpuacct = layout.dirFor('cpuacct');
      if (cpuacct !== undefined) {
        const ns = Number((await readText(join(cpuacct, 'cpuacct.usage')))?.trim());
        if (Number.isFinite(ns)) {
          usage.cpuMs = Math.round(ns / 1e6);
          usage.cpuCoreSeconds = ns / 1e9;
        }
      }
      const memory = layout.dirFor('memory');
      if (memory !== undefined) {
        const bytes = Number((await readText(join(memory, 'memory.max_usage_in_bytes')))?.trim());
        if (Number.isFinite(bytes)) usage.peakMemoryBytes = usage.memoryPeakBytes = bytes;
        const current = Number((await readText(join(memory, 'memory.usage_in_bytes')))?.trim());
        if (Number.isFinite(current)) usage.memoryCurrentBytes = current;
      }
      return usage;
    },
  };

  // Facts that do not change while we run, looked up once: whether swap accounting (memsw) exists.
  const memoryBase = hierarchy.get('memory');
  const hasMemsw = memoryBase !== undefined && (await exists(join(memoryBase, 'memory.memsw.limit_in_bytes')));

  // Raising or lowering memory.limit_in_bytes and memsw must keep memsw >= limit at every step.
  const setMemory = async (dir: string, bytes: number): Promise<void> => {
    const memsw = join(dir, 'memory.memsw.limit_in_bytes');
    try {
      await writeFile(join(dir, 'memory.limit_in_bytes'), String(bytes));
      // memsw = limit: no swap beyond the memory limit, so the limit is a real limit.
      if (hasMemsw) await writeFile(memsw, String(bytes));
    } catch (error) {
      if (!hasMemsw) throw error;
      await writeFile(memsw, String(bytes));
      await writeFile(join(dir, 'memory.limit_in_bytes'), String(bytes));
    }
  };

  const setCpu = async (dir: string, cores: number): Promise<void> => {
    await writeFile(join(dir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
    await writeFile(join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(cores * CFS_PERIOD_US))));
  };

  // A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks until both are set. Returns the
  // values written, so that children can be initialised without reading them back.
  const initCpuset = async (dir: string, parent: { cpus: string; mems: string }): Promise<{ cpus: string; mems: string }> => {
    await Promise.all([writeFile(join(dir, 'cpuset.cpus'), parent.cpus), writeFile(join(dir, 'cpuset.mems'), parent.mems)]);
    return parent;
  };

  // The per-tenant parents are set up once and remembered (tenantId → the limits written and the tenant's
  // cpuset); only the per-job child is created per job. The cache is dropped by pruneEmpty() (which may
  // remove tenant directories), and a job whose tenant directory has vanished anyway (ENOENT on mkdir)
  // sets the tenant up again.
  type TenantState = { key: string; cpuset?: { cpus: string; mems: string } };
  const tenants = new Map<string, Promise<TenantState>>();

  const setUpTenant = async (tenantId: string, tenant: TenantCgroupLimits, key: string): Promise<TenantState> => {
    const state: TenantState = { key };
    await Promise.all(
      hierarchies.map(async (base) => {
        const prefixDir = join(base, prefix);
        const tenantDir = tenantPath(base, tenantId);
        await mkdir(tenantDir, { recursive: true });
        const here = (c: CgroupController): boolean => hierarchy.get(c) === base;
        const work: Array<Promise<unknown>> = [];
        if (here('cpuset')) {
          work.push(
            (async () => {
              const root = {
                cpus: (await readText(join(base, 'cpuset.cpus')))?.trim() ?? '',
                mems: (await readText(join(base, 'cpuset.mems')))?.trim() ?? '',
              };
              await initCpuset(prefixDir, root);
              state.cpuset = await initCpuset(tenantDir, root);
            })(),
          );
        }
        if (here('memory')) work.push(setMemory(tenantDir, tenant.memoryMiB * MiB));
        if (here('cpu')) work.push(setCpu(tenantDir, tenant.cpu));
        await Promise.all(work);
      }),
    );
    return state;
  };

  const tenantState = (tenantId: string, tenant: TenantCgroupLimits, fresh: boolean): Promise<TenantState> => {
    const key = `${tenant.cpu}/${tenant.memoryMiB}`;
    const cached = tenants.get(tenantId);
    if (!fresh && cached !== undefined) {
      return cached.then((state) => (state.key === key ? state : tenantState(tenantId, tenant, true)));
    }
    const made = setUpTenant(tenantId, tenant, key);
    tenants.set(tenantId, made);
    made.catch(() => {
      if (tenants.get(tenantId) === made) tenants.delete(tenantId);
    });
    return made;
  };

  // The job child: one mkdir per hierarchy and its own limits, all hierarchies in parallel.
  const setUpJob = async (tenantId: string, jobId: string, state: TenantState, job: JobCgroupLimits): Promise<void> => {
    await Promise.all(
      jobHierarchies(job).map(async (base) => {
        const jobDir = join(tenantPath(base, tenantId), `job-${jobId}`);
        try {
          await mkdir(jobDir);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const here = (c: CgroupController): boolean => hierarchy.get(c) === base;
        const work: Array<Promise<unknown>> = [];
        if (here('cpuset')) {
          const parent = state.cpuset ?? { cpus: '', mems: '' };
          work.push(initCpuset(jobDir, { cpus: job.cpus ?? parent.cpus, mems: parent.mems }));
        }
        if (here('memory')) work.push(setMemory(jobDir, job.memoryMiB * MiB));
        if (here('cpu')) work.push(setCpu(jobDir, job.cpu));
        if (here('pids')) work.push(writeFile(join(jobDir, 'pids.max'), String(job.pids)));
        await Promise.all(work);
      }),
    );
  };

  return {
    version: 'v1',
    root,
    controllers: new Set(hierarchy.keys()),
    async createJob(tenantId, jobId, tenant, job) {
      const layout = layoutFor(tenantId, jobId, job);
      try {
        await setUpJob(tenantId, jobId, await tenantState(tenantId, tenant, false), job);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        // The tenant directory went away since we set it up: set it up again, then the job.
        await setUpJob(tenantId, jobId, await tenantState(tenantId, tenant, true), job);
      }
      return makeJobHandle(tenantId, jobId, layout, files);
    },
    openJob(tenantId, jobId) {
      return makeJobHandle(tenantId, jobId, layoutFor(tenantId, jobId), files);
    },
    async listJobs() {
      return listUnder(hierarchies.map((base) => join(base, prefix)));
    },
    async pruneEmpty() {
      tenants.clear(); // tenant directories may go: the next job sets its tenant up again
      for (const base of hierarchies) await pruneUnder(join(base, prefix));
    },
  };
}

async function listUnder(prefixDirs: string[]): Promise<Array<{ tenantId: string; jobId: string }>> {
  const found = new Map<string, { tenantId: string; jobId: string }>();
  for (const prefixDir of prefixDirs) {
    let tenants: string[];
    try {
      tenants = await readdir(prefixDir);
    } catch {
      continue;
    }
    for (const tenantEntry of tenants) {
      if (!tenantEntry.startsWith('tenant-')) continue;
      let jobs: string[];
      try {
        jobs = await readdir(join(prefixDir, tenantEntry));
      } catch {
        continue;
      }
      for (const jobEntry of jobs) {
        if (!jobEntry.startsWith('job-')) continue;
        const tenantId = tenantEntry.slice('tenant-'.length);
        const jobId = jobEntry.slice('job-'.length);
        found.set(`${tenantId}/${jobId}`, { tenantId, jobId });
      }
    }
  }
  return [...found.values()];
}

async function pruneUnder(prefixDir: string): Promise<void> {
  let tenants: string[];
  try {
    tenants = await readdir(prefixDir);
  } catch {
    return;
  }
  for (const tenantEntry of tenants) {
    if (!tenantEntry.startsWith('tenant-')) continue;
    const dir = join(prefixDir, tenantEntry);
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.some((entry) => entry.startsWith('job-'))) continue;
    await rmdir(dir).catch(() => undefined); // EBUSY when a job was created meanwhile: keep it
  }
  await rmdir(prefixDir).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------- v2

/** cgroup v2: one unified directory tree; controllers enabled down the path through subtree_control. */
export async function createCgroupV2Driver(root: string, prefix: string): Promise<CgroupDriver | undefined> {
  const available = (await readText(join(root, 'cgroup.controllers')))?.trim().split(/\s+/) ?? [];
  const controllers = new Set<CgroupController>();
  for (const c of ['memory', 'cpu', 'pids', 'cpuset'] as const) if (available.includes(c)) controllers.add(c);
  if (!controllers.has('memory') && !controllers.has('pids') && !controllers.has('cpu')) return undefined;
  try {
    await access(root, fsConstants.W_OK);
  } catch {
    return undefined;
  }
  // cpu.stat's usage_usec exists even without the cpu controller; report cpuacct as "available".
  controllers.add('cpuacct');
  const enable = [...controllers].filter((c) => c !== 'cpuacct').map((c) => `+${c}`).join(' ');
  const prefixDir = join(root, prefix);
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
      const peak = Number((await readText(join(dir, 'memory.peak')))?.trim()); // kernel >= 5.19
      if (Number.isFinite(peak)) usage.peakMemoryBytes = usage.memoryPeakBytes = peak;
      const current = Number((await readText(join(dir, 'memory.current')))?.trim());
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
    root,
    controllers,
    async createJob(tenantId, jobId, tenant, job) {
      const tenantDir = join(prefixDir, `tenant-${tenantId}`);
      const jobDir = join(tenantDir, `job-${jobId}`);
      // No-internal-processes rule: only leaves (jobs) hold processes, so enabling controllers on the
      // root, prefix and tenant levels is allowed.
      await writeFile(join(root, 'cgroup.subtree_control'), enable);
      await mkdir(tenantDir, { recursive: true });
      await writeFile(join(prefixDir, 'cgroup.subtree_control'), enable);
      await writeFile(join(tenantDir, 'cgroup.subtree_control'), enable);
      await limitsV2(tenantDir, tenant.cpu, tenant.memoryMiB);
      await mkdir(jobDir, { recursive: true });
      await limitsV2(jobDir, job.cpu, job.memoryMiB);
      if (controllers.has('pids')) await writeFile(join(jobDir, 'pids.max'), String(job.pids));
      if (controllers.has('cpuset') && job.cpus !== undefined) await writeFile(join(jobDir, 'cpuset.cpus'), job.cpus);
      return makeJobHandle(tenantId, jobId, layoutFor(tenantId, jobId), files);
    },
    openJob(tenantId, jobId) {
      return makeJobHandle(tenantId, jobId, layoutFor(tenantId, jobId), files);
    },
    listJobs: () => listUnder([prefixDir]),
    pruneEmpty: () => pruneUnder(prefixDir),
  };
}

/**
 * Picks the hierarchy to use under `root` (default `/sys/fs/cgroup`): v2 when `root` itself is a cgroup2
 * mount with memory/cpu/pids, else v1 controller directories under it. Returns undefined when neither is
 * usable (then only the `process` tier can run, without cgroup limits).
 */
export async function detectCgroupDriver(root = '/sys/fs/cgroup', prefix = 'bulkhead'): Promise<CgroupDriver | undefined> {
  if (await exists(join(root, 'cgroup.controllers'))) {
    const v2 = await createCgroupV2Driver(root, prefix);
    if (v2 !== undefined) return v2;
  }
  return createCgroupV1Driver(root, prefix);
}
