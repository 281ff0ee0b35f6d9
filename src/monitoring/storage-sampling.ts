/**
 * Storage GiB-hours: every sample interval, each tenant's stored bytes (artifacts and datasets, the
 * storage accounting's `used_bytes`) × the interval. A sample is one measurement keyed by its time slot,
 * `storage:<interval ms>:<slot>`, so sampling the same slot again (two servers on PostgreSQL, a restart
 * inside the slot) adds nothing. Slots while no server runs are not sampled: stored bytes are not billed
 * for time the platform was down.
 */
import type { Db } from '../db/index.ts';
import { withSystem } from '../db/index.ts';
import { insertLedgerEntries, hourOf } from './usage-ledger.ts';

const GiB = 1024 ** 3;

export const sampleStorage = async (db: Db, intervalMs: number, nowMs = Date.now()): Promise<number> => {
  const slot = Math.floor(nowMs / intervalMs);
  const source = `storage:${String(intervalMs)}:${String(slot)}`;
  const hours = intervalMs / 3_600_000;
  const bucketMs = hourOf(slot * intervalMs);
  return withSystem(db, async (tx) => {
    const { rows } = await tx.query<{ tenant_id: string; used: number }>('SELECT tenant_id::text, used_bytes::float8 AS used FROM storage_usage WHERE used_bytes > 0');
    return insertLedgerEntries(tx, rows.map((row) => ({ tenantId: row.tenant_id, source, resource: 'storageGiBHours' as const, bucketMs, quantity: (row.used / GiB) * hours })));
  });
};
