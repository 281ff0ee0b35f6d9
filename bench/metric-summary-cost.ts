/**
 * What keeping the step summary (migration 0038) costs log-batch's metric statement in PostgreSQL backend
 * CPU (from /proc/<backend pid>/stat): the statement as log-batch sends it (INSERT_METRICS_SQL) against the
 * same statement without the summary (the statement before migration 0038, writing `summarized` rows so
 * the two differ only by the summary), prepared, on one connection as the application role with the
 * tenant scope set, alternated in rounds. Two shapes:
 *   - `new run`: 3 keys, one point each, into a run that has none (issue 20 item 4's runs/create + log-batch:
 *     every latest row is inserted, no merge);
 *   - `append`: 10 keys × 100 steps appended to runs that already have those keys (the log-batch
 *     points/s shape: every latest row is updated, one summary merge per key);
 *   - `log-metric`: one point of one key appended to a run that has it (runs/log-metric: one merge).
 * Linux only.
 *
 * Usage: node bench/metric-summary-cost.ts [iterations=300]
 */
import pg from 'pg';
import { processCpu } from './support/process-cpu.ts';
import { cpus, loadavg } from 'node:os';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../test/support/databases.ts';
import { INSERT_METRICS_SQL, stepProgression } from '../src/tracking/tracking-queries.ts';

const BASELINE_SQL = `WITH history AS (
    INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan, summarized)
    SELECT $1::uuid, $2, u.key, u.step, u.ts, u.value, u.value = 'NaN'::float8, true
      FROM unnest($3::text::text[], $4::text::float8[], $5::text::int8[], $6::text::int8[]) AS u(key, value, ts, step))
  INSERT INTO run_latest_metrics AS l (tenant_id, run_id, key, value, timestamp, step, is_nan)
  SELECT $1::uuid, $2, u.key, u.value, u.ts, u.step, u.value = 'NaN'::float8
    FROM unnest($7::text::text[], $8::text::float8[], $9::text::int8[], $10::text::int8[]) AS u(key, value, ts, step)
  ON CONFLICT (tenant_id, run_id, key) DO UPDATE
    SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp, step = EXCLUDED.step, is_nan = EXCLUDED.is_nan
    WHERE (EXCLUDED.step, EXCLUDED.timestamp, CASE WHEN EXCLUDED.is_nan THEN 0 ELSE EXCLUDED.value END)
        > (l.step, l.timestamp, CASE WHEN l.is_nan THEN 0 ELSE l.value END)`;

const database = await createTestDatabase('postgres');
if (database.ownerUrl === undefined || database.appUrl === undefined) throw new Error('PostgreSQL only');
const owner = new pg.Client({ connectionString: database.ownerUrl });
await owner.connect();
const tenantId = randomUUID();
await owner.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, 'bench-summary', 'B', 'sandbox', 'active')`, [tenantId]);
await owner.query(`INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES ($1, 1, 'e', 'mlflow-artifacts:/1', 'active', 0, 0)`, [tenantId]);
const c = new pg.Client({ connectionString: database.appUrl });
await c.connect();
const pid = (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]?.p;
if (pid === undefined) throw new Error('no backend pid');
const cpu = (): number => {
  const used = processCpu(pid);
  if (used === undefined) throw new Error(`backend ${pid} is gone`);
  return used.user + used.system;
};
const prelude = `BEGIN;SELECT set_config('role','bulkhead_app',true),set_config('bulkhead.tenant_id','${tenantId}',true)`;

const newRun = async (): Promise<string> => {
  const id = randomUUID().replaceAll('-', '');
  await owner.query(`INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
                     VALUES ($1, $2, 1, 'r', 'u', 'RUNNING', 0, 'active', 'x')`, [id, tenantId]);
  return id;
};

/** The statement's parameters for `keys` keys × `steps` steps from `from`, as insertMetrics builds them. */
const params = (runId: string, keys: number, from: number, steps: number, summary: boolean): unknown[] => {
  const k: string[] = [];
  const v: number[] = [];
  const st: number[] = [];
  for (let key = 0; key < keys; key += 1) for (let s = from; s < from + steps; s += 1) { k.push(`"m${key}"`); v.push(s / 7); st.push(s); }
  const last = Array.from({ length: keys }, (_, key) => key);
  const lastStep = from + steps - 1;
  const p = stepProgression(Array.from({ length: steps }, (_, i) => from + i));
  const base = [tenantId, runId, `{${k.join(',')}}`, `{${v.join(',')}}`, `{${st.map(() => 1).join(',')}}`, `{${st.join(',')}}`,
    `{${last.map((key) => `"m${key}"`).join(',')}}`, `{${last.map(() => lastStep / 7).join(',')}}`, `{${last.map(() => 1).join(',')}}`, `{${last.map(() => lastStep).join(',')}}`];
  return summary ? [...base, `{${last.map(() => p.first).join(',')}}`, `{${last.map(() => p.count).join(',')}}`, `{${last.map(() => p.stride ?? 'NULL').join(',')}}`] : base;
};

const N = Number(process.argv[2] ?? 300);
console.log(`metric statement backend CPU, with vs without the step summary; PostgreSQL, prepared, ${N} statements per cell, alternated; ` +
  `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}); load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const appendRuns = { with: [] as string[], without: [] as string[] };
