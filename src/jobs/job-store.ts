import { randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { isUuid, readAsTenant, withSystem, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { readTenantQuota } from '../tenants/index.ts';
import type { TenantQuota } from '../tenants/index.ts';
import type { IsolationTier } from '../contract/roles.ts';
import { gpuSharingOf } from '../contract/job-schemas.ts';
import type { Job, SubmitJob } from '../contract/job-schemas.ts';
import { transition } from './job-state.ts';
import { sandboxViolationOf } from './job-outcome.ts';
import type { JobState } from '../contract/job-schemas.ts';
import type { JobEvent } from './job-state.ts';

export const jobErrors = {
  notFound: (id: string) => new AppError('NOT_FOUND', `job '${id}' not found`),
  queueFull: (limit: number) => new AppError('QUOTA_EXCEEDED', `the tenant already has ${limit} queued jobs (its maxQueuedJobs quota); wait for some to start or cancel them`),
};

interface JobRow {
  tenant_id: string;
  id: string;
  name: string;
  status: JobState;
  tier: IsolationTier;
  command: string[];
  env: Record<string, string>;
  cpu: string | number;
  memory_mib: number;
  gpu: string | number;
  gpu_mig_profile: string | null;
  timeout_seconds: number;
  priority: number;
  datasets: Array<{ name: string; version: number }>;
  code_bundle: string | null;
  code_digest: string | null;
  image: string | null;
  image_digest: string | null;
  run_id: string | null;
  experiment_id: string | null;
  created_by: string;
  created_at: Date;
  queued_at: Date;
  admitted_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  preemptions: number;
  cancel_requested: boolean;
  exit_code: number | null;
  reason: string | null;
  usage: Record<string, unknown> | null;
  outputs: Array<{ path: string; size: number }>;
  gpu_devices: string[];
  workers: number;
}

const iso = (value: Date | null): string | null => (value === null ? null : new Date(value).toISOString());

export const toJob = (row: JobRow): Job => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  status: row.status,
  tier: row.tier,
  command: row.command,
  env: row.env,
  resources: { cpu: Number(row.cpu), memoryMiB: row.memory_mib, gpu: Number(row.gpu), timeoutSeconds: row.timeout_seconds },
  priority: row.priority,
  workers: row.workers,
  datasets: row.datasets,
  codeBundle: row.code_bundle,
  codeDigest: row.code_digest,
  image: row.image,
  imageDigest: row.image_digest,
  runId: row.run_id,
  experimentId: row.experiment_id,
  createdBy: row.created_by,
  createdAt: iso(row.created_at)!,
  queuedAt: iso(row.queued_at)!,
  admittedAt: iso(row.admitted_at),
  startedAt: iso(row.started_at),
  finishedAt: iso(row.finished_at),
  attempts: row.attempts,
  preemptions: row.preemptions,
  exitCode: row.exit_code,
  reason: row.reason,
  usage: row.usage,
  outputs: row.outputs,
  gpuDevices: row.gpu_devices,
  gpuSharing: gpuSharingOf(Number(row.gpu), row.gpu_mig_profile),
  gpuMigProfile: row.gpu_mig_profile,
});

/** A job as the runner sees it: the record plus whether a cancel was asked for. */
export interface ActiveJob extends Job {
  cancelRequested: boolean;
}

const parseDatasetRef = (ref: SubmitJob['datasets'][number]): { name: string; version: number } => {
  if (typeof ref !== 'string') return ref;
  const [name, version] = ref.split(':') as [string, string];
  return { name, version: Number(version) };
};

export interface JobLogLine {
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  loggedAt: string;
}

export interface TransitionUpdate {
  exitCode?: number | null;
  reason?: string | null;
  usage?: Record<string, unknown> | null;
  outputs?: Array<{ path: string; size: number }>;
  runId?: string | null;
  experimentId?: string | null;
  codeDigest?: string | null;
  /**
   * `admit` only: the GPU devices granted, in ordinal order. Inserted into gpu_grants in the same
   * transaction; a device someone else holds makes the whole admission fail (the job stays queued).
   */
  gpuDevices?: readonly string[];
  /**
   * `admit` only, with one device in `gpuDevices`: the job's time-slice of it, in hundredths (1..99). The
   * device is held `shared` by this tenant: joined when this tenant already shares it with room left,
   * taken when nobody holds it; held whole or by another tenant, the admission fails whole.
   */
  gpuShareUnits?: number;
}

