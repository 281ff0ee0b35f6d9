import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, isUuid, readAsSystem, readAsTenant, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { IsolationTier, TenantStatus } from '../contract/roles.ts';
import type { ResourceAmounts, TenantQuota } from '../contract/quota.ts';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  tier: IsolationTier;
  status: TenantStatus;
  createdAt: string;
  updatedAt: string;
}

export type { ResourceAmounts, TenantQuota };

export type TenantQuotaUpdate = Partial<Omit<TenantQuota, 'borrowingLimit'>> & { borrowingLimit?: Partial<ResourceAmounts> };

/** What a new tenant gets until a platform admin says otherwise: small, so nobody is surprised. */
export const defaultQuota: TenantQuota = {
  cpu: 2,
  memoryMiB: 4096,
  gpu: 0,
  borrowingLimit: { cpu: 0, memoryMiB: 0, gpu: 0 },
  maxConcurrentJobs: 4,
  maxQueuedJobs: 100,
  storageBytes: 10 * 1024 ** 3,
  requestsPerSecond: 1000,
  weight: 1,
  dbStatementTimeoutMs: 10_000,
  dbMaxConcurrentOperations: 8,
  // 10 GiB/s with a 10 GiB burst: never binds on today's installations (migration 0018's column defaults).
  ingressBytesPerSecond: 10 * 1024 ** 3,
  ingressBurstBytes: 10 * 1024 ** 3,
  egressBytesPerSecond: 10 * 1024 ** 3,
  egressBurstBytes: 10 * 1024 ** 3,
};

export const tenantErrors = {
  notFound: (ref: string) => new AppError('NOT_FOUND', `tenant '${ref}' not found`),
  slugTaken: (slug: string) => new AppError('CONFLICT', `a tenant with slug '${slug}' already exists`),
  beingDeleted: (ref: string) => new AppError('CONFLICT', `tenant '${ref}' is being deleted; run the deletion again to finish it`),
};

interface TenantRow {
  id: string;
  slug: string;
  name: string;
  tier: IsolationTier;
  status: TenantStatus;
  created_at: Date;
  updated_at: Date;
}

const toTenant = (row: TenantRow): Tenant => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  tier: row.tier,
  status: row.status,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

interface QuotaRow {
  cpu: string | number;
  memory_mib: number;
  gpu: number;
  borrow_cpu: string | number;
  borrow_memory_mib: number;
  borrow_gpu: number;
  max_concurrent_jobs: number;
  max_queued_jobs: number;
  storage_bytes: number;
  requests_per_second: string | number;
  weight: string | number;
  db_statement_timeout_ms: number;
  db_max_concurrent_operations: number;
  ingress_bytes_per_second: string | number;
  ingress_burst_bytes: string | number;
  egress_bytes_per_second: string | number;
  egress_burst_bytes: string | number;
}

const toQuota = (row: QuotaRow): TenantQuota => ({
  cpu: Number(row.cpu),
  memoryMiB: Number(row.memory_mib),
  gpu: Number(row.gpu),
  borrowingLimit: { cpu: Number(row.borrow_cpu), memoryMiB: Number(row.borrow_memory_mib), gpu: Number(row.borrow_gpu) },
  maxConcurrentJobs: Number(row.max_concurrent_jobs),
  maxQueuedJobs: Number(row.max_queued_jobs),
  storageBytes: Number(row.storage_bytes),
  requestsPerSecond: Number(row.requests_per_second),
  weight: Number(row.weight),
  dbStatementTimeoutMs: Number(row.db_statement_timeout_ms),
  dbMaxConcurrentOperations: Number(row.db_max_concurrent_operations),
  ingressBytesPerSecond: Number(row.ingress_bytes_per_second),
  ingressBurstBytes: Number(row.ingress_burst_bytes),
  egressBytesPerSecond: Number(row.egress_bytes_per_second),
  egressBurstBytes: Number(row.egress_burst_bytes),
});

/**
 * A rate changed without a burst gets a burst of one second of the new rate: the old burst (by default
 * 10 GiB) would otherwise let a lowered limit pass gigabytes before it binds.
 */
