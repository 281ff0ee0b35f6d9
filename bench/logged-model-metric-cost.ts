/**
 * What keeping logged models' latest metric values (migration 0039) costs a log-batch whose points carry a
 * `model_id`: wall time of the transaction in the database, on PostgreSQL and PGlite, alternated per batch —
 * the run's points only; plus the model link as before 0039 (the statement without the latest-value upsert,
 * kept here as the baseline); plus the link as now. 100-point batches (10 models × 10 keys, dataset
 * `eval`/`d1`, every point later than the stored one: 300 selector rows upserted), 400 each, the first 50
 * discarded. As the application role in withTenant (row-level security applies).
 *
 * Usage: node bench/logged-model-metric-cost.ts
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { withTenant } from '../src/db/index.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { insertLoggedModelMetrics } from '../src/tracking/logged-model-queries.ts';
import { insertMetrics } from '../src/tracking/tracking-queries.ts';

const OLD = `WITH u AS (
       SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
         AS u(model_id, key, value, ts, step, dataset_name, dataset_digest)),
     known AS (SELECT lm.id FROM logged_models lm WHERE lm.id IN (SELECT u.model_id FROM u) AND lm.lifecycle_stage = 'active'),
     ins AS (
       INSERT INTO logged_model_metrics (tenant_id, model_id, run_id, key, value, timestamp, step, is_nan, dataset_name, dataset_digest)
       SELECT $1::uuid, u.model_id, $2, u.key, u.value::float8, u.ts::int8, u.step::int8, u.value::float8 = 'NaN'::float8,
              u.dataset_name, u.dataset_digest
         FROM u WHERE u.model_id IN (SELECT known.id FROM known)
       RETURNING 1)
     SELECT DISTINCT u.model_id AS missing FROM u WHERE u.model_id NOT IN (SELECT known.id FROM known)`;

console.log(`${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}); load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const kind of ['postgres', 'pglite'] as const) {
  const database = await createTestDatabase(kind);
  const tenant = '7a0e0000-0000-4000-8000-0000000000e1';
  await database.owner.queryAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, 'log-batch-bench', 'lb', 'sandbox', 'active')`, [tenant]);
  await database.owner.queryAsOwner(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES ($1, 1, 'e', 'x', 'active', 1, 1)`, [tenant]);
  const run = 'a'.repeat(32);
  await database.owner.queryAsOwner(`INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri) VALUES ($1, $2, 1, 'r', 'u', 'RUNNING', 1, 'active', 'x')`, [run, tenant]);
  const models = Array.from({ length: 10 }, (_, i) => `m-${String(i).padStart(32, '0')}`);
  for (const m of models) await database.owner.queryAsOwner(`INSERT INTO logged_models (id, tenant_id, experiment_id, name, artifact_location, creation_time, last_updated_time, status, lifecycle_stage) VALUES ($1, $2, 1, 'n', 'x', 1, 1, 'READY', 'active')`, [m, tenant]);
  let step = 0;
  const batch = () => {
    step += 1;
    return models.flatMap((m) => Array.from({ length: 10 }, (_, k) => ({ key: `k${k}`, value: Math.random(), isNan: false, timestamp: 1000 + step, step, modelId: m, datasetName: 'eval', datasetDigest: 'd1' })));
  };
  const times: Record<string, number[]> = { old: [], new: [], runOnly: [] };
  for (let i = 0; i < 400; i += 1) {
    for (const variant of ['old', 'new', 'runOnly'] as const) {
      const b = batch();
      const t = performance.now();
      await withTenant(database.db, tenant, async (tx) => {
        await insertMetrics(tx, tenant, run, b);
        if (variant === 'new') await insertLoggedModelMetrics(tx, tenant, run, b);
        if (variant === 'old') await tx.query(OLD, [tenant, run, b.map((m) => m.modelId), b.map((m) => m.key), b.map((m) => String(m.value)), b.map((m) => String(m.timestamp)), b.map((m) => String(m.step)), b.map((m) => m.datasetName), b.map((m) => m.datasetDigest)]);
      });
      if (i >= 50) times[variant]!.push(performance.now() - t);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
  const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!.toFixed(2);
  console.log(`${kind}: 100-point log-batch with model_id + dataset (10 models x 10 keys), ms median / p90 over 350: run points only ${med(times.runOnly!)} / ${p90(times.runOnly!)}, + model link (before) ${med(times.old!)} / ${p90(times.old!)}, + model link and latest (now) ${med(times.new!)} / ${p90(times.new!)}`);
  await database.drop();
}