/** A device some admitted or running job holds (the runner's cross-tenant view). */
export interface GpuGrantRow {
  deviceId: string;
  tenantId: string;
  /** The holding job (`whole`); null for a device time-sliced among its tenant's jobs (`shared`). */
  jobId: string | null;
  mode: 'whole' | 'shared';
  /** Hundredths of the device held: 100 for `whole`; the sum of the tenant's slices for `shared`. */
  unitsUsed: number;
}

/**
 * Job records. Tenant-facing reads and writes run through withTenant; the runner's cross-tenant view of
 * active jobs (what the scheduler needs) is the one withSystem read here. Every state change goes
 * through the pure state machine and is audited in the same transaction.
 */
export const createJobStore = (deps: { db: Db }) => {
  const { db } = deps;

  const applyTransition = async (tx: Queryable, ctx: RequestContext, tenantId: string, jobId: string, event: JobEvent, update: TransitionUpdate = {}): Promise<Job> => {
    const { rows } = await tx.query<JobRow>('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
    const row = rows[0];
    if (row === undefined) throw jobErrors.notFound(jobId);
    const result = transition(row.status, event);
    if (!result.ok) throw result.error;
    const to = result.state;
    const sets: string[] = ['status = $2'];
    const params: unknown[] = [jobId, to];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (event === 'admit') set('admitted_at', new Date());
    if (event === 'start') {
      set('started_at', new Date());
      sets.push('attempts = attempts + 1');
    }
    if (event === 'requeue') {
      set('queued_at', new Date());
      for (const column of ['admitted_at', 'started_at']) set(column, null);
    }
    if (event === 'preempt') sets.push('preemptions = preemptions + 1');
    if (to !== 'queued' && to !== 'admitted' && to !== 'running' && to !== 'preempted') set('finished_at', new Date());
    if (update.exitCode !== undefined) set('exit_code', update.exitCode);
    if (update.reason !== undefined) set('reason', update.reason);
    if (update.usage !== undefined) set('usage', update.usage === null ? null : JSON.stringify(update.usage));
    if (update.outputs !== undefined) set('outputs', JSON.stringify(update.outputs));
    if (update.runId !== undefined) set('run_id', update.runId);
    if (update.experimentId !== undefined) set('experiment_id', update.experimentId);
    if (update.codeDigest !== undefined) set('code_digest', update.codeDigest);
    if (event === 'admit' && update.gpuDevices !== undefined) set('gpu_devices', JSON.stringify(update.gpuDevices));
    // A job leaving admitted/running gives its devices back; one entering admitted takes them (the
    // primary key on device_id refuses a device already held, by anyone).
    if (to !== 'admitted' && to !== 'running') {
      await tx.query('DELETE FROM gpu_grants WHERE job_id = $1', [jobId]);
      // A time-slice: give its hundredths back; the device is free again when the tenant's last slice ends.
      const { rows: shares } = await tx.query<{ device_id: string; units: number }>('DELETE FROM gpu_shares WHERE job_id = $1 RETURNING device_id, units', [jobId]);
      for (const share of shares) {
        await tx.query(`UPDATE gpu_grants SET units_used = units_used - $2 WHERE device_id = $1 AND mode = 'shared'`, [share.device_id, share.units]);
        await tx.query(`DELETE FROM gpu_grants WHERE device_id = $1 AND mode = 'shared' AND units_used <= 0`, [share.device_id]);
      }
    }
    if (event === 'admit' && update.gpuShareUnits !== undefined) {
      const units = update.gpuShareUnits;
      const deviceId = update.gpuDevices?.[0];
      if (update.gpuDevices?.length !== 1 || deviceId === undefined || !Number.isInteger(units) || units < 1 || units > 99) {
        throw new AppError('VALIDATION_FAILED', 'a GPU time-slice is 1..99 hundredths of exactly one device');
      }
      // One statement, so concurrent joiners serialize on the device's row: it joins only a device this
      // tenant already time-slices with room left (another tenant's row is refused by its policy or
      // invisible; a whole grant never matches), or takes a free device.
      const joined = await tx.query(
        `INSERT INTO gpu_grants (device_id, tenant_id, mode, units_used) VALUES ($1, $2, 'shared', $3)
         ON CONFLICT (device_id) DO UPDATE SET units_used = gpu_grants.units_used + EXCLUDED.units_used
           WHERE gpu_grants.mode = 'shared' AND gpu_grants.tenant_id = EXCLUDED.tenant_id AND gpu_grants.units_used + EXCLUDED.units_used <= 100
         RETURNING device_id`,
        [deviceId, tenantId, units],
      );
      if (joined.rows.length !== 1) throw new AppError('CONFLICT', `GPU ${deviceId} cannot take a ${units}/100 time-slice of this tenant now`);
      await tx.query('INSERT INTO gpu_shares (job_id, tenant_id, device_id, units) VALUES ($1, $2, $3, $4)', [jobId, tenantId, deviceId, units]);
    } else if (event === 'admit' && update.gpuDevices !== undefined && update.gpuDevices.length > 0) {
      await tx.query(
        `INSERT INTO gpu_grants (device_id, tenant_id, job_id, ordinal)
         SELECT d, $2, $3, ord - 1 FROM unnest($1::text[]) WITH ORDINALITY AS u(d, ord)`,
        [update.gpuDevices, tenantId, jobId],
      );
    }
    const updated = await tx.query<JobRow>(`UPDATE jobs SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, params);
    await appendAuditEvent(tx, {
      tenantId, actor: ctx.actor, action: `job.${event}`, target: `job:${jobId}`, outcome: 'success', requestId: ctx.requestId,
      details: { from: row.status, to, ...(update.reason ? { reason: update.reason } : {}) },
    });
    // What the sandbox refused while the job ran (denied network attempts): a security signal of its own,
    // in the same transaction, for the anomaly detector (rule sandbox_violation) and the tenant's log.
    const violation = sandboxViolationOf(update.usage);
    if (violation !== undefined) {
      await appendAuditEvent(tx, {
        tenantId, actor: ctx.actor, action: 'sandbox.violation', target: `job:${jobId}`, outcome: 'denied', requestId: ctx.requestId,
        details: { kind: 'network', ...violation, attempt: row.attempts },
      });
    }
    return toJob(updated.rows[0]!);
  };

  return {
    /**
     * Queues a job. Under a per-tenant advisory lock, in the same transaction as the insert: the tenant's
     * quota is read and given to `check` (which throws to refuse), then its queued-job limit
     * is checked, so concurrent submissions cannot overshoot the queue limit.
     */
    async submit(ctx: RequestContext, tenantId: string, tier: IsolationTier, input: SubmitJob, check: (quota: TenantQuota) => void, image?: { image: string; digest: string }): Promise<Job> {
      const id = randomUUID();
      return withTenant(db, tenantId, async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 42))', [tenantId]);
        const quota = await readTenantQuota(tx, tenantId);
        check(quota);
        const maxQueuedJobs = quota.maxQueuedJobs;
        const { rows: counted } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'queued'`);
        if ((counted[0]?.n ?? 0) >= maxQueuedJobs) throw jobErrors.queueFull(maxQueuedJobs);
        const { rows } = await tx.query<JobRow>(
          `INSERT INTO jobs (tenant_id, id, name, status, tier, command, env, cpu, memory_mib, gpu, timeout_seconds, priority, datasets, code_bundle, created_by, workers, image, image_digest, gpu_mig_profile)
           VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING *`,
          [tenantId, id, input.name ?? '', tier, JSON.stringify(input.command), JSON.stringify(input.env), input.resources.cpu, input.resources.memoryMiB,
            input.resources.gpu, input.resources.timeoutSeconds, input.priority, JSON.stringify(input.datasets.map(parseDatasetRef)), input.codeBundle ?? null, ctx.actor,
            input.workers ?? 1, image?.image ?? null, image?.digest ?? null, input.resources.migProfile ?? null],
        );
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'job.submit', target: `job:${id}`, outcome: 'success', requestId: ctx.requestId,
          details: { command: input.command[0] ?? '', resources: input.resources, priority: input.priority, ...(input.workers > 1 ? { workers: input.workers } : {}), ...(image === undefined ? {} : { imageDigest: image.digest }) },
        });
        return toJob(rows[0]!);
      });
    },

    async get(tenantId: string, jobId: string): Promise<Job> {
      if (!isUuid(jobId)) throw jobErrors.notFound(jobId);
      const row = (await readAsTenant<JobRow>(db, tenantId, 'SELECT * FROM jobs WHERE id = $1', [jobId])).rows[0];
      if (row === undefined) throw jobErrors.notFound(jobId);
      return toJob(row);
    },

    async list(tenantId: string, options: { status?: JobState | undefined; limit: number; before?: string | undefined }): Promise<Job[]> {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<JobRow>(
          `SELECT * FROM jobs WHERE ($1::text IS NULL OR status = $1) AND ($2::timestamptz IS NULL OR created_at < $2)
            ORDER BY created_at DESC, id LIMIT $3`,
          [options.status ?? null, options.before ?? null, options.limit],
        );
        return rows.map(toJob);
      }, { readOnly: true });
    },

    /** Marks a cancel request; the runner carries it out. Queued jobs are cancelled at once. */
    async requestCancel(ctx: RequestContext, tenantId: string, jobId: string): Promise<Job> {
      if (!isUuid(jobId)) throw jobErrors.notFound(jobId);
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<JobRow>('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
        const row = rows[0];
        if (row === undefined) throw jobErrors.notFound(jobId);
        if (row.status === 'queued' || row.status === 'preempted') {
          return applyTransition(tx, ctx, tenantId, jobId, 'cancel', { reason: 'cancelled before it started' });
        }
        const check = transition(row.status, 'cancel');
        if (!check.ok) throw check.error;
        await tx.query('UPDATE jobs SET cancel_requested = true WHERE id = $1', [jobId]);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'job.cancel_requested', target: `job:${jobId}`, outcome: 'success', requestId: ctx.requestId });
        return { ...toJob(row), status: row.status };
      });
    },

    transition: (ctx: RequestContext, tenantId: string, jobId: string, event: JobEvent, update: TransitionUpdate = {}) =>
      withTenant(db, tenantId, (tx) => applyTransition(tx, ctx, tenantId, jobId, event, update)),

    /** One tenant's jobs that have not ended: queued, admitted, running, or preempted (about to be requeued). */
    async listActive(tenantId: string): Promise<Job[]> {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<JobRow>(`SELECT * FROM jobs WHERE status IN ('queued', 'admitted', 'running', 'preempted') ORDER BY queued_at, id`);
        return rows.map(toJob);
      }, { readOnly: true });
    },

    /** The runner's view across tenants: every queued, admitted and running job. */
    async active(): Promise<ActiveJob[]> {
      return withSystem(db, async (tx) => {
        const { rows } = await tx.query<JobRow>(`SELECT * FROM jobs WHERE status IN ('queued', 'admitted', 'running') ORDER BY queued_at, id`);
        return rows.map((row) => ({ ...toJob(row), cancelRequested: row.cancel_requested }));
      }, { readOnly: true });
    },

    /** Every device held now, across tenants (the runner picks free devices from the rest). */
    async gpuGrants(): Promise<GpuGrantRow[]> {
      return withSystem(db, async (tx) => {
        const { rows } = await tx.query<{ device_id: string; tenant_id: string; job_id: string | null; mode: 'whole' | 'shared'; units_used: number }>(
          'SELECT device_id, tenant_id, job_id, mode, units_used FROM gpu_grants ORDER BY device_id',
        );
        return rows.map((r) => ({ deviceId: r.device_id, tenantId: r.tenant_id, jobId: r.job_id, mode: r.mode, unitsUsed: r.units_used }));
      }, { readOnly: true });
    },

    /**
     * Appends lines after the job's last stored line. The numbering continues across attempts: a job
     * preempted, or evicted by Kueue, and launched again logs after what its earlier attempt logged. One
     * writer per job at a time (the process that runs it), so the base read here is not raced.
     */
    async appendLogs(tenantId: string, jobId: string, lines: ReadonlyArray<{ stream: JobLogLine['stream']; line: string }>): Promise<void> {
      if (lines.length === 0) return;
      await withTenant(db, tenantId, (tx) =>
        tx.query(
          `INSERT INTO job_logs (tenant_id, job_id, seq, stream, line)
           SELECT $1, $2, base.last + ord, s, l
             FROM (SELECT COALESCE(max(seq), 0) AS last FROM job_logs WHERE job_id = $2) AS base,
                  unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(s, l, ord)`,
          [tenantId, jobId, lines.map((l) => l.stream), lines.map((l) => l.line)],
        ));
    },

    async readLogs(tenantId: string, jobId: string, afterSeq: number, limit: number): Promise<JobLogLine[]> {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ seq: number; stream: JobLogLine['stream']; line: string; logged_at: Date }>(
          'SELECT seq, stream, line, logged_at FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
          [jobId, afterSeq, limit],
        );
        return rows.map((row) => ({ seq: row.seq, stream: row.stream, line: row.line, loggedAt: new Date(row.logged_at).toISOString() }));
      }, { readOnly: true });
    },
  };
};

export type JobStore = ReturnType<typeof createJobStore>;
