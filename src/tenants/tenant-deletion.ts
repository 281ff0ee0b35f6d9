/**
 * Deleting a tenant and everything it owns. The order stops what runs before it removes what is stored:
 *
 *   refuse unless confirmed with the slug and suspended ─▶ mark the deletion started (the tenant can no
 *   longer be resumed) ─▶ cancel its jobs and wait until they have ended ─▶ stop its deployments'
 *   replicas (their rows go with the data) ─▶ delete its Kubernetes namespace (when a cluster is configured) ─▶ delete every row of
 *   its data in ONE transaction, the wrapped data key included (crypto-shredding: from the commit on, no
 *   copy of its ciphertext can be decrypted) ─▶ remove its directories on disk ─▶ delete the tenant record
 *   and audit `tenant.delete` with the summary.
 *
 * Every step is idempotent and the tenant row is the last thing to go, so a deletion interrupted anywhere
 * (crash, cluster unreachable, a job slow to stop) is finished by running it again. The audit log is kept:
 * it is append-only and hash-chained, and the deleted tenant's chain stays verifiable by its id.
 */
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, readAsSystem, tenantDataTables, tenantRecordTables, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { Tenant, TenantService } from './tenant-service.ts';
import { tenantErrors } from './tenant-service.ts';

/** What a tenant's blob directory holds: encrypted artifacts, dataset files, staged uploads. */
export interface TenantFiles {
  bytes: number;
  files: number;
}

export type KubernetesDeletion = 'not configured' | { namespace: string; deleted: string[] };

/** What deletion needs from the rest of the platform; built by the composition root (main/). */
export interface TenantDeletionPorts {
  jobs: {
    /** Asks every job of the tenant that has not ended to cancel; returns how many it asked. */
    cancelAll(ctx: RequestContext, tenantId: string): Promise<number>;
    /** Jobs of the tenant that have not finished ending: in the database, or still cleaning up in this process. */
    countActive(tenantId: string): Promise<number>;
  };
  deployments: {
    count(tenantId: string): Promise<number>;
    /**
     * Stops the replicas of every deployment of the tenant, writing no row (the deployments' rows go with
     * the tenant's data, so the summary counts them as the plan did); returns how many deployments it has.
     */
    stopAll(tenantId: string): Promise<number>;
  };
  files: {
    measure(tenantId: string): Promise<TenantFiles>;
    /** Removes the tenant's directories (blobs, job scratch); returns what the blob directory held. Idempotent. */
    remove(tenantId: string): Promise<TenantFiles>;
  };
  /** The tenant's namespace and cluster-scoped objects; undefined when the platform has no cluster client. */
  cluster: { namespaceOf(tenant: Tenant): string; deleteTenant(tenant: Tenant): Promise<string[]> } | undefined;
  /** Drops this process's cached token lookups of the tenant. */
  forgetCredentials(tenantId: string): void;
  /**
   * Finds every file on this host's disk (the platform home, the serving roots) that holds one of the
   * tenant's models (`.onnx` artifacts) in plaintext, by size and SHA-256, and removes it. Reads the
   * tenant's artifact rows, so it runs before they are deleted. Returns how many models it looked for,
   * how many files it found and removed, and how many it found still present after removing them.
   */
  wipeModelPlaintext(tenantId: string): Promise<ModelPlaintextWipe>;
}

export interface ModelPlaintextWipe {
  models: number;
  filesRemoved: number;
  filesRemaining: number;
}

export interface TenantDeletionSummary {
  tenant: { id: string; slug: string };
  /** True when an earlier deletion of this tenant had been interrupted: this run finished it. */
  resumed: boolean;
  jobsCancelled: number;
  deploymentsStopped: number;
  kubernetes: KubernetesDeletion;
  /** Rows this run deleted, per table (every tenant table, zeros included). */
  rowsDeleted: Record<string, number>;
  /** The tenant's blob directory as this run found and removed it. */
  artifacts: TenantFiles;
  /** The tenant's audit events, kept: its chain ends with the `tenant.delete` event. */
  auditEventsKept: number;
  /** Plaintext copies of its models on disk: looked for after its deployments stopped, removed. */
  modelPlaintext: ModelPlaintextWipe;
}

export interface TenantDeletionPlan {
  tenant: Tenant;
  /** Set when a deletion started and did not finish. */
  deletionStartedAt: string | null;
  activeJobs: number;
  deployments: number;
  /** Rows that would be deleted, per table. */
  rows: Record<string, number>;
  artifacts: TenantFiles;
  kubernetes: 'not configured' | { namespace: string };
  auditEventsKept: number;
}

export interface TenantDeletion {
  /** What deleting the tenant would remove (nothing is changed). */
  plan(tenant: Tenant): Promise<TenantDeletionPlan>;
  /**
   * Deletes the tenant (see the file comment for the order). `confirm` must equal its slug
   * (VALIDATION_FAILED otherwise) and the tenant must be suspended (CONFLICT otherwise); nothing is changed
   * when either is refused. UNAVAILABLE when its jobs do not end in time or the cluster cannot be reached:
   * run it again. Concurrent deletions of one tenant in one process: CONFLICT.
   */
  delete(ctx: RequestContext, tenant: Tenant, confirm: string | undefined): Promise<TenantDeletionSummary>;
}

