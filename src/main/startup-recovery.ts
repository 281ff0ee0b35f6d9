/**
 * Start-up recovery: what a process that died (SIGKILL, power loss) left behind is put right before the
 * server takes traffic, as ONE ordered list of named steps. Each step is idempotent (a second run finds
 * nothing to do) and audited: a step that changed something appends one event to the platform's chain,
 * `recovery.<step>`, with its counts — in the step's own transaction where the step is a database write.
 *
 * On PGlite the home's lock (home-lock.ts) guarantees that no other process uses the database or the
 * home, so whatever a previous process held is dead. On PostgreSQL several servers may run at once: steps
 * there only touch what is provably dead (a reservation of a process on this host whose pid is gone) or
 * provably unreferenced (a blob file whose row a row lock proves absent), and leave the rest to expiry.
 */
import type { Db, Queryable } from '../db/index.ts';
import { PLATFORM_TENANT_ID, withSystem } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import type { BlobFiles, TenantStorage } from '../artifacts/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { wipeModelPlaintext } from '../serving/index.ts';
import { fileTagLiveness, parseInstanceId, processLiveness } from './process-identity.ts';

export type RecoveryCounts = Record<string, number>;

export interface RecoveryStep {
  /** Stable name: the audit action is `recovery.<name>`. */
  name: string;
  /**
   * Does the step's work and returns what it changed. A step writing to the database calls `audit(tx,
   * counts)` inside its own transaction; a step that does not is audited afterwards, from its result.
   */
  run(audit: (tx: Queryable, counts: RecoveryCounts) => Promise<void>): Promise<RecoveryCounts>;
}

export interface RecoveryDeps {
  db: Db;
  /** This run of the platform: the reservations it holds are never released. */
  instanceId: string;
  storage: TenantStorage;
  blobFiles: BlobFiles;
  tenants: TenantService;
  /** The job runner's start-up transitions: running jobs failed, admitted ones requeued; the failed ids. */
  recoverInterruptedJobs(): Promise<Array<{ tenantId: string; jobId: string }>>;
  /**
   * Meters jobs still `running` from their leftover cgroups (before they are failed and the cgroups
   * reaped): usage metering's ledger rows, keyed by job attempt. Returns how many were metered.
   */
  meterInterruptedJobs?(): Promise<number>;
  /** The image store's staging sweep (issue 17): imports and pulls a crash interrupted. */
  sweepImageStaging?(olderThanMs: number): Promise<{ entries: number; bytes: number }>;
  log(obj: object, msg: string): void;
}

export interface RecoveryResult {
  step: string;
  counts: RecoveryCounts;
  ms: number;
}

const terminalJobStatuses = ['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused'];
/**
 * On PostgreSQL another live server may be between a job's end and its own clean-up (ending the run,
 * revoking the token): jobs that ended this long ago, or that this start failed, are fair game.
 */
const PEER_GRACE_SECONDS = 600;

const changed = (counts: RecoveryCounts): boolean => Object.values(counts).some((value) => value !== 0);

/** Which reservation owners are dead: on PGlite every other instance (single writer); on PostgreSQL only processes of this host that are gone. */
export const deadInstances = (kind: Db['kind'], instanceIds: readonly string[], current: string, liveness = processLiveness): string[] =>
  instanceIds.filter((id) => {
    if (id === current) return false;
    if (kind === 'pglite') return true;
    const owner = parseInstanceId(id);
    return owner !== undefined && liveness(owner) === 'dead';
  });

