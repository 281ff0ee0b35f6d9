/**
 * Reading the usage ledger: a tenant's usage per hour or day, and the chargeback report of a month priced
 * with the configuration's rate card. A tenant's reads run under `withTenant` (RLS: only its own rows);
 * only the platform-wide report of a platform admin runs under `withSystem`.
 */
import { AppError } from '../core/errors.ts';
import type { Db } from '../db/index.ts';
import { withSystem, withTenant } from '../db/index.ts';
import { billableResources, meteredResourceNames, meteredResources } from '../contract/usage.ts';
import type { MeteredResource, RateCard, UsageQuantities, UsageReport } from '../contract/usage.ts';
import { sumLedger } from './usage-ledger.ts';

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 400;

export const usageErrors = {
  badRange: (why: string) => new AppError('VALIDATION_FAILED', `invalid usage range: ${why}`, { details: { field: 'from/to' } }),
};

const zeros = (): UsageQuantities => Object.fromEntries(meteredResourceNames.map((name) => [name, 0])) as UsageQuantities;

export interface TenantUsage {
  tenantId: string;
  from: string;
  to: string;
  granularity: 'hour' | 'day';
  units: Record<string, string>;
  buckets: Array<{ start: string } & UsageQuantities>;
  totals: UsageQuantities;
}

export const usageUnits = (): Record<string, string> => Object.fromEntries(meteredResourceNames.map((name) => [name, meteredResources[name].unit]));

/** Parses the query's range: `to` defaults to now, `from` to 24 hours before `to`; at most 400 days. */
export const usageRange = (query: { from?: string | undefined; to?: string | undefined }, nowMs = Date.now()): { fromMs: number; toMs: number } => {
  const toMs = query.to === undefined ? nowMs : Date.parse(query.to);
  const fromMs = query.from === undefined ? toMs - DAY_MS : Date.parse(query.from);
  if (!(fromMs < toMs)) throw usageErrors.badRange('from must be before to');
  if (toMs - fromMs > MAX_RANGE_DAYS * DAY_MS) throw usageErrors.badRange(`at most ${String(MAX_RANGE_DAYS)} days`);
  return { fromMs, toMs };
};

/** A month `YYYY-MM` as [first instant, first instant of the next month), UTC. */
export const periodRange = (period: string): { fromMs: number; toMs: number } => {
  const [year, month] = period.split('-').map(Number) as [number, number];
  return { fromMs: Date.UTC(year, month - 1, 1), toMs: Date.UTC(year, month, 1) };
};

export interface UsageService {
  /** The tenant's usage in [from, to) per bucket (only buckets with usage) and in total. */
  tenantUsage(tenantId: string, query: { from?: string | undefined; to?: string | undefined; granularity: 'hour' | 'day' }): Promise<TenantUsage>;
  /**
   * The chargeback report of `period` (YYYY-MM): every tenant for `scope: 'all'` (platform admins),
   * otherwise only `scope.tenantId` (read under its RLS scope).
   */
  report(period: string, scope: 'all' | { tenantId: string }): Promise<UsageReport>;
}

/** Money in millionths of the currency unit: integer arithmetic, so line totals add up exactly. */
const MICROS = 1_000_000;

export const createUsageService = (deps: { db: Db; rateCard: RateCard }): UsageService => {
  const { db, rateCard } = deps;
  return {
    async tenantUsage(tenantId, query) {
      const { fromMs, toMs } = usageRange(query);
      const rows = await withTenant(db, tenantId, (tx) => sumLedger(tx, { fromMs, toMs, granularity: query.granularity }), { readOnly: true });
      const buckets = new Map<number, UsageQuantities>();
      const totals = zeros();
      for (const row of rows) {
        const bucket = buckets.get(row.bucketMs) ?? zeros();
        bucket[row.resource] = row.quantity;
        buckets.set(row.bucketMs, bucket);
        totals[row.resource] = meteredResources[row.resource].aggregate === 'max' ? Math.max(totals[row.resource], row.quantity) : totals[row.resource] + row.quantity;
      }
      return {
        tenantId,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        granularity: query.granularity,
        units: usageUnits(),
        buckets: [...buckets].sort(([a], [b]) => a - b).map(([start, q]) => ({ start: new Date(start).toISOString(), ...q })),
        totals,
      };
    },

    async report(period, scope) {
      const { fromMs, toMs } = periodRange(period);
      const read = async <T>(fn: (tx: Parameters<Parameters<typeof withSystem>[1]>[0]) => Promise<T>): Promise<T> =>
        scope === 'all' ? withSystem(db, fn, { readOnly: true }) : withTenant(db, scope.tenantId, fn, { readOnly: true });
      const { perTenant, metered, slugs } = await read(async (tx) => {
        // Per tenant and resource for the month (one bucket: the month).
        const perTenantRows = await tx.query<{ tenant_id: string; resource: MeteredResource; quantity: number }>(
          `SELECT tenant_id::text, resource, sum(quantity)::float8 AS quantity FROM usage_ledger
           WHERE bucket_start >= $1::timestamptz AND bucket_start < $2::timestamptz AND resource = ANY($3::text[])
           GROUP BY 1, 2 ORDER BY 1, 2`,
          [new Date(fromMs).toISOString(), new Date(toMs).toISOString(), billableResources]);
        // The metered total per resource over the same rows, summed independently of the tenant lines.
        const meteredRows = await tx.query<{ resource: MeteredResource; quantity: number }>(
          `SELECT resource, sum(quantity)::float8 AS quantity FROM usage_ledger
           WHERE bucket_start >= $1::timestamptz AND bucket_start < $2::timestamptz AND resource = ANY($3::text[]) GROUP BY 1`,
          [new Date(fromMs).toISOString(), new Date(toMs).toISOString(), billableResources]);
        const ids = [...new Set(perTenantRows.rows.map((row) => row.tenant_id))];
        const slugRows = ids.length === 0 ? { rows: [] } : await tx.query<{ id: string; slug: string }>('SELECT id::text, slug FROM tenants WHERE id = ANY($1::uuid[])', [ids]);
        return { perTenant: perTenantRows.rows, metered: meteredRows.rows, slugs: new Map(slugRows.rows.map((row) => [row.id, row.slug])) };
      });
      const lines: UsageReport['lines'] = [];
      const tenantMicros = new Map<string, number>();
      let grandMicros = 0;
      for (const row of perTenant) {
        const unitPrice = rateCard.prices[row.resource] ?? 0;
        const micros = Math.round(row.quantity * unitPrice * MICROS);
        lines.push({ tenantId: row.tenant_id, tenantSlug: slugs.get(row.tenant_id) ?? row.tenant_id, resource: row.resource, unit: meteredResources[row.resource].unit, quantity: row.quantity, unitPrice, total: micros / MICROS });
        tenantMicros.set(row.tenant_id, (tenantMicros.get(row.tenant_id) ?? 0) + micros);
        grandMicros += micros;
      }
      return {
        period,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        currency: rateCard.currency,
        lines,
        tenantTotals: [...tenantMicros].map(([tenantId, micros]) => ({ tenantId, tenantSlug: slugs.get(tenantId) ?? tenantId, total: micros / MICROS })),
        meteredTotals: Object.fromEntries(metered.map((row) => [row.resource, row.quantity])),
        grandTotal: grandMicros / MICROS,
      };
    },
  };
};