export const tenantDeletionErrors = {
  hasChildren: (slug: string, children: readonly string[]) =>
    new AppError('CONFLICT', `tenant '${slug}' has child tenants (${children.join(', ')}); delete them first`),
  notConfirmed: (slug: string) =>
    new AppError('VALIDATION_FAILED', `deleting tenant '${slug}' removes everything it owns and cannot be undone; confirm with its slug: confirm=${slug}`),
  notSuspended: (slug: string) =>
    new AppError('CONFLICT', `tenant '${slug}' is active: suspend the tenant first, so that its traffic and jobs stop, then delete it`),
  alreadyRunning: (slug: string) => new AppError('CONFLICT', `a deletion of tenant '${slug}' is already running`),
  plaintextRemains: (slug: string, count: number) =>
    new AppError('UNAVAILABLE', `${count} plaintext model file(s) of tenant '${slug}' could not be removed from this host; no data was deleted — run the deletion again`),
  jobsStillRunning: (slug: string, count: number) =>
    new AppError('UNAVAILABLE', `${count} job(s) of tenant '${slug}' have been cancelled but have not ended yet; no data was deleted — run the deletion again`),
};

/** Table → column that names the tenant. */
const tenantColumn = (table: string): string => (table === 'tenants' ? 'id' : 'tenant_id');

/**
 * Deletes the tenant's rows from `tables`, in order; returns the count per table. Table names come from
 * the fixed lists in db/tenant-tables.ts, never from input. The count comes from the CTE, not the driver's
 * affected-row count, so it is exact on both drivers and no row is sent back.
 */
const deleteRows = async (tx: Queryable, tenantId: string, tables: readonly string[]): Promise<Record<string, number>> => {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await tx.query<{ n: number }>(
      `WITH deleted AS (DELETE FROM ${table} WHERE ${tenantColumn(table)} = $1 RETURNING 1) SELECT count(*)::int AS n FROM deleted`,
      [tenantId],
    );
    counts[table] = Number(rows[0]?.n ?? 0);
  }
  return counts;
};

const addCounts = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
  const sum: Record<string, number> = { ...a };
  for (const [table, n] of Object.entries(b)) sum[table] = (sum[table] ?? 0) + n;
  return sum;
};

const nonZero = (counts: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));

