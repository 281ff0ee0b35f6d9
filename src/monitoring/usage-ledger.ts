/**
 * The usage ledger's writes and reads (table `usage_ledger`, migration 0015). Every write is keyed by the
 * measurement it records (`source`), and `ON CONFLICT DO NOTHING` makes writing a measurement again a
 * no-op: nothing is counted twice across retries, restarts or two processes metering the same job.
 */
import type { Queryable } from '../db/index.ts';
import type { MeteredResource } from '../contract/usage.ts';

export const HOUR_MS = 3_600_000;

export interface LedgerEntry {
  tenantId: string;
  /** The measurement's key: `job:<id>:<attempt>`, `req:<instance>:<flush>`, `storage:<slot>`. */
  source: string;
  resource: MeteredResource;
  /** Start of the hour the quantity belongs to (ms since the epoch, a multiple of an hour). */
  bucketMs: number;
  quantity: number;
}

export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;

/**
 * Spreads `quantity`, used evenly over [startMs, endMs), over the hour buckets it touches (a zero-length
 * interval puts it all in the hour of `endMs`). The parts add up to `quantity` (the last takes the rest).
 */
export const spreadOverHours = (startMs: number, endMs: number, quantity: number): Array<{ bucketMs: number; quantity: number }> => {
  if (!(endMs > startMs)) return [{ bucketMs: hourOf(endMs), quantity }];
  const parts: Array<{ bucketMs: number; quantity: number }> = [];
  let given = 0;
  for (let bucket = hourOf(startMs); bucket < endMs; bucket += HOUR_MS) {
    const from = Math.max(startMs, bucket);
    const to = Math.min(endMs, bucket + HOUR_MS);
    const last = bucket + HOUR_MS >= endMs;
    const part = last ? quantity - given : (quantity * (to - from)) / (endMs - startMs);
    given += part;
    parts.push({ bucketMs: bucket, quantity: Math.max(0, part) });
  }
  return parts;
};

const CHUNK = 1000;

/**
 * Inserts entries in the caller's transaction (as the tenant, or as the system for a flush across
 * tenants); entries already recorded are skipped. Rows of tenants that no longer exist are skipped too
 * (a tenant deleted between the measurement and its flush), so one deleted tenant cannot fail a flush.
 * Returns how many rows were new.
 */
export const insertLedgerEntries = async (tx: Queryable, entries: readonly LedgerEntry[]): Promise<number> => {
  let inserted = 0;
  for (let offset = 0; offset < entries.length; offset += CHUNK) {
    const chunk = entries.slice(offset, offset + CHUNK);
    const params: unknown[] = [];
    const values = chunk.map((entry) => {
      params.push(entry.tenantId, entry.source, entry.resource, new Date(entry.bucketMs).toISOString(), entry.quantity);
      const n = params.length;
      return `($${String(n - 4)}::uuid, $${String(n - 3)}, $${String(n - 2)}, $${String(n - 1)}::timestamptz, $${String(n)}::float8)`;
    });
    const result = await tx.query(
      `INSERT INTO usage_ledger (tenant_id, source, resource, bucket_start, quantity)
       SELECT v.tenant_id, v.source, v.resource, v.bucket_start, v.quantity
       FROM (VALUES ${values.join(', ')}) AS v (tenant_id, source, resource, bucket_start, quantity)
       WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = v.tenant_id)
       ON CONFLICT DO NOTHING`,
      params,
    );
    inserted += result.rowCount;
  }
  return inserted;
};

export interface LedgerTotalRow {
  tenantId: string;
  bucketMs: number;
  resource: MeteredResource;
  quantity: number;
}

/**
 * Quantities per tenant, bucket (`hour` or `day`, UTC) and resource in [from, to): SUM, or MAX for
 * high-water marks. Under `withTenant` RLS limits it to that tenant; under `withSystem` to `tenantIds`
 * (all when undefined).
 */
export const sumLedger = async (tx: Queryable, range: { fromMs: number; toMs: number; granularity: 'hour' | 'day'; tenantIds?: readonly string[] }): Promise<LedgerTotalRow[]> => {
  const bucket = range.granularity === 'day' ? "date_trunc('day', bucket_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'" : 'bucket_start';
  const params: unknown[] = [new Date(range.fromMs).toISOString(), new Date(range.toMs).toISOString()];
  let filter = '';
  if (range.tenantIds !== undefined) {
    params.push(range.tenantIds);
    filter = ' AND tenant_id = ANY($3::uuid[])';
  }
  const { rows } = await tx.query<{ tenant_id: string; bucket: Date | string; resource: MeteredResource; quantity: number }>(
    `SELECT tenant_id::text, ${bucket} AS bucket, resource,
            CASE WHEN resource IN ('memoryPeakBytes', 'gpuMemoryPeakBytes') THEN max(quantity) ELSE sum(quantity) END AS quantity
     FROM usage_ledger WHERE bucket_start >= $1::timestamptz AND bucket_start < $2::timestamptz${filter}
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    params,
  );
  return rows.map((row) => ({ tenantId: row.tenant_id, bucketMs: new Date(row.bucket).getTime(), resource: row.resource, quantity: Number(row.quantity) }));
};