const withBandwidthBursts = (update: TenantQuotaUpdate): TenantQuotaUpdate => ({
  ...update,
  ...(update.ingressBytesPerSecond !== undefined && update.ingressBurstBytes === undefined ? { ingressBurstBytes: update.ingressBytesPerSecond } : {}),
  ...(update.egressBytesPerSecond !== undefined && update.egressBurstBytes === undefined ? { egressBurstBytes: update.egressBytesPerSecond } : {}),
});

/**
 * The quota of the tenant whose transaction `tx` is (row-level security picks its one row), for checks
 * made in the same transaction as the write they guard (job submission). Not locked: the application
 * role may only SELECT quotas, so a quota change committing meanwhile applies from the next check.
 * NOT_FOUND when the tenant has no quota row.
 */
export const readTenantQuota = async (tx: Queryable, tenantId: string): Promise<TenantQuota> => {
  const { rows } = await tx.query<QuotaRow>('SELECT * FROM tenant_quotas');
  if (rows[0] === undefined) throw tenantErrors.notFound(tenantId);
  return toQuota(rows[0]);
};

const tenantColumns = 'id, slug, name, tier, status, created_at, updated_at';

export interface TenantService {
  create(ctx: RequestContext, input: { slug: string; name: string; tier: IsolationTier }): Promise<Tenant>;
  list(): Promise<Tenant[]>;
  /** Resolves a slug or id across tenants (withSystem); undefined when no such tenant exists. */
  find(ref: string): Promise<Tenant | undefined>;
  setStatus(ctx: RequestContext, tenantId: string, status: TenantStatus): Promise<Tenant>;
  getQuota(tenantId: string): Promise<TenantQuota>;
  /**
   * The quota as the platform's own enforcement reads it (the bandwidth limiter): a system read, so it is
   * not counted against, nor refused by, the tenant's database-time quota.
   */
  getQuotaForEnforcement(tenantId: string): Promise<TenantQuota>;
  setQuota(ctx: RequestContext, tenantId: string, update: TenantQuotaUpdate): Promise<TenantQuota>;
  /** Drops cached lookups after a change (this process; other processes see it within the cache TTL). */
  onChange(listener: (tenantId: string) => void): void;
  /** Tells the `onChange` listeners about a change made outside this service (tenant deletion). */
  notifyChanged(tenantId: string): void;
}

