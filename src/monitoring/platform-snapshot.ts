/**
 * What the metrics read from the database at scrape time: job states per tenant, fair share, deployments,
 * the audit sealer's lag, and job admissions/preemptions since the last scrape (from the audit stream).
 * Cross-tenant by nature: `readAsSystem`, read-only. One snapshot per scrape: concurrent reads share the
 * one in flight.
 */
import type { Db } from '../db/index.ts';
import { readAsSystem } from '../db/index.ts';

export interface PlatformSnapshot {
  jobs: Array<{ tenantId: string; status: 'queued' | 'admitted' | 'running'; count: number; cpu: number }>;
  weights: Map<string, number>;
  deployments: Array<{ tenantId: string; active: number; replicas: number }>;
  /** Age in seconds of the oldest audit event not sealed into its chain yet (0 when all are sealed). */
  auditSealLagSeconds: number;
  auditUnsealedEvents: number;
  /** Job events appended since the previous snapshot, per tenant: `admit`, `preempt`. */
  jobEvents: Array<{ tenantId: string; event: 'admit' | 'preempt'; count: number }>;
}

export interface SnapshotReader {
  read(): Promise<PlatformSnapshot>;
}

export const createSnapshotReader = (db: Db): SnapshotReader => {
  // The audit stream is read incrementally: events after the highest id seen. Starting at the newest
  // event, so the counters count from this process's start (as Prometheus counters do).
  let lastAuditId: number | undefined;
  const load = async (): Promise<PlatformSnapshot> => {
    if (lastAuditId === undefined) {
      const { rows } = await readAsSystem<{ max: number | null }>(db, 'SELECT max(id)::float8 AS max FROM audit_events');
      lastAuditId = rows[0]?.max ?? 0;
    }
    const [jobs, weights, deployments, lag, events] = await Promise.all([
      readAsSystem<{ tenant_id: string; status: 'queued' | 'admitted' | 'running'; n: number; cpu: number }>(db,
        "SELECT tenant_id::text, status, count(*)::int AS n, coalesce(sum(cpu), 0)::float8 AS cpu FROM jobs WHERE status IN ('queued', 'admitted', 'running') GROUP BY 1, 2"),
      readAsSystem<{ tenant_id: string; weight: number }>(db, 'SELECT tenant_id::text, weight::float8 AS weight FROM tenant_quotas'),
      readAsSystem<{ tenant_id: string; active: number; replicas: number }>(db,
        'SELECT tenant_id::text, count(*) FILTER (WHERE replicas > 0)::int AS active, coalesce(sum(replicas), 0)::int AS replicas FROM deployments GROUP BY 1'),
      readAsSystem<{ lag: number | null; n: number }>(db,
        'SELECT extract(epoch FROM clock_timestamp() - min(occurred_at))::float8 AS lag, count(*)::int AS n FROM audit_events WHERE chain_seq IS NULL'),
      readAsSystem<{ tenant_id: string; action: string; n: number; max: number }>(db,
        "SELECT tenant_id::text, action, count(*)::int AS n, max(id)::float8 AS max FROM audit_events WHERE id > $1 AND action IN ('job.admit', 'job.preempt') GROUP BY 1, 2",
        [lastAuditId]),
    ]);
    for (const row of events.rows) lastAuditId = Math.max(lastAuditId, row.max);
    return {
      jobs: jobs.rows.map((row) => ({ tenantId: row.tenant_id, status: row.status, count: row.n, cpu: row.cpu })),
      weights: new Map(weights.rows.map((row) => [row.tenant_id, row.weight])),
      deployments: deployments.rows.map((row) => ({ tenantId: row.tenant_id, active: row.active, replicas: row.replicas })),
      auditSealLagSeconds: Math.max(0, lag.rows[0]?.lag ?? 0),
      auditUnsealedEvents: lag.rows[0]?.n ?? 0,
      jobEvents: events.rows.map((row) => ({ tenantId: row.tenant_id, event: row.action === 'job.admit' ? 'admit' : 'preempt', count: row.n })),
    };
  };
  let inFlight: Promise<PlatformSnapshot> | undefined;
  return {
    read() {
      if (inFlight === undefined) {
        const value = load();
        inFlight = value;
        const clear = () => {
          if (inFlight === value) inFlight = undefined;
        };
        value.then(clear, clear);
      }
      return inFlight;
    },
  };
};
