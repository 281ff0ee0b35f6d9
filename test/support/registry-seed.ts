/**
 * Bulk seeding of experiments, registered models, model versions and one long metric series, for the
 * registry/experiment search tests and bench/search-registry.ts: one `INSERT ... SELECT generate_series`
 * per table, as the schema owner (outside row-level security: set-up only; `owner` is TestDatabase.owner,
 * on PGlite the same handle as the app's). Searches are then made as the application role.
 *
 * Experiment g (ids from `from`): name `exp-<g>`, creation_time `t0 + g`, last_update_time `t0 + (g * 7919) % n`
 * (a permutation, so the two orders differ), tag `team = team<g % 100>`, every 10th deleted.
 * Registered model g: name `model-<g>`, creation_time `t0 + g`, last_updated_time `t0 + (g * 7919) % n`,
 * tag `team = team<g % 100>`. Versions: model g for g ≤ `versionedModels` gets `versionsPerModel` versions,
 * creation_time `t0 + g * versionsPerModel + v`, stage `Production` for v % 10 = 0, tag `ok = <v % 2>`.
 * Series: `points` points of one metric of one run, steps 0.. points-1, value sin(step).
 */
import type { Db } from '../../src/db/index.ts';

export const T0 = 1_700_000_000_000;

export const seedExperiments = async (owner: Db, tenantId: string, from: number, count: number): Promise<void> => {
  const p = [tenantId, from, from + count - 1, T0, from + count];
  const series = 'generate_series($2::bigint, $3::bigint) AS g';
  await owner.queryAsOwner(
    `INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
     SELECT $1::uuid, g, 'exp-' || g, 'mlflow-artifacts:/' || g, CASE WHEN g % 10 = 0 THEN 'deleted' ELSE 'active' END,
            $4::bigint + g, $4::bigint + (g * 7919) % $5::bigint FROM ${series}`, p);
  await owner.queryAsOwner(
    `INSERT INTO experiment_tags (tenant_id, experiment_id, key, value)
     SELECT $1::uuid, g, 'team', 'team' || (g % 100) FROM ${series} WHERE $4::bigint IS NOT NULL AND $5::bigint IS NOT NULL`, p);
  await owner.queryAsOwner(
    `INSERT INTO tracking_counters (tenant_id, next_experiment_id) VALUES ($1::uuid, $2::bigint)
     ON CONFLICT (tenant_id) DO UPDATE SET next_experiment_id = greatest(tracking_counters.next_experiment_id, EXCLUDED.next_experiment_id)`,
    [tenantId, from + count]);
};

export const seedModels = async (
  owner: Db, tenantId: string, o: { from: number; count: number; versionedModels: number; versionsPerModel: number },
): Promise<void> => {
  const to = o.from + o.count - 1;
  const p = [tenantId, o.from, to, T0, to + 1, o.versionedModels, o.versionsPerModel];
  const series = 'generate_series($2::bigint, $3::bigint) AS g';
  const guard = 'AND $4::bigint IS NOT NULL AND $5::bigint IS NOT NULL AND $6::int IS NOT NULL AND $7::int IS NOT NULL';
  await owner.queryAsOwner(
    `INSERT INTO registered_models (tenant_id, name, creation_time, last_updated_time, description, user_id, next_version)
     SELECT $1::uuid, 'model-' || g, $4::bigint + g, $4::bigint + (g * 7919) % $5::bigint, '', 'user' || (g % 7),
            CASE WHEN g <= $6::int THEN $7::int + 1 ELSE 1 END FROM ${series}`, p);
  await owner.queryAsOwner(
    `INSERT INTO registered_model_tags (tenant_id, name, key, value)
     SELECT $1::uuid, 'model-' || g, 'team', 'team' || (g % 100) FROM ${series} WHERE TRUE ${guard}`, p);
  await owner.queryAsOwner(
    `INSERT INTO model_versions (tenant_id, name, version, creation_time, last_updated_time, user_id, current_stage, source, run_id)
     SELECT $1::uuid, 'model-' || g, v, $4::bigint + g * $7::int + v, $4::bigint + ((g * $7::int + v) * 7919) % ($6::bigint * $7::int + 1),
            'user' || (v % 7), CASE WHEN v % 10 = 0 THEN 'Production' ELSE 'None' END,
            'mlflow-artifacts:/0/' || md5(g || ':' || v) || '/artifacts/model', md5(g || ':' || v)
       FROM ${series}, generate_series(1, $7::int) AS v WHERE g <= $6::int ${guard}`, p);
  await owner.queryAsOwner(
    `INSERT INTO model_version_tags (tenant_id, name, version, key, value)
     SELECT $1::uuid, 'model-' || g, v, 'ok', (v % 2)::text
       FROM ${series}, generate_series(1, $7::int) AS v WHERE g <= $6::int ${guard}`, p);
};

/**
 * One run (in experiment `experimentId`, id `runId`) with `points` points of metric `key` at steps 0 … points − 1,
 * written as log-batch writes them: history rows `summarized`, and the latest-metric row with the step summary
 * (migration 0038) — or, with `summary: false`, without one, as for a series whose steps are not a progression
 * (get-history-bulk-interval then scans the steps).
 */
export const seedSeries = async (owner: Db, o: { tenantId: string; experimentId: number; runId: string; key: string; points: number; summary?: boolean }): Promise<void> => {
  await owner.queryAsOwner(
    `INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
     VALUES ($1, $2::uuid, $3::bigint, 'series', 'user', 'FINISHED', $4::bigint, $4::bigint + 1000, 'active', 'mlflow-artifacts:/' || $3::bigint || '/' || $1 || '/artifacts')`,
    [o.runId, o.tenantId, o.experimentId, T0]);
  await owner.queryAsOwner(
    `INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan, summarized)
     SELECT $1::uuid, $2, $3, s, $4::bigint + s, sin(s), false, true FROM generate_series(0, $5::bigint - 1) AS s`,
    [o.tenantId, o.runId, o.key, T0, o.points]);
  const summary = o.summary ?? true;
  await owner.queryAsOwner(
    `INSERT INTO run_latest_metrics (tenant_id, run_id, key, value, timestamp, step, is_nan, step_min, step_count, step_stride)
     VALUES ($1::uuid, $2, $3, sin($5::bigint - 1), $4::bigint + $5::bigint - 1, $5::bigint - 1, false,
             ${summary ? '0, $5::bigint, 1' : 'NULL, NULL, NULL'})`,
    [o.tenantId, o.runId, o.key, T0, o.points]);
};
