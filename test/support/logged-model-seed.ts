/**
 * Bulk seeding of MLflow 3 logged models for the logged-model search plan test and
 * bench/search-logged-models.ts: one `INSERT ... SELECT generate_series` per table, as the schema owner
 * (outside row-level security: set-up only; `owner` is TestDatabase.owner, on PGlite the same handle as
 * the app's). Searches are then made as the application role.
 *
 * The experiment must exist (test/support/registry-seed.ts `seedExperiments`). Model g (1 ≤ g ≤ count):
 * id `m-` + md5(tenant:experiment:g), name `model-<g % 1000>` (100 models per name at 100k),
 * creation_time `t0 + g * 10`, last_updated_time `t0 + (g * 7919) % count * 10` (a permutation of other
 * times), status READY for g % 3 = 0, FAILED for g % 3 = 1, PENDING otherwise, every 50th deleted, tag
 * `team = team<g % 100>`, param `lr = 0.<g % 10>`. Models with g % 10 ≠ 0 have one point of metric `acc`,
 * value `((g * 7919) % 1000) / 1000` (ties of 100 at 100k), on dataset (`eval`, `d<g % 2>`), linked from
 * one run; logged_model_latest_metrics is filled from those points exactly as migration 0039 fills it.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../../src/db/index.ts';
import { T0 } from './registry-seed.ts';

export const seedLoggedModels = async (owner: Db, o: { tenantId: string; experimentId: number; count: number }): Promise<void> => {
  // Run ids are global: one per (tenant, experiment).
  const runId = createHash('md5').update(`${o.tenantId}:${String(o.experimentId)}`).digest('hex');
  await owner.queryAsOwner(
    `INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
     VALUES ($1, $2::uuid, $3::bigint, 'trainer', 'user', 'FINISHED', $4::bigint, $4::bigint + 1000, 'active',
             'mlflow-artifacts:/' || $3::bigint || '/' || $1 || '/artifacts')`,
    [runId, o.tenantId, o.experimentId, T0]);
  const p = [o.tenantId, o.experimentId, o.count, T0];
  const id = `'m-' || md5($1::text || ':' || $2::bigint || ':' || g)`;
  const series = 'generate_series(1, $3::int) AS g';
  await owner.queryAsOwner(
    `INSERT INTO logged_models (id, tenant_id, experiment_id, name, artifact_location, creation_time, last_updated_time, status, lifecycle_stage)
     SELECT ${id}, $1::uuid, $2::bigint, 'model-' || (g % 1000), 'mlflow-artifacts:/' || $2::bigint || '/models/' || ${id} || '/artifacts',
            $4::bigint + g * 10, $4::bigint + ((g::bigint * 7919) % $3::int) * 10,
            CASE g % 3 WHEN 0 THEN 'READY' WHEN 1 THEN 'FAILED' ELSE 'PENDING' END,
            CASE WHEN g % 50 = 0 THEN 'deleted' ELSE 'active' END
       FROM ${series}`, p);
  await owner.queryAsOwner(
    `INSERT INTO logged_model_tags (tenant_id, model_id, key, value)
     SELECT $1::uuid, ${id}, 'team', 'team' || (g % 100) FROM ${series} WHERE $4::bigint IS NOT NULL`, p);
  await owner.queryAsOwner(
    `INSERT INTO logged_model_params (tenant_id, model_id, key, value)
     SELECT $1::uuid, ${id}, 'lr', '0.' || (g % 10) FROM ${series} WHERE $4::bigint IS NOT NULL`, p);
  await owner.queryAsOwner(
    `INSERT INTO logged_model_metrics (tenant_id, model_id, run_id, key, value, timestamp, step, is_nan, dataset_name, dataset_digest)
     SELECT $1::uuid, ${id}, $5, 'acc', ((g::bigint * 7919) % 1000) / 1000.0, $4::bigint + g * 10 + 5, 1, false, 'eval', 'd' || (g % 2)
       FROM ${series} WHERE g % 10 <> 0`, [...p, runId]);
  // As migration 0039 fills the table from the linked points (one row per model, key and selector).
  await owner.queryAsOwner(
    `INSERT INTO logged_model_latest_metrics (tenant_id, model_id, key, dataset_name, dataset_digest, experiment_id, creation_time, value, timestamp, step)
     SELECT DISTINCT ON (d.model_id, d.key, s.name, s.digest)
            d.tenant_id, d.model_id, d.key, s.name, s.digest, lm.experiment_id, lm.creation_time, d.value, d.timestamp, d.step
       FROM logged_model_metrics d
       JOIN logged_models lm ON lm.tenant_id = d.tenant_id AND lm.id = d.model_id
      CROSS JOIN LATERAL (VALUES ('', ''), (d.dataset_name, ''), (d.dataset_name, d.dataset_digest)) AS s(name, digest)
      WHERE d.tenant_id = $1::uuid AND lm.experiment_id = $2::bigint AND s.name IS NOT NULL AND s.digest IS NOT NULL
      ORDER BY d.model_id, d.key, s.name, s.digest, d.timestamp DESC, d.step DESC, d.value DESC`,
    [o.tenantId, o.experimentId]);
};
