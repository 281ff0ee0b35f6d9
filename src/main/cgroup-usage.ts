import { detectCgroupDriver } from '../executors/local/index.ts';
import type { CgroupUsageReader, JobMemoryReader } from '../monitoring/index.ts';

/**
 * Reads what a leftover job cgroup of this installation measured (start-up recovery's metering of jobs
 * killed with the platform): CPU core-seconds and the memory high-water mark, or undefined when there is
 * no such cgroup (another host's job, a cluster job, no cgroups here).
 */
export const cgroupUsageReader = (cgroupPrefix: string, root = '/sys/fs/cgroup'): CgroupUsageReader => {
  let driver: ReturnType<typeof detectCgroupDriver> | undefined;
  return async (tenantId, jobId) => {
    driver ??= detectCgroupDriver(root, cgroupPrefix);
    const cgroups = await driver;
    if (cgroups === undefined) return undefined;
    const usage = await cgroups.openJob(tenantId, jobId).usage();
    if (usage.cpuCoreSeconds === undefined) return undefined;
    return { cpuCoreSeconds: usage.cpuCoreSeconds, ...(usage.memoryPeakBytes === undefined ? {} : { memoryPeakBytes: usage.memoryPeakBytes }) };
  };
};

/** Reads a running job's memory in use from its cgroup (usage metering's memory samples); undefined without one. */
export const cgroupMemoryReader = (cgroupPrefix: string, root = '/sys/fs/cgroup'): JobMemoryReader => {
  let driver: ReturnType<typeof detectCgroupDriver> | undefined;
  return async (tenantId, jobId) => {
    driver ??= detectCgroupDriver(root, cgroupPrefix);
    const cgroups = await driver;
    if (cgroups === undefined) return undefined;
    return (await cgroups.openJob(tenantId, jobId).usage()).memoryCurrentBytes;
  };
};
