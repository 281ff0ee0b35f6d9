import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, isUuid, readAsSystem, readAsTenant, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { IsolationTier, TenantStatus } from '../contract/roles.ts';
import type { LendingLimit, ResourceAmounts, TenantQuota } from '../contract/quota.ts';
import { validateQuotaTree } from '../scheduler/index.ts';
import type { QuotaTreeNode, QuotaTreeProblem } from '../scheduler/index.ts';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  tier: IsolationTier;
  status: TenantStatus;
  /** The parent tenant's slug (issue 15: an organization node above this tenant); null for a root. */
  parent?: string | null;
  createdAt: string;
  updatedAt: string;
}

export type { ResourceAmounts, TenantQuota };

/** Cores, MiB and GPUs held by admitted and running jobs. */
export interface TenantUsage extends ResourceAmounts {
  runningJobs: number;
}

/** One tenant of a subtree, as `bulkhead tenant tree` shows it: usage rolls up (sum of the subtree). */
export interface TenantTreeNode {
  id: string;
  slug: string;
  name: string;
  parent: string | null;
  /** 0 for the subtree's top. */
  depth: number;
  status: TenantStatus;
  nominal: ResourceAmounts;
  usage: TenantUsage;
  subtreeUsage: TenantUsage;
}

export type TenantQuotaUpdate = Partial<Omit<TenantQuota, 'borrowingLimit' | 'lendingLimit'>> & { borrowingLimit?: Partial<ResourceAmounts>; lendingLimit?: Partial<LendingLimit> };

/** What a new tenant gets until a platform admin says otherwise: small, so nobody is surprised. */
export const defaultQuota: TenantQuota = {
  cpu: 2,
  memoryMiB: 4096,
  gpu: 0,
  borrowingLimit: { cpu: 0, memoryMiB: 0, gpu: 0 },
  lendingLimit: { cpu: null, memoryMiB: null, gpu: null },
  maxConcurrentJobs: 4,
  maxQueuedJobs: 100,
  storageBytes: 10 * 1024 ** 3,
  requestsPerSecond: 1000,
  weight: 1,
  dbStatementTimeoutMs: 10_000,
  dbMaxConcurrentOperations: 8,
  dbTimeMsPerSecond: 0,
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
  /** A missing tenant and one outside the caller's subtree get this same body. */
  notBelow: (ref: string) => new AppError('NOT_FOUND', `no tenant '${ref.slice(0, 64)}' below this organization`),
  parentNotFound: (ref: string) => new AppError('VALIDATION_FAILED', `parent tenant '${ref}' not found`),
  tooDeep: (parent: string) =>
    new AppError('VALIDATION_FAILED', `tenant tree too deep: '${parent}' is already at level ${maxTreeDepth - 1} (a tree has at most ${maxTreeDepth} levels)`),
  quotaTree: (problems: readonly QuotaTreeProblem[]) =>
    new AppError('VALIDATION_FAILED', `quota tree ${problems.every((p) => p.kind === 'lending-limit') ? 'invalid' : 'over-committed'}: ${problems.map((p) => p.message).join('; ')}`, {
      details: { problems: problems.map(({ level, node, resource, kind, childrenNominal, nominal }) => ({ level, node, resource, kind, childrenNominal, nominal })) },
    }),
};

/** Levels of the tenant tree (issue 15): the database's CHECK on tenants.path says the same. */
export const maxTreeDepth = 4;

interface TenantRow {
  id: string;
  slug: string;
  name: string;
  tier: IsolationTier;
  status: TenantStatus;
  parent_slug: string | null;
  created_at: Date;
  updated_at: Date;
}

const toTenant = (row: TenantRow): Tenant => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  tier: row.tier,
  status: row.status,
  parent: row.parent_slug ?? null,
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
  lend_cpu: string | number | null;
  lend_memory_mib: string | number | null;
  lend_gpu: number | null;
  max_concurrent_jobs: number;
  max_queued_jobs: number;
  storage_bytes: number;
  requests_per_second: string | number;
  weight: string | number;
  db_statement_timeout_ms: number;
  db_max_concurrent_operations: number;
  db_time_ms_per_second: number;
  ingress_bytes_per_second: string | number;
  ingress_burst_bytes: string | number;
  egress_bytes_per_second: string | number;
  egress_burst_bytes: string | number;
}

const orNull = (value: string | number | null): number | null => (value === null ? null : Number(value));

/** The lending limit as the quota tree takes it: a missing resource lends all. */
const lendingOf = (limit: LendingLimit): Partial<ResourceAmounts> =>
  Object.fromEntries(Object.entries(limit).filter(([, v]) => v !== null)) as Partial<ResourceAmounts>;