/** The steps, in order. Adding a step: put it where its inputs are ready, keep it idempotent, return counts. */
export const startupRecoverySteps = (deps: RecoveryDeps): RecoveryStep[] => {
  const { db } = deps;
  const grace = db.kind === 'pglite' ? 0 : PEER_GRACE_SECONDS;
  let failedJobs: string[] = [];
  return [
    {
      // Upload reservations of processes that died: without this a crash's in-flight uploads keep counting
      // against the tenant's quota until they expire (15 minutes), and add up across crashes.
      name: 'release-reservations',
      run: (audit) => withSystem(db, async (tx) => {
        const { rows: owners } = await tx.query<{ instance_id: string }>('SELECT DISTINCT instance_id FROM storage_reservations WHERE instance_id IS NOT NULL');
        const dead = deadInstances(db.kind, owners.map((row) => row.instance_id), deps.instanceId);
        const { rows } = await tx.query<{ tenant_id: string; bytes: string | number }>(
          'DELETE FROM storage_reservations WHERE instance_id = ANY($1::text[]) OR expires_at <= now() RETURNING tenant_id, bytes', [dead],
        );
        const counts = { reservations: rows.length, bytes: rows.reduce((sum, row) => sum + Number(row.bytes), 0), tenants: new Set(rows.map((row) => row.tenant_id)).size, processes: dead.length };
        await audit(tx, counts);
        return counts;
      }),
    },
    {
      // The home's tmp/ directories (uploads being written when the process died). On PGlite nobody else
      // writes there: all go. On PostgreSQL a server sharing the home may be writing: files named for a
      // dead process of this host go (temp names start with their process's tag), and any untouched for
      // an hour (a live upload keeps writing to its file).
      name: 'sweep-tmp',
      run: async () => ({
        files: db.kind === 'pglite'
          ? await deps.blobFiles.sweepTemps(0)
          : await deps.blobFiles.sweepTemps(3600_000, (name) => fileTagLiveness(name.split('.')[0] ?? '') === 'dead'),
      }),
    },
    {
      // $BULKHEAD_HOME/images/tmp: image imports and registry pulls being staged when the process died
      // (blobs and rootfs are placed only once verified, so staging is all a crash leaves). PGlite: all of
      // it; PostgreSQL: a peer sharing the home may be importing, so only what nobody wrote to for an hour.
      name: 'sweep-image-staging',
      run: async () => {
        if (deps.sweepImageStaging === undefined) return { entries: 0, bytes: 0 };
        return deps.sweepImageStaging(db.kind === 'pglite' ? 0 : 3600_000);
      },
    },
    {
      // Blob files without a committed row: a blob is renamed into place inside its upload's transaction,
      // so a process killed between the rename and the COMMIT leaves a file nothing names or counts.
      // Garbage rows (refcount 0) are collected with their files too.
      name: 'sweep-orphan-blobs',
      run: async () => {
        const known = new Set((await deps.tenants.list()).map((tenant) => tenant.id));
        const counts = { files: 0, bytes: 0, garbage: 0 };
        for (const tenantId of await deps.blobFiles.listTenants()) {
          // A directory without a tenant is an interrupted deletion's: finishing that deletion removes it.
          if (!known.has(tenantId)) continue;
          const swept = await deps.storage.sweepOrphanFiles(tenantId);
          counts.files += swept.files;
          counts.bytes += swept.bytes;
          counts.garbage += await deps.storage.collectGarbage(tenantId);
        }
        return counts;
      },
    },
    {
      // What a job killed with the platform used until then is still in its cgroup (its processes died,
      // the directory stays until the runner reaps it): metered now, so a crash neither loses nor (the
      // ledger is keyed by job attempt) doubles it.
      name: 'meter-interrupted-jobs',
      run: async () => ({ jobs: deps.meterInterruptedJobs === undefined ? 0 : await deps.meterInterruptedJobs() }),
    },
    {
      // Jobs running when the process died have no process any more: failed with the reason (each
      // transition is audited in the tenant's chain); admitted ones go back to the queue.
      name: 'fail-interrupted-jobs',
      run: async () => {
        const failed = await deps.recoverInterruptedJobs();
        failedJobs = failed.map((job) => job.jobId);
        return { jobs: failed.length };
      },
    },
    {
      // The MLflow run of a job that ended without its runner (failed just above, or a crash between the
      // job's end and its run's): ended like the job, with the job's end as the run's end time.
      name: 'end-runs-of-ended-jobs',
      run: (audit) => withSystem(db, async (tx) => {
        const { rows } = await tx.query<{ id: string }>(
          `UPDATE runs AS r
              SET status = CASE j.status WHEN 'succeeded' THEN 'FINISHED' WHEN 'cancelled' THEN 'KILLED' ELSE 'FAILED' END,
                  end_time = coalesce(r.end_time, (extract(epoch FROM coalesce(j.finished_at, now())) * 1000)::bigint)
             FROM jobs AS j
            WHERE j.tenant_id = r.tenant_id AND j.run_id = r.id AND r.status = 'RUNNING'
              AND j.status = ANY($1::text[])
              AND (j.id = ANY($2::uuid[]) OR j.finished_at < now() - make_interval(secs => $3))
           RETURNING r.id`,
          [terminalJobStatuses, failedJobs, grace],
        );
        const counts = { runs: rows.length };
        await audit(tx, counts);
        return counts;
      }),
    },
    {
      // A job token lives as long as its job: the runner revokes it at the job's end, which a dead process
      // never reached. Revoked here, a leaked one is refused at once rather than at its expiry.
      name: 'revoke-tokens-of-ended-jobs',
      run: (audit) => withSystem(db, async (tx) => {
        const { rows } = await tx.query<{ id: string }>(
          `UPDATE api_tokens AS t SET revoked_at = now()
             FROM jobs AS j
            WHERE t.kind = 'job' AND t.job_id = j.id AND t.revoked_at IS NULL
              AND j.status = ANY($1::text[])
              AND (j.id = ANY($2::uuid[]) OR j.finished_at < now() - make_interval(secs => $3))
           RETURNING t.id`,
          [terminalJobStatuses, failedJobs, grace],
        );
        const counts = { tokens: rows.length };
        await audit(tx, counts);
        return counts;
      }),
    },
    {
      // Decrypted model files that serving workers of an earlier version left under /tmp/bhs-* (this
      // version passes models on stdin and never writes one). Before any worker starts: `runServer`
      // restarts stored deployments only after this list. Live platforms' folders are left alone.
      name: 'wipe-model-plaintext',
      run: async () => ({ files: (await wipeModelPlaintext()).length }),
    },
    // Not a step here: the job runner reaps its leftover cgroups in `runner.start()`, right after this list.
  ];
};

/**
 * Runs the steps in order, stopping at the first that throws (the server must not take traffic over a
 * half-recovered state; the next start runs them all again, which is why each is idempotent).
 */
export const runStartupRecovery = async (deps: Pick<RecoveryDeps, 'db' | 'instanceId' | 'log'>, steps: readonly RecoveryStep[]): Promise<RecoveryResult[]> => {
  const results: RecoveryResult[] = [];
  for (const step of steps) {
    const started = Date.now();
    let audited = false;
    const record = async (tx: Queryable, counts: RecoveryCounts): Promise<void> => {
      audited = true;
      if (!changed(counts)) return;
      await appendAuditEvent(tx, {
        tenantId: PLATFORM_TENANT_ID, actor: 'system:recovery', action: `recovery.${step.name}`, target: `instance:${deps.instanceId}`,
        outcome: 'success', requestId: 'startup-recovery', details: counts,
      });
    };
    const counts = await step.run(record);
    if (!audited && changed(counts)) await withSystem(deps.db, (tx) => record(tx, counts));
    const result = { step: step.name, counts, ms: Date.now() - started };
    results.push(result);
    deps.log(result, changed(counts) ? 'start-up recovery step changed something' : 'start-up recovery step: nothing to do');
  }
  return results;
};
