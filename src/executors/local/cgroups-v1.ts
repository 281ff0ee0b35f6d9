/**
 * cgroup v1 backend (this host): one directory per controller hierarchy (memory, cpu, cpuacct, pids,
 * cpuset — possibly co-mounted, deduplicated by real path); a process joins by writing its pid into
 * `cgroup.procs` of every hierarchy. There is no `cgroup.kill`, so killing loops SIGKILL over
 * `cgroup.procs` until it is empty.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupController, CgroupDriver, CgroupUsage, JobCgroupLimits, TenantCgroupLimits } from './cgroups.ts';
import { CFS_PERIOD_US, exists, listUnder, makeJobHandle, MiB, parseKeyValue, pruneUnder, readText, type Layout } from './cgroups-shared.ts';

const wantedControllers: readonly CgroupController[] = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset'];


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
