/**
 * What running jobs and serving workers use, sampled from their cgroups every sample interval (the
 * executor's cgroups of this installation, listed under its prefix):
 *  - memory in use (memory.usage_in_bytes on v1, memory.current on v2) × the interval →
 *    `memoryUsedGiBHours`, for jobs and workers alike; over a job's life that sum divided by its wall hours
 *    is its average in use (the cgroup itself keeps only the high-water mark). One measurement per cgroup
 *    and slot, `memsample:<cgroup>:<interval>:<slot>`: sampling a slot again adds nothing.
 *  - a serving worker's CPU (cpuacct.usage / cpu.stat usage_usec): the growth since the previous sample →
 *    `cpuCoreSeconds`. Workers run for as long as their deployment, so they are metered while they run;
 *    jobs' CPU is metered once, at their end (job-metering.ts). Keyed `worker:<instance>:<cgroup>:<n>`.
 *    A worker's first sample counts from its start (a new cgroup starts at 0). What a SIGKILL of the
 *    platform loses: each worker's CPU since its last sample (at most one interval; the workers die with
 *    the platform), as does a worker's last interval before it exits.
 * Slots while no server runs are not sampled.
 */
import type { Db } from '../db/index.ts';
import { isUuid, withSystem } from '../db/index.ts';
import { hourOf, insertLedgerEntries } from './usage-ledger.ts';
import type { LedgerEntry } from './usage-ledger.ts';

export interface CgroupReading {
  tenantId: string;
  /** The executor's id of the cgroup: a job id, or `srv-<replica>-<attempt>` for a serving worker. */
  jobId: string;
  cpuCoreSeconds?: number;
  memoryCurrentBytes?: number;
}

/** Reads every job and worker cgroup of this installation (empty without cgroups). */
export type CgroupReader = () => Promise<CgroupReading[]>;

export const isServingWorker = (jobId: string): boolean => jobId.startsWith('srv-');

const GiB = 1024 ** 3;

/** Returns one sampling function; it keeps each worker's last CPU reading between calls. */
export const createCgroupSampling = (deps: { db: Db; instanceId: string; intervalMs: number; read: CgroupReader }) => {
  const lastCpu = new Map<string, number>();
  let sampleNumber = 0;
  return async (nowMs = Date.now()): Promise<number> => {
    const slot = Math.floor(nowMs / deps.intervalMs);
    const bucketMs = hourOf(slot * deps.intervalMs);
    const hours = deps.intervalMs / 3_600_000;
    sampleNumber += 1;
    const readings = await deps.read();
    const entries: LedgerEntry[] = [];
    const nextCpu = new Map<string, number>();
    for (const r of readings) {
      // Directory names become tenant ids: only well-formed ones (the ledger also drops unknown tenants).
      if (!isUuid(r.tenantId)) continue;
      if (r.memoryCurrentBytes !== undefined && r.memoryCurrentBytes > 0) {
        entries.push({ tenantId: r.tenantId, source: `memsample:${r.jobId}:${String(deps.intervalMs)}:${String(slot)}`, resource: 'memoryUsedGiBHours', bucketMs, quantity: (r.memoryCurrentBytes / GiB) * hours });
      }
      if (isServingWorker(r.jobId) && r.cpuCoreSeconds !== undefined) {
        const key = `${r.tenantId}/${r.jobId}`;
        const delta = r.cpuCoreSeconds - (lastCpu.get(key) ?? 0);
        nextCpu.set(key, r.cpuCoreSeconds);
        if (delta > 0) entries.push({ tenantId: r.tenantId, source: `worker:${deps.instanceId}:${r.jobId}:${String(sampleNumber)}`, resource: 'cpuCoreSeconds', bucketMs: hourOf(nowMs), quantity: delta });
      }
    }
    const written = entries.length === 0 ? 0 : await withSystem(deps.db, (tx) => insertLedgerEntries(tx, entries));
    // Only once written: a failed write leaves the readings to be counted by the next sample.
    lastCpu.clear();
    for (const [key, value] of nextCpu) lastCpu.set(key, value);
    return written;
  };
};
