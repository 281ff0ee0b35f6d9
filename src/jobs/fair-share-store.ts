/**
 * The job runner's fair-share persistence (issue 15, migration 0022): each tenant's decayed usage record
 * (src/scheduler/fair-share.ts), rewritten when its holding changes, and the tenant tree with fair-share
 * weights that Fair Tree ranks over. Cross-tenant by nature — the scheduler's — so system-scoped, like
 * the job store's snapshot of active jobs.
 */
import type { Db } from '../db/index.ts';
import { readAsSystem, withSystem } from '../db/index.ts';
import type { FairTreeNode, FairUsageRecord } from '../scheduler/index.ts';

export interface FairShareStore {
  /** Every persisted record. */
  load(): Promise<FairUsageRecord[]>;
  /** Upserts the records (one transaction). */
  save(records: readonly FairUsageRecord[]): Promise<void>;
  /** Every tenant with its parent and fair-share weight (its quota's `weight`). */
  nodes(): Promise<FairTreeNode[]>;
}

interface Row {
  tenant_id: string;
  dominant: number; cpu: number; memory_mib: number; gpu: number;
  rate_dominant: number; rate_cpu: number; rate_memory_mib: number; rate_gpu: number;
  as_of: Date | string;
}

export const createFairShareStore = (deps: { db: Db; leaderDb?: Db | undefined }): FairShareStore => ({
  async load() {
    const { rows } = await readAsSystem<Row>(deps.db, 'SELECT * FROM fair_share_usage');
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      usage: { dominant: Number(r.dominant), cpu: Number(r.cpu), memoryMiB: Number(r.memory_mib), gpu: Number(r.gpu) },
      rate: { dominant: Number(r.rate_dominant), cpu: Number(r.rate_cpu), memoryMiB: Number(r.rate_memory_mib), gpu: Number(r.rate_gpu) },
      atMs: new Date(r.as_of).getTime(),
    }));
  },
  async save(records) {
    if (records.length === 0) return;
    // Fenced like the runner's other writes when replicas run (the leader's Db).
    await withSystem(deps.leaderDb ?? deps.db, async (tx) => {
      for (const r of records) {
        // A tenant deleted meanwhile has no row to refer to: nothing is written for it.
        await tx.query(
          `INSERT INTO fair_share_usage (tenant_id, dominant, cpu, memory_mib, gpu, rate_dominant, rate_cpu, rate_memory_mib, rate_gpu, as_of)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)
           ON CONFLICT (tenant_id) DO UPDATE SET dominant = EXCLUDED.dominant, cpu = EXCLUDED.cpu, memory_mib = EXCLUDED.memory_mib, gpu = EXCLUDED.gpu,
             rate_dominant = EXCLUDED.rate_dominant, rate_cpu = EXCLUDED.rate_cpu, rate_memory_mib = EXCLUDED.rate_memory_mib, rate_gpu = EXCLUDED.rate_gpu, as_of = EXCLUDED.as_of`,
          [r.tenantId, r.usage.dominant, r.usage.cpu, r.usage.memoryMiB, r.usage.gpu, r.rate.dominant, r.rate.cpu, r.rate.memoryMiB, r.rate.gpu, new Date(r.atMs).toISOString()],
        );
      }
    });
  },
  async nodes() {
    const { rows } = await readAsSystem<{ id: string; parent_id: string | null; weight: string | number }>(
      deps.db, 'SELECT t.id, t.parent_id, q.weight FROM tenants t JOIN tenant_quotas q ON q.tenant_id = t.id',
    );
    return rows.map((r) => ({ id: r.id, parentId: r.parent_id, weight: Number(r.weight) > 0 ? Number(r.weight) : 1 }));
  },
});