/** Tenants and their quota records. Creating and changing tenants crosses tenants, so it uses withSystem. */
export const createTenantService = (deps: { db: Db }): TenantService => {
  const { db } = deps;
  const listeners: Array<(tenantId: string) => void> = [];
  const changed = (tenantId: string): void => {
    for (const listener of listeners) listener(tenantId);
  };

  const auditBoth = async (tx: Queryable, ctx: RequestContext, tenantId: string, action: string, details: Record<string, unknown>) => {
    // Tenant administration is recorded in the tenant's own chain and in the platform's.
    for (const chain of [tenantId, PLATFORM_TENANT_ID]) {
      await appendAuditEvent(tx, { tenantId: chain, actor: ctx.actor, action, target: `tenant:${tenantId}`, outcome: 'success', requestId: ctx.requestId, details });
    }
  };

  return {
    async create(ctx, input) {
      const id = randomUUID();
      try {
        return await withSystem(db, async (tx) => {
          const { rows } = await tx.query<TenantRow>(
            `INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, $3, $4, 'active') RETURNING ${tenantColumns}`,
            [id, input.slug, input.name, input.tier],
          );
          const q = defaultQuota;
          await tx.query(
            `INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu,
               max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight,
               db_statement_timeout_ms, db_max_concurrent_operations,
               ingress_bytes_per_second, ingress_burst_bytes, egress_bytes_per_second, egress_burst_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
            [id, q.cpu, q.memoryMiB, q.gpu, q.borrowingLimit.cpu, q.borrowingLimit.memoryMiB, q.borrowingLimit.gpu,
              q.maxConcurrentJobs, q.maxQueuedJobs, q.storageBytes, q.requestsPerSecond, q.weight,
              q.dbStatementTimeoutMs, q.dbMaxConcurrentOperations,
              q.ingressBytesPerSecond, q.ingressBurstBytes, q.egressBytesPerSecond, q.egressBurstBytes],
          );
          await auditBoth(tx, ctx, id, 'tenant.create', { slug: input.slug, tier: input.tier });
          return toTenant(rows[0]!);
        });
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw tenantErrors.slugTaken(input.slug);
        throw error;
      }
    },
    async list() {
      return withSystem(db, async (tx) => (await tx.query<TenantRow>(`SELECT ${tenantColumns} FROM tenants ORDER BY slug`)).rows.map(toTenant), { readOnly: true });
    },
    async find(ref) {
      const column = isUuid(ref) ? 'id' : 'slug';
      const { rows } = await readAsSystem<TenantRow>(db, `SELECT ${tenantColumns} FROM tenants WHERE ${column} = $1`, [ref]);
      return rows[0] === undefined ? undefined : toTenant(rows[0]);
    },
    async setStatus(ctx, tenantId, status) {
      const tenant = await withSystem(db, async (tx) => {
        // A tenant whose deletion has started stays suspended: half of its data may already be gone.
        const { rows: current } = await tx.query<{ slug: string; deletion_started_at: Date | null }>(
          'SELECT slug, deletion_started_at FROM tenants WHERE id = $1 FOR UPDATE', [tenantId],
        );
        if (current[0] === undefined) throw tenantErrors.notFound(tenantId);
        if (current[0].deletion_started_at !== null) throw tenantErrors.beingDeleted(current[0].slug);
        const { rows } = await tx.query<TenantRow>(
          `UPDATE tenants SET status = $2, updated_at = now() WHERE id = $1 RETURNING ${tenantColumns}`,
          [tenantId, status],
        );
        if (rows[0] === undefined) throw tenantErrors.notFound(tenantId);
        await auditBoth(tx, ctx, tenantId, status === 'suspended' ? 'tenant.suspend' : 'tenant.resume', {});
        return toTenant(rows[0]);
      });
      changed(tenantId);
      return tenant;
    },
    async getQuota(tenantId) {
      // Row-level security picks the tenant's one row: no filter needed, one round trip.
      const { rows } = await readAsTenant<QuotaRow>(db, tenantId, 'SELECT * FROM tenant_quotas');
      if (rows[0] === undefined) throw tenantErrors.notFound(tenantId);
      return toQuota(rows[0]);
    },
    async getQuotaForEnforcement(tenantId) {
      const { rows } = await readAsSystem<QuotaRow>(db, 'SELECT * FROM tenant_quotas WHERE tenant_id = $1', [tenantId]);
      if (rows[0] === undefined) throw tenantErrors.notFound(tenantId);
      return toQuota(rows[0]);
    },
    async setQuota(ctx, tenantId, update) {
      const quota = await withSystem(db, async (tx) => {
        const { rows } = await tx.query<QuotaRow>('SELECT * FROM tenant_quotas WHERE tenant_id = $1 FOR UPDATE', [tenantId]);
        if (rows[0] === undefined) throw tenantErrors.notFound(tenantId);
        const current = toQuota(rows[0]);
        const next: TenantQuota = {
          ...current,
          ...withBandwidthBursts(update),
          borrowingLimit: { ...current.borrowingLimit, ...(update.borrowingLimit ?? {}) },
        };
        await tx.query(
          `UPDATE tenant_quotas SET cpu = $2, memory_mib = $3, gpu = $4, borrow_cpu = $5, borrow_memory_mib = $6,
             borrow_gpu = $7, max_concurrent_jobs = $8, max_queued_jobs = $9, storage_bytes = $10,
             requests_per_second = $11, weight = $12, db_statement_timeout_ms = $13,
             db_max_concurrent_operations = $14, ingress_bytes_per_second = $15, ingress_burst_bytes = $16,
             egress_bytes_per_second = $17, egress_burst_bytes = $18, updated_at = now() WHERE tenant_id = $1`,
          [tenantId, next.cpu, next.memoryMiB, next.gpu, next.borrowingLimit.cpu, next.borrowingLimit.memoryMiB,
            next.borrowingLimit.gpu, next.maxConcurrentJobs, next.maxQueuedJobs, next.storageBytes,
            next.requestsPerSecond, next.weight, next.dbStatementTimeoutMs, next.dbMaxConcurrentOperations,
            next.ingressBytesPerSecond, next.ingressBurstBytes, next.egressBytesPerSecond, next.egressBurstBytes],
        );
        await auditBoth(tx, ctx, tenantId, 'tenant.quota.update', { update });
        return next;
      });
      changed(tenantId);
      return quota;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    notifyChanged: changed,
  };
};
