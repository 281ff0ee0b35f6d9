/**
 * Bulk seeding of runs for search tests and benchmarks: one `INSERT ... SELECT generate_series` per table,
 * as the schema owner (outside row-level security, so only for set-up: `owner` is TestDatabase.owner; on
 * PGlite that is the same handle as the app's). Searches are then made as the application role.
 *
 * Run number g (from `from`) of `prefix` gets: id md5(prefix:g); name `run-g`; user `user<g % 7>`; status
 * FAILED when g % 5 = 0, else FINISHED; start_time `startTime + g`; end_time start + 1000; three latest
 * metrics m0, m1, m2 with values in [0, 1) from a hash of (g, k) (independent of each other), step 0
 * (and the same point in the history); param a = g % 10; tag t = x<g % 100> when g / 10 is even, else
 * y<g % 100> (so `params.a = '3' AND tags.t LIKE 'x%'` keeps one run in 20). The shape of issue 20's
 * measurements (three metrics, a param and a tag per run).
 */
import type { Db } from '../../src/db/index.ts';

export interface SeedOptions {
  tenantId: string;
  experimentId: number;
  /** Distinguishes run ids between calls (tenant + experiment is a good choice). */
  prefix: string;
  from: number;
  count: number;
  startTime?: number;
}

export const seedRuns = async (owner: Db, o: SeedOptions): Promise<void> => {
  const to = o.from + o.count - 1;
  const start = o.startTime ?? 1_700_000_000_000;
  const id = `md5($1 || ':' || g)`;
  const p = [o.prefix, o.tenantId, o.experimentId, o.from, to, start];
  const series = 'generate_series($4::bigint, $5::bigint) AS g';
  await owner.queryAsOwner(
    `INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
     SELECT ${id}, $2::uuid, $3::bigint, 'run-' || g, 'user' || (g % 7), CASE WHEN g % 5 = 0 THEN 'FAILED' ELSE 'FINISHED' END,
            $6::bigint + g, $6::bigint + g + 1000, 'active', 'mlflow-artifacts:/' || $3::bigint || '/' || ${id} || '/artifacts'
       FROM ${series}`,
    p,
  );
  const metric = `(hashint4((g * 3 + k)::int)::bigint & 1048575)::float8 / 1048576`;
  await owner.queryAsOwner(
    `INSERT INTO run_latest_metrics (tenant_id, run_id, key, value, timestamp, step, is_nan, run_experiment_id, run_start_time)
     SELECT $2::uuid, ${id}, 'm' || k, ${metric}, $6::bigint + g, 0, false, $3::bigint, $6::bigint + g FROM ${series}, generate_series(0, 2) AS k`,
    p,
  );
  await owner.queryAsOwner(
    `INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan)
     SELECT $2::uuid, ${id}, 'm' || k, 0, $6::bigint + g, ${metric}, false FROM ${series}, generate_series(0, 2) AS k
      WHERE $3::bigint IS NOT NULL AND $6::bigint IS NOT NULL`,
    p,
  );
  await owner.queryAsOwner(
    `INSERT INTO run_params (tenant_id, run_id, key, value) SELECT $2::uuid, ${id}, 'a', (g % 10)::text FROM ${series} WHERE $3::bigint IS NOT NULL AND $6::bigint IS NOT NULL`,
    p,
  );
  await owner.queryAsOwner(
    `INSERT INTO run_tags (tenant_id, run_id, key, value)
     SELECT $2::uuid, ${id}, 't', CASE WHEN (g / 10) % 2 = 0 THEN 'x' ELSE 'y' END || (g % 100) FROM ${series} WHERE $3::bigint IS NOT NULL AND $6::bigint IS NOT NULL`,
    p,
  );
};
