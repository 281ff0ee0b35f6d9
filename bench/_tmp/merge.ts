import pg from 'pg';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../../test/support/databases.ts';
import { INSERT_METRICS_SQL, LATER_SQL, APPENDS_SQL, UNION_SQL } from './sql.ts';
const database = await createTestDatabase('postgres');
const owner = new pg.Client({ connectionString: database.ownerUrl! }); await owner.connect();
const tenantId = randomUUID();
await owner.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, 'bench-micro', 'B', 'sandbox', 'active')`, [tenantId]);
await owner.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES ($1, 1, 'e', 'mlflow-artifacts:/1', 'active', 0, 0)`, [tenantId]);
const c = new pg.Client({ connectionString: database.appUrl!, pipeline: true }); await c.connect();
const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
const cpu = (): number => { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const prelude = `BEGIN;SELECT set_config('role','bulkhead_app',true),set_config('bulkhead.tenant_id','${tenantId}',true)`;
const sqlRun = `WITH e AS (SELECT e.id, e.artifact_location FROM experiments e WHERE e.tenant_id = $2::uuid AND e.id = $3 AND e.lifecycle_stage = 'active'), r AS (INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri) SELECT $1, $2::uuid, e.id, $4, $5, 'RUNNING', $6, 'active', rtrim(e.artifact_location, '/') || '/' || $1 || '/artifacts' FROM e RETURNING id, artifact_uri), t AS (INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT $2::uuid, r.id, u.key, u.value, $3, $6 FROM r, unnest($7::text[], $8::text[]) AS u(key, value) RETURNING key, value) SELECT r.artifact_uri, (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key) FROM t) AS tags FROM r`;
const sqlInfo = `SELECT r.id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri FROM runs r WHERE r.id = $1`;
const RA = `EXISTS (SELECT 1 FROM runs x WHERE x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active')`;
const sqlTags = `INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value, x.experiment_id, x.start_time FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, value, ord) JOIN runs x ON x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active' ORDER BY u.key, u.ord DESC ON CONFLICT (tenant_id, run_id, key) DO UPDATE SET value = EXCLUDED.value`;
const sqlParams = `WITH u AS (SELECT * FROM unnest($3::text[], $4::text[]) AS u(key, value)), ins AS (INSERT INTO run_params (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT $1::uuid, $2, u.key, u.value, x.experiment_id, x.start_time FROM u JOIN runs x ON x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active' ON CONFLICT (tenant_id, run_id, key) DO NOTHING RETURNING key) SELECT u.key, u.value, p.value AS existing FROM u LEFT JOIN run_params p ON p.tenant_id = $1::uuid AND p.run_id = $2 AND p.key = u.key WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.key = u.key) AND ${RA} AND NOT bulkhead_refuse($5 AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.key = u.key) AND p.value IS DISTINCT FROM u.value, 'param_changed')`;
const merged = `WITH run AS (SELECT x.lifecycle_stage, x.experiment_id, x.start_time FROM runs x WHERE x.tenant_id = $1::uuid AND x.id = $2),
 a AS (SELECT experiment_id, start_time FROM run WHERE lifecycle_stage = 'active'),
 history AS (INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan, summarized)
    SELECT $1::uuid, $2, u.key, u.step, u.ts, u.value, u.value = 'NaN'::float8, true
      FROM unnest($3::text::text[], $4::text::float8[], $5::text::int8[], $6::text::int8[]) AS u(key, value, ts, step), a),
 latest AS (INSERT INTO run_latest_metrics AS l (tenant_id, run_id, key, value, timestamp, step, is_nan, step_min, step_count, step_stride)
  SELECT $1::uuid, $2, u.key, u.value, u.ts, u.step, u.value = 'NaN'::float8, u.smin, u.scount, u.sstride
    FROM unnest($7::text::text[], $8::text::float8[], $9::text::int8[], $10::text::int8[], $11::text::int8[], $12::text::int8[], $13::text::int8[]) AS u(key, value, ts, step, smin, scount, sstride), a
  ON CONFLICT (tenant_id, run_id, key) DO UPDATE
    SET value = CASE WHEN ${LATER_SQL} THEN EXCLUDED.value ELSE l.value END,
        timestamp = CASE WHEN ${LATER_SQL} THEN EXCLUDED.timestamp ELSE l.timestamp END,
        step = CASE WHEN ${LATER_SQL} THEN EXCLUDED.step ELSE l.step END,
        is_nan = CASE WHEN ${LATER_SQL} THEN EXCLUDED.is_nan ELSE l.is_nan END,
        step_min = CASE WHEN ${APPENDS_SQL} THEN l.step_min ELSE (${UNION_SQL}).step_min END,
        step_count = CASE WHEN ${APPENDS_SQL} THEN l.step_count + EXCLUDED.step_count ELSE (${UNION_SQL}).step_count END,
        step_stride = CASE WHEN ${APPENDS_SQL} THEN l.step_stride ELSE (${UNION_SQL}).step_stride END),
 pu AS (SELECT * FROM unnest($14::text[], $15::text[]) AS u(key, value)),
 pins AS (INSERT INTO run_params (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT $1::uuid, $2, pu.key, pu.value, a.experiment_id, a.start_time FROM pu, a ON CONFLICT (tenant_id, run_id, key) DO NOTHING RETURNING key),
 tags AS (INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time) SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value, a.experiment_id, a.start_time FROM unnest($16::text[], $17::text[]) WITH ORDINALITY AS u(key, value, ord), a ORDER BY u.key, u.ord DESC ON CONFLICT (tenant_id, run_id, key) DO UPDATE SET value = EXCLUDED.value)
 SELECT (SELECT lifecycle_stage FROM run) AS stage,
   (SELECT count(*) FROM pu LEFT JOIN run_params p ON p.tenant_id = $1::uuid AND p.run_id = $2 AND p.key = pu.key
     WHERE NOT EXISTS (SELECT 1 FROM pins WHERE pins.key = pu.key) AND EXISTS (SELECT 1 FROM a) AND NOT bulkhead_refuse(NOT EXISTS (SELECT 1 FROM pins WHERE pins.key = pu.key) AND p.value IS DISTINCT FROM pu.value, 'param_changed')) AS checked`;
const q = (name: string, text: string, values: unknown[]) => c.query({ name, text, values });
const m = (id: string) => [tenantId, id, '{"m0","m1","m2"}', '{0.1,0.2,0.3}', '{1,1,1}', '{0,0,0}', '{"m0","m1","m2"}', '{0.1,0.2,0.3}', '{1,1,1}', '{0,0,0}', '{0,0,0}', '{1,1,1}', '{0,0,0}'];
const four = (id: string) => [q('info', sqlInfo, [id]), q('metrics', INSERT_METRICS_SQL, m(id)), q('params', sqlParams, [tenantId, id, ['a'], ['1'], true]), q('tags', sqlTags, [tenantId, id, ['t'], ['x']])];
const one = (id: string) => [q('merged', merged, [...m(id), ['a'], ['1'], ['t'], ['x']])];
const K = Number(process.argv[3] ?? 8);
const shape = (batch: (id: string) => Promise<unknown>[]) => async () => {
  const ids = Array.from({ length: K }, () => randomUUID().replaceAll('-', ''));
  await Promise.all([c.query(prelude), ...ids.map((id) => q('run', sqlRun, [id, tenantId, 1, 'n', 'u', 1, ['mlflow.runName'], ['n']])), c.query('COMMIT')]);
  await Promise.all([c.query(prelude), ...ids.flatMap(batch), c.query('COMMIT')]);
};
const N = Number(process.argv[2] ?? 60);
for (const round of [1, 2, 3, 4]) for (const [name, f] of [['four statements', shape(four)], ['one statement ', shape(one)]] as const) {
  for (let i = 0; i < 5; i++) await f();
  const a = cpu(); const t = performance.now();
  for (let i = 0; i < N; i++) await f();
  if (round >= 2) console.log(`K=${K} ${name}: backend ${((cpu() - a) / N / K * 1000).toFixed(0)} µs per run, wall ${((performance.now() - t) / N / K).toFixed(3)} ms`);
}
const check = await owner.query(`SELECT (SELECT count(*) FROM run_metrics) m, (SELECT count(*) FROM run_params) p, (SELECT count(*) FROM run_tags) t, (SELECT count(*) FROM runs) r`);
console.log(check.rows[0]);
await c.end(); await owner.end(); await database.drop();
