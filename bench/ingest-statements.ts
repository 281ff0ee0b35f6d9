/**
 * What PostgreSQL's backend spends, in CPU time (from /proc/<backend pid>/stat), on the statements of the
 * ingest path — runs/create (one CTE statement) and log-batch (run check, metrics, params, tags,
 * pipelined) — sent unnamed (parsed and planned on every call) and as prepared statements (parsed once
 * per connection, cached plan), alternately, on one connection as the application role with the tenant
 * scope set, so row-level security applies. Also an empty scoped transaction for reference. Then the
 * prepared statements of 8 runs three ways: COMMIT sent after the statements' answers (one transaction per
 * runs/create and per log-batch), COMMIT pipelined with them (commit ahead), and the 8 runs' runs/create in
 * one transaction and their log-batches in another (write combining, src/db/combine.ts). Linux only.
 *
 * Usage: node bench/ingest-statements.ts [iterations=400]
 */
import pg from 'pg';
import { processCpu } from './support/process-cpu.ts';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../test/support/databases.ts';
const database = await createTestDatabase('postgres');
if (database.ownerUrl === undefined || database.appUrl === undefined) throw new Error('PostgreSQL only');
const owner = new pg.Client({ connectionString: database.ownerUrl }); await owner.connect();
const tenantId = randomUUID();
await owner.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, 'bench-micro', 'B', 'sandbox', 'active')`, [tenantId]);
await owner.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES ($1, 1, 'e', 'mlflow-artifacts:/1', 'active', 0, 0)`, [tenantId]);
const c = new pg.Client({ connectionString: database.appUrl, pipeline: true }); await c.connect();
const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
const cpu = (): number => {
  const used = processCpu(pid);
  if (used === undefined) throw new Error(`backend ${pid} is gone`);
  return used.user + used.system;
};
const prelude = `BEGIN;SELECT set_config('role','bulkhead_app',true),set_config('bulkhead.tenant_id','${tenantId}',true)`;
const sqlRun = `WITH e AS (SELECT e.id, e.artifact_location FROM experiments e WHERE e.tenant_id = $2::uuid AND e.id = $3 AND e.lifecycle_stage = 'active'), r AS (INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri) SELECT $1, $2::uuid, e.id, $4, $5, 'RUNNING', $6, 'active', rtrim(e.artifact_location, '/') || '/' || $1 || '/artifacts' FROM e RETURNING id, artifact_uri), t AS (INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT $2::uuid, r.id, u.key, u.value, $3, $6 FROM r, unnest($7::text[], $8::text[]) AS u(key, value) RETURNING key, value) SELECT r.artifact_uri, (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key) FROM t) AS tags FROM r`;
const sqlInfo = `SELECT r.id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri FROM runs r WHERE r.id = $1`;
const sqlTags = `INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value, x.experiment_id, x.start_time FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, value, ord) LEFT JOIN runs x ON x.tenant_id = $1::uuid AND x.id = $2 ORDER BY u.key, u.ord DESC ON CONFLICT (tenant_id, run_id, key) DO UPDATE SET value = EXCLUDED.value`;
const sqlParams = `WITH u AS (SELECT * FROM unnest($3::text[], $4::text[]) AS u(key, value)), ins AS (INSERT INTO run_params (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT $1::uuid, $2, u.key, u.value, x.experiment_id, x.start_time FROM u LEFT JOIN runs x ON x.tenant_id = $1::uuid AND x.id = $2 ON CONFLICT (tenant_id, run_id, key) DO NOTHING RETURNING key) SELECT u.key, u.value, p.value AS existing FROM u LEFT JOIN run_params p ON p.tenant_id = $1::uuid AND p.run_id = $2 AND p.key = u.key WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.key = u.key)`;
const sqlMetrics = `WITH history AS (INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan) SELECT $1::uuid, $2, u.key, u.step, u.ts, u.value, u.value = 'NaN'::float8 FROM unnest($3::text::text[], $4::text::float8[], $5::text::int8[], $6::text::int8[]) AS u(key, value, ts, step)) INSERT INTO run_latest_metrics AS l (tenant_id, run_id, key, value, timestamp, step, is_nan) SELECT $1::uuid, $2, u.key, u.value, u.ts, u.step, u.value = 'NaN'::float8 FROM unnest($7::text::text[], $8::text::float8[], $9::text::int8[], $10::text::int8[]) AS u(key, value, ts, step) ON CONFLICT (tenant_id, run_id, key) DO UPDATE SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp, step = EXCLUDED.step, is_nan = EXCLUDED.is_nan WHERE (EXCLUDED.step, EXCLUDED.timestamp, CASE WHEN EXCLUDED.is_nan THEN 0 ELSE EXCLUDED.value END) > (l.step, l.timestamp, CASE WHEN l.is_nan THEN 0 ELSE l.value END)`;
const q = (named: boolean, name: string, text: string, values: unknown[]): Promise<pg.QueryResult> => c.query(named ? { name, text, values } : { text, values });
const one = async (named: boolean, part: 'create' | 'batch' | 'empty'): Promise<void> => {
  const id = randomUUID().replaceAll('-', '');
  await c.query(prelude);
  if (part !== 'empty') await q(named, 'run', sqlRun, [id, tenantId, 1, 'n', 'u', 1, ['mlflow.runName'], ['n']]);
  await c.query('COMMIT');
  if (part !== 'batch') return;
  await c.query(prelude);
  await Promise.all([ // pipelined, as the driver sends them
    q(named, 'info', sqlInfo, [id]),
    q(named, 'metrics', sqlMetrics, [tenantId, id, '{"m0","m1","m2"}', '{0.1,0.2,0.3}', '{1,1,1}', '{0,0,0}', '{"m0","m1","m2"}', '{0.1,0.2,0.3}', '{1,1,1}', '{0,0,0}']),
    q(named, 'params', sqlParams, [tenantId, id, ['a'], ['1']]),
    q(named, 'tags', sqlTags, [tenantId, id, ['t'], ['x']]),
  ]);
  await c.query('COMMIT');
};
const N = Number(process.argv[2] ?? 400);
console.log(`backend CPU per statement set, PostgreSQL, ${N} iterations each, alternated; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const round of [1, 2, 3]) for (const part of ['empty', 'create', 'batch'] as const) for (const named of [false, true]) {
  for (let i = 0; i < 20; i++) await one(named, part);
  const a = cpu(); const t = performance.now();
  for (let i = 0; i < N; i++) await one(named, part);
  if (round >= 2) console.log(`${part.padEnd(7)} ${named ? 'prepared' : 'unnamed '}: backend CPU ${((cpu() - a) / N * 1000).toFixed(0)} µs per ${part === 'batch' ? 'run (create + batch)' : part === 'create' ? 'create' : 'empty txn'}, wall ${((performance.now() - t) / N).toFixed(2)} ms`);
}

// Commit ahead and write combining, per run (create + batch), 8 runs per round.
const K = 8;
const createOf = (id: string) => q(true, 'run', sqlRun, [id, tenantId, 1, 'n', 'u', 1, ['mlflow.runName'], ['n']]);
const batchOf = (id: string) => [
  q(true, 'info', sqlInfo, [id]),
  q(true, 'metrics', sqlMetrics, [tenantId, id, '{"m0","m1","m2"}', '{0.1,0.2,0.3}', '{1,1,1}', '{0,0,0}', '{"m0","m1","m2"}', '{0.1,0.2,0.3}', '{1,1,1}', '{0,0,0}']),
  q(true, 'params', sqlParams, [tenantId, id, ['a'], ['1']]),
  q(true, 'tags', sqlTags, [tenantId, id, ['t'], ['x']]),
];
const ids = () => Array.from({ length: K }, () => randomUUID().replaceAll('-', ''));
const shapes = {
  'COMMIT after answers': async () => {
    for (const id of ids()) {
      await c.query(prelude); await createOf(id); await c.query('COMMIT');
      await c.query(prelude); await Promise.all(batchOf(id)); await c.query('COMMIT');
    }
  },
  'commit ahead        ': async () => {
    for (const id of ids()) {
      await Promise.all([c.query(prelude), createOf(id), c.query('COMMIT')]);
      await Promise.all([c.query(prelude), ...batchOf(id), c.query('COMMIT')]);
    }
  },
  'combined, 8 per txn ': async () => {
    const runs = ids();
    await Promise.all([c.query(prelude), ...runs.map(createOf), c.query('COMMIT')]);
    await Promise.all([c.query(prelude), ...runs.flatMap(batchOf), c.query('COMMIT')]);
  },
};
const rounds = Math.max(20, Math.round(N / K));
for (const round of [1, 2, 3]) for (const [name, f] of Object.entries(shapes)) {
  for (let i = 0; i < 5; i++) await f();
  const a = cpu(); const t = performance.now();
  for (let i = 0; i < rounds; i++) await f();
  if (round >= 2) console.log(`${name}: backend CPU ${((cpu() - a) / rounds / K * 1000).toFixed(0)} µs per run (create + batch), wall ${((performance.now() - t) / rounds / K).toFixed(2)} ms`);
}
await c.end(); await owner.end(); await database.drop();
