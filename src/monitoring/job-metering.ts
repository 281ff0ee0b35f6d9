/**
 * Jobs are metered from what they *used*: the executor reads the job's cgroup when the job ends (CPU
 * core-seconds from cpuacct.usage / cpu.stat usage_usec, the memory high-water mark) and the job store
 * keeps it on the job row in the same transaction as the final state. This meter turns each ended attempt
 * into ledger rows keyed `job:<id>:<attempt>`, so it runs any number of times (every sample interval, after
 * a restart) and records each attempt once. A job interrupted by a crash of the platform is metered by
 * start-up recovery from its leftover cgroup before the cgroup is reaped (`meterInterruptedJobs`).
 *
 * Quantities are spread evenly over the hours the attempt ran (its end minus its wall time): the cgroup
 * gives one total at the end, not a per-hour series.
 */
import type { Db } from '../db/index.ts';
import { readAsSystem, withTenant } from '../db/index.ts';
import { insertLedgerEntries, spreadOverHours, hourOf } from './usage-ledger.ts';
import type { LedgerEntry } from './usage-ledger.ts';

/** What an attempt used, as the executor measured it (`Outcome.usage`, kept as the job's `usage`). */
export interface MeasuredUsage {
  wallMs?: number;
  cpuCoreSeconds?: number;
  /** Milliseconds of CPU (older rows, before cpuCoreSeconds existed). */
  cpuMs?: number;
  memoryPeakBytes?: number;
  peakMemoryBytes?: number;
  gpuSeconds?: number;
  /** From nvidia-smi, where it exists (executors/local gpu-metering.ts). */
  gpuMemoryPeakBytes?: number;
  gpuUtilizationMeanPercent?: number;
}

export interface AttemptToMeter {
  tenantId: string;
  jobId: string;
  attempt: number;
  /** Requested (reserved) resources. */
  memoryMiB: number;
  gpu: number;
  startMs: number;
  endMs: number;
  usage: MeasuredUsage;
}

const GiB_PER_MiB = 1 / 1024;

/** The ledger rows of one attempt (pure). */
export const attemptEntries = (a: AttemptToMeter): LedgerEntry[] => {
  const source = `job:${a.jobId}:${String(a.attempt)}`;
  const wallSeconds = Math.max(0, (a.endMs - a.startMs) / 1000);
  const cpu = a.usage.cpuCoreSeconds ?? (a.usage.cpuMs === undefined ? 0 : a.usage.cpuMs / 1000);
  const entries: LedgerEntry[] = [];
  const spread = (resource: LedgerEntry['resource'], quantity: number, always = false) => {
    if (!(quantity > 0) && !always) return;
    for (const part of spreadOverHours(a.startMs, a.endMs, Math.max(0, quantity))) entries.push({ tenantId: a.tenantId, source, resource, bucketMs: part.bucketMs, quantity: part.quantity });
  };
  // Always written, even 0: the row marks the attempt as metered.
  spread('cpuCoreSeconds', cpu, true);
  spread('memoryGiBHours', (a.memoryMiB * GiB_PER_MiB * wallSeconds) / 3600);
  spread('gpuSeconds', a.usage.gpuSeconds ?? a.gpu * wallSeconds);
  const gpuSeconds = a.usage.gpuSeconds ?? a.gpu * wallSeconds;
  if (a.usage.gpuUtilizationMeanPercent !== undefined) spread('gpuBusySeconds', (gpuSeconds * a.usage.gpuUtilizationMeanPercent) / 100);
  const gpuPeak = a.usage.gpuMemoryPeakBytes;
  if (gpuPeak !== undefined && gpuPeak > 0) entries.push({ tenantId: a.tenantId, source, resource: 'gpuMemoryPeakBytes', bucketMs: hourOf(a.endMs), quantity: gpuPeak });
  const peak = a.usage.memoryPeakBytes ?? a.usage.peakMemoryBytes;
  if (peak !== undefined && peak > 0) entries.push({ tenantId: a.tenantId, source, resource: 'memoryPeakBytes', bucketMs: hourOf(a.endMs), quantity: peak });
  return entries;
};

/** Writes one attempt's rows as its tenant (RLS applies); a second call for the same attempt adds nothing. */
export const recordAttempt = (db: Db, attempt: AttemptToMeter): Promise<number> =>
  withTenant(db, attempt.tenantId, (tx) => insertLedgerEntries(tx, attemptEntries(attempt)));