export const createTenantDeletion = (deps: {
  db: Db;
  tenants: TenantService;
  ports: TenantDeletionPorts;
  /** How long cancelled jobs get to end before the deletion gives up (UNAVAILABLE, run again). */
  jobStopTimeoutMs?: number;
  now?: () => number;
}): TenantDeletion => {
  const { db, tenants, ports } = deps;
  const jobStopTimeoutMs = deps.jobStopTimeoutMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const running = new Set<string>();

  const audit = (tx: Queryable, ctx: RequestContext, chain: string, tenantId: string, action: string, details: Record<string, unknown>) =>
    appendAuditEvent(tx, { tenantId: chain, actor: ctx.actor, action, target: `tenant:${tenantId}`, outcome: 'success', requestId: ctx.requestId, details });

  /** Marks the deletion started under the tenant row's lock; the status is re-read here, not trusted from a cache. */
  const begin = (ctx: RequestContext, tenant: Tenant): Promise<boolean> =>
    withSystem(db, async (tx) => {
      const { rows } = await tx.query<{ status: string; deletion_started_at: Date | null }>(
        'SELECT status, deletion_started_at FROM tenants WHERE id = $1 FOR UPDATE', [tenant.id],
      );
      const row = rows[0];
      if (row === undefined) throw tenantErrors.notFound(tenant.slug);
      if (row.status !== 'suspended') throw tenantDeletionErrors.notSuspended(tenant.slug);
      // An organization node goes after its children (issue 15): their rows reference it. Creating a child
      // locks the parent row and refuses a parent whose deletion started, so none can appear meanwhile.
      const { rows: children } = await tx.query<{ slug: string }>('SELECT slug FROM tenants WHERE parent_id = $1 ORDER BY slug LIMIT 5', [tenant.id]);
      if (children.length > 0) throw tenantDeletionErrors.hasChildren(tenant.slug, children.map((c) => c.slug));
      const resumed = row.deletion_started_at !== null;
      if (!resumed) await tx.query('UPDATE tenants SET deletion_started_at = now(), updated_at = now() WHERE id = $1', [tenant.id]);
      const action = resumed ? 'tenant.delete.resume' : 'tenant.delete.start';
      for (const chain of [tenant.id, PLATFORM_TENANT_ID]) await audit(tx, ctx, chain, tenant.id, action, { slug: tenant.slug });
      return resumed;
    });

  const waitForJobs = async (tenant: Tenant): Promise<void> => {
    const deadline = now() + jobStopTimeoutMs;
    for (;;) {
      const active = await ports.jobs.countActive(tenant.id);
      if (active === 0) return;
      if (now() >= deadline) throw tenantDeletionErrors.jobsStillRunning(tenant.slug, active);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const countRows = async (tenantId: string): Promise<{ rows: Record<string, number>; audit: number }> => {
    const tables = [...tenantDataTables, ...tenantRecordTables];
    const columns = tables.map((table) => `(SELECT count(*) FROM ${table} WHERE ${tenantColumn(table)} = $1)::int AS ${table}`);
    const { rows } = await readAsSystem<Record<string, number>>(db, `SELECT ${columns.join(', ')}, (SELECT count(*) FROM audit_events WHERE tenant_id = $1)::int AS audit_events`, [tenantId]);
    const row = rows[0] ?? {};
    return { rows: Object.fromEntries(tables.map((table) => [table, Number(row[table] ?? 0)])), audit: Number(row['audit_events'] ?? 0) };
  };

  return {
    async plan(tenant) {
      const [counts, started, activeJobs, deployments, artifacts] = await Promise.all([
        countRows(tenant.id),
        readAsSystem<{ deletion_started_at: Date | null }>(db, 'SELECT deletion_started_at FROM tenants WHERE id = $1', [tenant.id]),
        ports.jobs.countActive(tenant.id),
        ports.deployments.count(tenant.id),
        ports.files.measure(tenant.id),
      ]);
      const startedAt = started.rows[0]?.deletion_started_at ?? null;
      return {
        tenant,
        deletionStartedAt: startedAt === null ? null : new Date(startedAt).toISOString(),
        activeJobs,
        deployments,
        rows: counts.rows,
        artifacts,
        kubernetes: ports.cluster === undefined ? 'not configured' : { namespace: ports.cluster.namespaceOf(tenant) },
        auditEventsKept: counts.audit,
      };
    },

    async delete(ctx, tenant, confirm) {
      if (confirm !== tenant.slug) throw tenantDeletionErrors.notConfirmed(tenant.slug);
      if (running.has(tenant.id)) throw tenantDeletionErrors.alreadyRunning(tenant.slug);
      running.add(tenant.id);
      try {
        const resumed = await begin(ctx, tenant);

        // 1. Stop what runs. Nothing is deleted until every job has ended: a job still ending writes its
        //    logs and outputs, which would otherwise land after (or, through cascades, block) the delete.
        const jobsCancelled = await ports.jobs.cancelAll(ctx, tenant.id);
        await waitForJobs(tenant);
        const deploymentsStopped = await ports.deployments.stopAll(tenant.id);
        // Its workers have stopped: no plaintext copy of its models may remain (crypto-shredding would
        // mean nothing if one did). A copy that cannot be removed stops the deletion before any data goes.
        const modelPlaintext = await ports.wipeModelPlaintext(tenant.id);
        if (modelPlaintext.filesRemaining > 0) throw tenantDeletionErrors.plaintextRemains(tenant.slug, modelPlaintext.filesRemaining);
        const kubernetes: KubernetesDeletion = ports.cluster === undefined
          ? 'not configured'
          : { namespace: ports.cluster.namespaceOf(tenant), deleted: await ports.cluster.deleteTenant(tenant) };

        // 2. The tenant's data, in one transaction: all of it or none. The data key goes with it.
        const dataRows = await withSystem(db, async (tx) => {
          const counts = await deleteRows(tx, tenant.id, tenantDataTables);
          await audit(tx, ctx, PLATFORM_TENANT_ID, tenant.id, 'tenant.delete.data', { slug: tenant.slug, rowsDeleted: nonZero(counts) });
          return counts;
        });
        ports.forgetCredentials(tenant.id);
        tenants.notifyChanged(tenant.id);

        // 3. Its files: ciphertext only, unreadable since the commit above; removed all the same.
        const artifacts = await ports.files.remove(tenant.id);

        // 4. The tenant record, last. Rows written since step 2 by anything that outlived it (a late
        //    log line) go in the same transaction, so no foreign key can hold the record back.
        const summary = await withSystem(db, async (tx) => {
          const late = await deleteRows(tx, tenant.id, tenantDataTables);
          const record = await deleteRows(tx, tenant.id, tenantRecordTables);
          await audit(tx, ctx, tenant.id, tenant.id, 'tenant.delete', { slug: tenant.slug });
          const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = $1', [tenant.id]);
          const result: TenantDeletionSummary = {
            tenant: { id: tenant.id, slug: tenant.slug },
            resumed,
            jobsCancelled,
            deploymentsStopped,
            kubernetes,
            rowsDeleted: { ...addCounts(dataRows, late), ...record },
            artifacts,
            auditEventsKept: Number(rows[0]?.n ?? 0),
            modelPlaintext,
          };
          await audit(tx, ctx, PLATFORM_TENANT_ID, tenant.id, 'tenant.delete', { ...result, rowsDeleted: nonZero(result.rowsDeleted) });
          return result;
        });
        ports.forgetCredentials(tenant.id);
        tenants.notifyChanged(tenant.id);
        return summary;
      } finally {
        running.delete(tenant.id);
      }
    },
  };
};
