/**
 * Memory in use by running jobs, sampled: every sample interval each running job's cgroup is read
 * (memory.usage_in_bytes on v1, memory.current on v2) and bytes × interval go to the ledger as
 * `memoryUsedGiBHours`. Over a job's life that sum divided by its wall hours is its average memory in use
 * (the cgroup gives a high-water mark at the end, not an average). One measurement per job and slot,
 * `memsample:<job>:<interval>:<slot>`: sampling a slot again adds nothing. Slots the platform was down
 * for are not sampled.
 */
import type { Db } from '../db/index.ts';
import { readAsSystem, withSystem } from '../db/index.ts';
import { hourOf, insertLedgerEntries } from './usage-ledger.ts';
import type { LedgerEntry } from './usage-ledger.ts';

/** Bytes in use now by a job's cgroup, or undefined (no such cgroup on this host). */
export type JobMemoryReader = (tenantId: string, jobId: string) => Promise<number | undefined>;

const GiB = 1024 ** 3;

export const sampleJobMemory = async (db: Db, read: JobMemoryReader, intervalMs: number, nowMs = Date.now()): Promise<number> => {
  const slot = Math.floor(nowMs / intervalMs);
  const hours = intervalMs / 3_600_000;
  const { rows } = await readAsSystem<{ tenant_id: string; id: string }>(db, "SELECT tenant_id::text, id::text FROM jobs WHERE status = 'running'");
  const entries: LedgerEntry[] = [];
  for (const row of rows) {
    const bytes = await read(row.tenant_id, row.id).catch(() => undefined);
    if (bytes === undefined || !(bytes > 0)) continue;
    entries.push({ tenantId: row.tenant_id, source: `memsample:${row.id}:${String(intervalMs)}:${String(slot)}`, resource: 'memoryUsedGiBHours', bucketMs: hourOf(slot * intervalMs), quantity: (bytes / GiB) * hours });
  }
  if (entries.length === 0) return 0;
  return withSystem(db, (tx) => insertLedgerEntries(tx, entries));
};
