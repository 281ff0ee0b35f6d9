import { detectCgroupDriver } from '../executors/local/index.ts';
import type { CgroupReader, CgroupReading, CgroupUsageReader } from '../monitoring/index.ts';

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

/** Reads every job and serving-worker cgroup of this installation (usage metering's samples); empty without cgroups. */
export const cgroupReader = (cgroupPrefix: string, root = '/sys/fs/cgroup'): CgroupReader => {
  let driver: ReturnType<typeof detectCgroupDriver> | undefined;
  return async () => {
    driver ??= detectCgroupDriver(root, cgroupPrefix);
    const cgroups = await driver;
    if (cgroups === undefined) return [];
    const readings: CgroupReading[] = [];
    for (const { tenantId, jobId } of await cgroups.listJobs()) {
      const usage = await cgroups.openJob(tenantId, jobId).usage();
      readings.push({
        tenantId, jobId,
        ...(usage.cpuCoreSeconds === undefined ? {} : { cpuCoreSeconds: usage.cpuCoreSeconds }),
        ...(usage.memoryCurrentBytes === undefined ? {} : { memoryCurrentBytes: usage.memoryCurrentBytes }),
      });
    }
    return readings;
  };
};