for (const side of ['with', 'without'] as const) for (let i = 0; i < 20; i += 1) appendRuns[side].push(await newRun());
const singleRuns = { with: [] as string[], without: [] as string[] };
for (const side of ['with', 'without'] as const) for (let i = 0; i < 20; i += 1) singleRuns[side].push(await newRun());
const nextStep = new Map<string, number>();
const results: Record<string, number[]> = {};
for (const round of [0, 1, 2, 3]) {
  for (const shape of ['new run', 'append', 'log-metric'] as const) {
    for (const side of ['without', 'with'] as const) {
      const sql = side === 'with' ? INSERT_METRICS_SQL : BASELINE_SQL;
      const name = `${side}-${shape}`;
      // Runs made (by the owner) before the timed loop: only the metric statement is timed.
      const runs = shape === 'new run' ? await Promise.all(Array.from({ length: N }, () => newRun())) : [];
      const before = cpu();
      for (let i = 0; i < N; i += 1) {
        let runId: string;
        let from = 0;
        const steps = shape === 'append' ? 100 : 1;
        if (shape === 'new run') runId = runs[i] as string;
        else {
          runId = (shape === 'append' ? appendRuns : singleRuns)[side][i % 20] as string;
          from = nextStep.get(runId) ?? 0;
          nextStep.set(runId, from + steps);
        }
        await c.query(prelude);
        await c.query({ name, text: sql, values: shape === 'new run' ? params(runId, 3, 0, 1, side === 'with') : params(runId, shape === 'append' ? 10 : 1, from, steps, side === 'with') });
        await c.query('COMMIT');
      }
      if (round > 0) (results[name] ??= []).push(((cpu() - before) / N) * 1000);
    }
  }
}
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log('\n| shape | without summary (µs) | with summary (µs) | ratio |');
console.log('| --- | --- | --- | --- |');
for (const shape of ['new run', 'append', 'log-metric']) {
  const without = results[`without-${shape}`] ?? [];
  const withSummary = results[`with-${shape}`] ?? [];
  console.log(`| ${shape} | ${without.map((x) => x.toFixed(0)).join(' / ')} | ${withSummary.map((x) => x.toFixed(0)).join(' / ')} | ${(median(withSummary) / median(without)).toFixed(2)}× |`);
}
const kept = await owner.query<{ n: string }>('SELECT count(*)::text AS n FROM run_latest_metrics WHERE run_id = ANY($1) AND step_stride = 1', [appendRuns.with]);
console.log(`append series still summarised at the end: ${kept.rows[0]?.n ?? 0} of ${appendRuns.with.length * 10}`);
await c.end();
await owner.end();
await database.drop();