interface JobRow {
  tenant_id: string;
  id: string;
  attempts: number;
  status: string;
  memory_mib: number;
  gpu: number;
  usage: MeasuredUsage | null;
  started_ms: number | null;
  end_ms: number;
}

/**
 * Meters every attempt that has ended and is not in the ledger yet: ended jobs (their last attempt),
 * preempted attempts of requeued jobs (still on the row until the next attempt ends), and jobs failed by
 * start-up recovery (no measurement: reserved resources over their wall time, CPU 0 — unless recovery
 * metered their cgroup first). Looks back `lookbackDays`. Returns the attempts metered.
 */
export const meterEndedJobs = async (db: Db, lookbackDays = 7): Promise<number> => {
  const { rows } = await readAsSystem<JobRow>(db,
    // A gang's reservation is its workers' together (issue 24: `memory_mib` and `gpu` are per worker).
    `SELECT j.tenant_id::text, j.id::text, j.attempts, j.status, j.memory_mib * j.workers AS memory_mib, (j.gpu * j.workers)::float8 AS gpu, j.usage,
            (extract(epoch FROM j.started_at) * 1000)::float8 AS started_ms,
            (extract(epoch FROM CASE WHEN j.status = 'running' THEN j.started_at ELSE coalesce(j.finished_at, j.queued_at) END) * 1000)::float8 AS end_ms
     FROM jobs j
     WHERE coalesce(j.finished_at, j.queued_at) > now() - make_interval(days => $1)
       AND ((j.usage IS NOT NULL AND (j.status <> 'running' OR j.attempts > 1))
            OR (j.status IN ('succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled') AND j.started_at IS NOT NULL))
       AND (CASE WHEN j.status = 'running' THEN j.attempts - 1 ELSE j.attempts END) >= 1
       AND NOT EXISTS (SELECT 1 FROM usage_ledger u WHERE u.tenant_id = j.tenant_id AND u.source = 'job:' || j.id::text || ':' ||
             (CASE WHEN j.status = 'running' THEN j.attempts - 1 ELSE j.attempts END)::text)
     LIMIT 500`,
    [lookbackDays]);
  let metered = 0;
  for (const row of rows) {
    // A running job's row still holds its previous (preempted) attempt's measurement.
    const attempt = row.status === 'running' ? row.attempts - 1 : row.attempts;
    if (attempt < 1) continue;
    const usage = row.usage ?? {};
    const endMs = row.end_ms;
    const wallMs = usage.wallMs ?? (row.started_ms === null ? 0 : Math.max(0, endMs - row.started_ms));
    await recordAttempt(db, { tenantId: row.tenant_id, jobId: row.id, attempt, memoryMiB: row.memory_mib, gpu: row.gpu, startMs: endMs - wallMs, endMs, usage });
    metered += 1;
  }
  return metered;
};

/** Reads a leftover job cgroup (start-up recovery, before reaping): the job's measured usage, if any. */
export type CgroupUsageReader = (tenantId: string, jobId: string) => Promise<MeasuredUsage | undefined>;

/**
 * Start-up recovery: jobs still `running` in the database belonged to a process that died; their cgroups
 * are still there (reaped later), holding what they used until the processes died. Meters each from its
 * cgroup, wall time from its start to now. Idempotent (same key as the normal path). Returns the count.
 */
export const meterInterruptedJobs = async (db: Db, readCgroup: CgroupUsageReader, nowMs = Date.now()): Promise<number> => {
  const { rows } = await readAsSystem<{ tenant_id: string; id: string; attempts: number; memory_mib: number; gpu: number; started_ms: number | null }>(db,
    `SELECT tenant_id::text, id::text, attempts, memory_mib * workers AS memory_mib, (gpu * workers)::float8 AS gpu, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms FROM jobs WHERE status = 'running'`);
  let metered = 0;
  for (const row of rows) {
    const measured = await readCgroup(row.tenant_id, row.id).catch(() => undefined);
    if (measured === undefined) continue;
    const startMs = row.started_ms ?? nowMs;
    const n = await recordAttempt(db, { tenantId: row.tenant_id, jobId: row.id, attempt: row.attempts, memoryMiB: row.memory_mib, gpu: row.gpu, startMs, endMs: nowMs, usage: measured });
    if (n > 0) metered += 1;
  }
  return metered;
};