const toQuota = (row: QuotaRow): TenantQuota => ({
  cpu: Number(row.cpu),
  memoryMiB: Number(row.memory_mib),
  gpu: Number(row.gpu),
  borrowingLimit: { cpu: Number(row.borrow_cpu), memoryMiB: Number(row.borrow_memory_mib), gpu: Number(row.borrow_gpu) },
  lendingLimit: { cpu: orNull(row.lend_cpu), memoryMiB: orNull(row.lend_memory_mib), gpu: orNull(row.lend_gpu) },
  maxConcurrentJobs: Number(row.max_concurrent_jobs),
  maxQueuedJobs: Number(row.max_queued_jobs),
  storageBytes: Number(row.storage_bytes),
  requestsPerSecond: Number(row.requests_per_second),
  weight: Number(row.weight),
  dbStatementTimeoutMs: Number(row.db_statement_timeout_ms),
  dbMaxConcurrentOperations: Number(row.db_max_concurrent_operations),
  dbTimeMsPerSecond: Number(row.db_time_ms_per_second),
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

// The parent's slug by a subquery: under the application role it is NULL (row-level security shows a
// tenant only its own row), which only system reads build tenant records from anyway.
const tenantColumns = 'id, slug, name, tier, status, (SELECT p.slug FROM tenants p WHERE p.id = tenants.parent_id) AS parent_slug, created_at, updated_at';

export interface TenantService {
  /**
   * Creates a tenant, under `parent` (a slug) when given: at most maxTreeDepth levels. A child starts with
   * no nominal cpu, memory or gpu (a child's guarantee is carved out of its parent's, so a new child must
   * not over-commit its parent); the parent's admin gives it some with setQuota.
   */
  create(ctx: RequestContext, input: { slug: string; name: string; tier: IsolationTier; parent?: string | undefined }): Promise<Tenant>;
  /**
   * Every tenant as a node of the quota tree (nominal cpu/memory/gpu and borrowing limits), in one system
   * read: what the job runner checks admissions against when tenants have parents.
   */
  quotaTree(): Promise<QuotaTreeNode[]>;
  /**
   * The descendant `ref` (slug or id) of tenant `ancestorId` — strictly below it — or NOT_FOUND, the same
   * body for a missing tenant and for anything else (a sibling, a stranger, the ancestor itself).
   */
  getDescendant(ancestorId: string, ref: string): Promise<Tenant>;
  /** The subtree under `tenantId` (itself first, then depth first by slug), with quotas and running usage. */
  tree(tenantId: string): Promise<TenantTreeNode[]>;
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

  /**
   * Validates the tree around `tenantId` with its quota replaced by `next`: its parent's children (its
   * siblings and itself) against the parent, and its own children against it. The tenants rows involved
   * are locked first (parent, then the tenant), so two concurrent quota changes under one parent are
   * validated one after the other and cannot together over-commit it.
   */
  const checkQuotaTree = async (tx: Queryable, tenantId: string, next: TenantQuota): Promise<void> => {
    const { rows: self } = await tx.query<{ parent_id: string | null }>('SELECT parent_id FROM tenants WHERE id = $1', [tenantId]);
    const parentId = self[0]?.parent_id ?? null;
    await tx.query('SELECT id FROM tenants WHERE id = ANY($1::uuid[]) ORDER BY array_length(path, 1) FOR UPDATE', [[tenantId, ...(parentId === null ? [] : [parentId])]]);
    const { rows } = await tx.query<{ id: string; slug: string; parent_id: string | null; cpu: string | number; memory_mib: number; gpu: number }>(
      `SELECT t.id, t.slug, t.parent_id, q.cpu, q.memory_mib, q.gpu FROM tenants t JOIN tenant_quotas q ON q.tenant_id = t.id
        WHERE t.id = $1 OR t.id = $2 OR t.parent_id = $1 OR t.parent_id = $2`,
      [tenantId, parentId],
    );
    const nodes: QuotaTreeNode[] = rows.map((row) => ({
      id: row.id,
      label: row.slug,
      // Only the parent and its children, or the tenant and its children, are compared: the parent's own
      // parent is outside the set, so the parent is a root here.
      parentId: row.id === parentId || (parentId === null && row.id === tenantId) ? null : row.parent_id,
      nominal: row.id === tenantId ? { cpu: next.cpu, memoryMiB: next.memoryMiB, gpu: next.gpu } : { cpu: Number(row.cpu), memoryMiB: Number(row.memory_mib), gpu: Number(row.gpu) },
      // The tenant's own lending limit may not exceed its (new) nominal; the others' are unchanged here.
      ...(row.id === tenantId ? { lendingLimit: lendingOf(next.lendingLimit) } : {}),
    }));
    const problems = validateQuotaTree(nodes);
    if (problems.length === 0) return;
    // Levels relative to the real tree: the local root is at its own depth.
    const { rows: depthRows } = await tx.query<{ depth: number }>('SELECT array_length(path, 1) - 1 AS depth FROM tenants WHERE id = $1', [parentId ?? tenantId]);
    const base = Number(depthRows[0]?.depth ?? 0);
    throw tenantErrors.quotaTree(problems.map((p) => {
      const level = p.level + base;
      return { ...p, level, message: p.message.replace(/^level \d+/, `level ${level}`) };
    }));
  };

  return {
    async create(ctx, input) {
      const id = randomUUID();
      try {
        return await withSystem(db, async (tx) => {
          let parentId: string | null = null;
          if (input.parent !== undefined) {
            // Locked, so a parent cannot be deleted while a child is being created under it.
            const { rows: parents } = await tx.query<{ id: string; path: string[]; deletion_started_at: Date | null }>(
              'SELECT id, path, deletion_started_at FROM tenants WHERE slug = $1 FOR UPDATE', [input.parent],
            );
            const parent = parents[0];
            if (parent === undefined) throw tenantErrors.parentNotFound(input.parent);
            if (parent.deletion_started_at !== null) throw tenantErrors.beingDeleted(input.parent);
            if (parent.path.length >= maxTreeDepth) throw tenantErrors.tooDeep(input.parent);
            parentId = parent.id;
          }
          const { rows } = await tx.query<TenantRow>(
            // The database fills in `path` (the parent's path and this id: migration 0021's trigger).
            `INSERT INTO tenants (id, slug, name, tier, status, parent_id) VALUES ($1, $2, $3, $4, 'active', $5) RETURNING ${tenantColumns}`,
            [id, input.slug, input.name, input.tier, parentId],
          );
          const q: TenantQuota = parentId === null ? defaultQuota : { ...defaultQuota, cpu: 0, memoryMiB: 0, gpu: 0 };
          await tx.query(
            `INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu,
               max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight,
               db_statement_timeout_ms, db_max_concurrent_operations,
               ingress_bytes_per_second, ingress_burst_bytes, egress_bytes_per_second, egress_burst_bytes, db_time_ms_per_second)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
            [id, q.cpu, q.memoryMiB, q.gpu, q.borrowingLimit.cpu, q.borrowingLimit.memoryMiB, q.borrowingLimit.gpu,
              q.maxConcurrentJobs, q.maxQueuedJobs, q.storageBytes, q.requestsPerSecond, q.weight,
              q.dbStatementTimeoutMs, q.dbMaxConcurrentOperations,
              q.ingressBytesPerSecond, q.ingressBurstBytes, q.egressBytesPerSecond, q.egressBurstBytes, q.dbTimeMsPerSecond],
          );
          await auditBoth(tx, ctx, id, 'tenant.create', { slug: input.slug, tier: input.tier, ...(input.parent === undefined ? {} : { parent: input.parent }) });
          return toTenant(rows[0]!);
        });
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw tenantErrors.slugTaken(input.slug);
        throw error;
      }
    },
    async getDescendant(ancestorId, ref) {
      const column = isUuid(ref) ? 'id' : 'slug';
      const { rows } = await readAsSystem<TenantRow>(db, `SELECT ${tenantColumns} FROM tenants WHERE ${column} = $1 AND $2::uuid = ANY (path) AND id <> $2::uuid`, [ref, ancestorId]);
      if (rows[0] === undefined) throw tenantErrors.notBelow(ref);
      return toTenant(rows[0]);
    },
    async quotaTree() {
      const { rows } = await readAsSystem<{ id: string; slug: string; parent_id: string | null } & QuotaRow>(
        db, 'SELECT t.id, t.slug, t.parent_id, q.* FROM tenants t JOIN tenant_quotas q ON q.tenant_id = t.id',
      );
      return rows.map((row) => {
        const quota = toQuota(row);
        return {
          id: row.id, label: row.slug, parentId: row.parent_id, nominal: { cpu: quota.cpu, memoryMiB: quota.memoryMiB, gpu: quota.gpu },
          borrowingLimit: quota.borrowingLimit, lendingLimit: lendingOf(quota.lendingLimit),
        };
      });
    },
    async tree(tenantId) {
      return withSystem(db, async (tx) => {
        // tenants.path holds every ancestor: the subtree is the tenants whose path names the top.
        const { rows } = await tx.query<{ id: string; slug: string; name: string; status: TenantStatus; parent_id: string | null; parent_slug: string | null; path: string[];
          cpu: string | number; memory_mib: number; gpu: number; used_cpu: string | number; used_memory_mib: string | number; used_gpu: string | number; running: string | number }>(
          `SELECT t.id, t.slug, t.name, t.status, t.parent_id, p.slug AS parent_slug, t.path, q.cpu, q.memory_mib, q.gpu,
                  COALESCE(u.cpu, 0) AS used_cpu, COALESCE(u.memory_mib, 0) AS used_memory_mib, COALESCE(u.gpu, 0) AS used_gpu, COALESCE(u.running, 0) AS running
             FROM tenants t
             JOIN tenant_quotas q ON q.tenant_id = t.id
             LEFT JOIN tenants p ON p.id = t.parent_id
             LEFT JOIN (SELECT tenant_id, sum(cpu) AS cpu, sum(memory_mib) AS memory_mib, sum(gpu) AS gpu, count(*) AS running
                          FROM jobs WHERE status IN ('admitted', 'running') GROUP BY tenant_id) u ON u.tenant_id = t.id
            WHERE $1::uuid = ANY (t.path)`,
          [tenantId],
        );
        const top = rows.find((row) => row.id === tenantId);
        if (top === undefined) throw tenantErrors.notFound(tenantId);
        const base = top.path.length;
        const nodes = new Map<string, TenantTreeNode>(rows.map((row) => {
          const usage = { cpu: Number(row.used_cpu), memoryMiB: Number(row.used_memory_mib), gpu: Number(row.used_gpu), runningJobs: Number(row.running) };
          return [row.id, {
            id: row.id, slug: row.slug, name: row.name, parent: row.parent_slug, depth: row.path.length - base, status: row.status,
            nominal: { cpu: Number(row.cpu), memoryMiB: Number(row.memory_mib), gpu: Number(row.gpu) }, usage, subtreeUsage: { ...usage },
          }];
        }));
        // Roll usage up: every tenant's usage is added to each ancestor inside the subtree.
        for (const row of rows) {
          const own = nodes.get(row.id)!.usage;
          for (const ancestor of row.path.slice(base - 1, -1)) {
            const target = nodes.get(ancestor);
            if (target === undefined) continue;
            target.subtreeUsage.cpu += own.cpu;
            target.subtreeUsage.memoryMiB += own.memoryMiB;
            target.subtreeUsage.gpu += own.gpu;
            target.subtreeUsage.runningJobs += own.runningJobs;
          }
        }
        // Depth first, children by slug.
        const ordered: TenantTreeNode[] = [];
        const childrenOf = (parent: string) => rows.filter((row) => row.parent_id === parent).sort((a, b) => a.slug.localeCompare(b.slug));
        const visit = (id: string) => {
          ordered.push(nodes.get(id)!);
          for (const child of childrenOf(id)) visit(child.id);
        };
        visit(tenantId);
        return ordered;
      }, { readOnly: true });
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
          lendingLimit: { ...current.lendingLimit, ...(update.lendingLimit ?? {}) },
        };
        await checkQuotaTree(tx, tenantId, next);
        await tx.query(
          `UPDATE tenant_quotas SET cpu = $2, memory_mib = $3, gpu = $4, borrow_cpu = $5, borrow_memory_mib = $6,
             borrow_gpu = $7, max_concurrent_jobs = $8, max_queued_jobs = $9, storage_bytes = $10,
             requests_per_second = $11, weight = $12, db_statement_timeout_ms = $13,
             db_max_concurrent_operations = $14, ingress_bytes_per_second = $15, ingress_burst_bytes = $16,
             egress_bytes_per_second = $17, egress_burst_bytes = $18, lend_cpu = $19, lend_memory_mib = $20,
             lend_gpu = $21, db_time_ms_per_second = $22, updated_at = now() WHERE tenant_id = $1`,
          [tenantId, next.cpu, next.memoryMiB, next.gpu, next.borrowingLimit.cpu, next.borrowingLimit.memoryMiB,
            next.borrowingLimit.gpu, next.maxConcurrentJobs, next.maxQueuedJobs, next.storageBytes,
            next.requestsPerSecond, next.weight, next.dbStatementTimeoutMs, next.dbMaxConcurrentOperations,
            next.ingressBytesPerSecond, next.ingressBurstBytes, next.egressBytesPerSecond, next.egressBurstBytes,
            next.lendingLimit.cpu, next.lendingLimit.memoryMiB, next.lendingLimit.gpu, next.dbTimeMsPerSecond],
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
