/**
 * The scheduler's queue and fair share per tenant, read from the database (all tenants: `readAsSystem`,
 * read-only), for the platform admins' console page. The same figures as the scrape-time gauges
 * (platform-snapshot.ts: bulkhead_tenant_fair_share_ratio, bulkhead_tenant_cpu_usage_ratio), per tenant id.
 */
import type { SchedulerView } from '../contract/scheduler-schemas.ts';
import type { Db } from '../db/index.ts';
import { PLATFORM_TENANT_ID, readAsSystem } from '../db/index.ts';

export const readSchedulerView = async (db: Db): Promise<SchedulerView> => {
  const [tenants, jobs] = await Promise.all([
    readAsSystem<{ id: string; slug: string; name: string; status: string; weight: number | null }>(db,
      'SELECT t.id::text, t.slug, t.name, t.status, q.weight::float8 AS weight FROM tenants t LEFT JOIN tenant_quotas q ON q.tenant_id = t.id WHERE t.id <> $1 ORDER BY t.slug',
      [PLATFORM_TENANT_ID]),
    readAsSystem<{ tenant_id: string; status: 'queued' | 'admitted' | 'running'; n: number; cpu: number }>(db,
      "SELECT tenant_id::text, status, count(*)::int AS n, coalesce(sum(cpu), 0)::float8 AS cpu FROM jobs WHERE status IN ('queued', 'admitted', 'running') GROUP BY 1, 2"),
  ]);
  const per = new Map<string, { queued: number; admitted: number; running: number; runningCpu: number }>();
  for (const row of jobs.rows) {
    const entry = per.get(row.tenant_id) ?? { queued: 0, admitted: 0, running: 0, runningCpu: 0 };
    entry[row.status] += row.n;
    if (row.status === 'running') entry.runningCpu += row.cpu;
    per.set(row.tenant_id, entry);
  }
  const weightOf = (row: { weight: number | null }) => row.weight ?? 1;
  const totalWeight = tenants.rows.filter((t) => per.has(t.id)).reduce((sum, t) => sum + weightOf(t), 0);
  const totalCpu = [...per.values()].reduce((sum, e) => sum + e.runningCpu, 0);
  const list = tenants.rows.map((t) => {
    const e = per.get(t.id) ?? { queued: 0, admitted: 0, running: 0, runningCpu: 0 };
    return {
      tenantId: t.id, slug: t.slug, name: t.name, status: t.status, weight: weightOf(t), ...e,
      entitledShare: per.has(t.id) && totalWeight > 0 ? weightOf(t) / totalWeight : 0,
      cpuShare: totalCpu > 0 ? e.runningCpu / totalCpu : 0,
    };
  });
  const sum = (k: 'queued' | 'admitted' | 'running' | 'runningCpu') => list.reduce((s, e) => s + e[k], 0);
  return { queued: sum('queued'), admitted: sum('admitted'), running: sum('running'), runningCpu: sum('runningCpu'), tenants: list };
};
