/**
 * SQL of experiment tracking. Every function takes the transaction of a `withTenant` scope: row-level
 * security limits every statement to that tenant, so no query here filters by tenant for safety — the
 * `tenant_id` conditions that do appear are for index use and for inserts. All values are bound
 * parameters; SQL text comes only from this file and the search compiler (search-filter.ts).
 */
import type { Db, Queryable } from '../db/index.ts';
import { readAsSystem } from '../db/index.ts';
import type { ExperimentRow, RunInfoRow, RunRow } from './mlflow-entities.ts';
import type { KeyValue, ValidMetric } from './mlflow-validation.ts';
import { AUDIT_EVENT_COLUMNS } from '../audit/index.ts';

/**
 * The statements of the ingest path (runs/create, log-batch, log-metric, log-parameter, set-tag): kept
 * prepared on each PostgreSQL connection (QueryOptions.prepare). Measured on PostgreSQL 15 with the
 * row-level security policies of this schema: parsing and planning them was ≈ 70% of the backend's CPU
 * time for a run created and logged to (4.5–5.2 ms per run unprepared, 1.2–1.55 ms prepared:
 * bench/ingest-statements.ts, docs/benchmarks.md).
 */
const PREPARED = { prepare: true } as const;

export const EXPERIMENT_SELECT = `
  SELECT e.id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time,
    (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key)
       FROM experiment_tags t WHERE t.tenant_id = e.tenant_id AND t.experiment_id = e.id) AS tags
  FROM experiments e`;

export const RUN_INFO_COLUMNS = 'r.id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri';

/**
 * A run with its latest metrics, params, tags, dataset inputs and logged-model inputs and outputs (MLflow 3),
 * as correlated aggregates over alias `r`.
 */
export const RUN_SELECT = `
  SELECT ${RUN_INFO_COLUMNS},
    (SELECT json_agg(json_build_object('key', m.key, 'value', m.value, 'timestamp', m.timestamp, 'step', m.step) ORDER BY m.key)
       FROM run_latest_metrics m WHERE m.tenant_id = r.tenant_id AND m.run_id = r.id) AS metrics,
    (SELECT json_agg(json_build_object('key', p.key, 'value', p.value) ORDER BY p.key)
       FROM run_params p WHERE p.tenant_id = r.tenant_id AND p.run_id = r.id) AS params,
    (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key)
       FROM run_tags t WHERE t.tenant_id = r.tenant_id AND t.run_id = r.id) AS tags,
    (SELECT json_agg(json_build_object('tags', i.tags, 'dataset', json_strip_nulls(json_build_object(
        'name', i.name, 'digest', i.digest, 'source_type', i.source_type, 'source', i.source, 'schema', i.schema, 'profile', i.profile)))
        ORDER BY i.created_time, i.name, i.digest)
       FROM run_inputs i WHERE i.tenant_id = r.tenant_id AND i.run_id = r.id) AS inputs,
    (SELECT json_agg(json_build_object('model_id', l.model_id) ORDER BY l.model_id)
       FROM run_model_links l WHERE l.tenant_id = r.tenant_id AND l.run_id = r.id AND l.direction = 'input') AS model_inputs,
    (SELECT json_agg(json_build_object('model_id', l.model_id, 'step', l.step) ORDER BY l.step, l.model_id)
       FROM run_model_links l WHERE l.tenant_id = r.tenant_id AND l.run_id = r.id AND l.direction = 'output') AS model_outputs
  FROM runs r`;

/**
 * Creates the tenant's id counter and its "Default" experiment (id 0) unless the counter exists: one
 * idempotent statement. Concurrent first uses serialize on the counter's primary key; the loser's
 * insert does nothing.
 */
export const ensureDefaultExperiment = async (tx: Queryable, tenantId: string, now: number): Promise<void> => {
  await tx.query(
    `WITH c AS (
       INSERT INTO tracking_counters (tenant_id, next_experiment_id) VALUES ($1::uuid, 1)
       ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id)
     INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
     SELECT tenant_id, 0, 'Default', 'mlflow-artifacts:/0', 'active', $2::bigint, $2::bigint FROM c`,
    [tenantId, now],
  );
};

/** Takes the next experiment id of the tenant (the counter row must exist: ensureDefaultExperiment). */
export const nextExperimentId = async (tx: Queryable): Promise<number> => {
  const { rows } = await tx.query<{ id: number }>(
    'UPDATE tracking_counters SET next_experiment_id = next_experiment_id + 1 RETURNING next_experiment_id - 1 AS id',
  );
  const row = rows[0];
  if (row === undefined) throw new Error('tracking counter missing');
  return Number(row.id);
};

/**
 * The transaction's own tenant, as scope.ts sets it. `experiments` has a second, SELECT-only policy
 * (`shared_read`, migration 0034) and permissive policies are ORed, so a lookup that does not name the
 * tenant is planned as a BitmapOr of two index probes; naming it makes the primary key (or the unique
 * name) one index condition again. It also keeps the caller's own lookups to its own rows.
 */
const OWN_TENANT = `NULLIF(current_setting('bulkhead.tenant_id', true), '')::uuid`;

export const findExperiment = async (tx: Queryable, id: number): Promise<ExperimentRow | undefined> =>
  (await tx.query<ExperimentRow>(`${EXPERIMENT_SELECT} WHERE e.tenant_id = ${OWN_TENANT} AND e.id = $1`, [id])).rows[0];

export const findExperimentByName = async (tx: Queryable, name: string): Promise<ExperimentRow | undefined> =>
  (await tx.query<ExperimentRow>(`${EXPERIMENT_SELECT} WHERE e.tenant_id = ${OWN_TENANT} AND e.name = $1`, [name])).rows[0];

export const upsertExperimentTags = async (tx: Queryable, tenantId: string, experimentId: number, tags: readonly KeyValue[]): Promise<void> => {
  if (tags.length === 0) return;
  await tx.query(
    `INSERT INTO experiment_tags (tenant_id, experiment_id, key, value)
     SELECT DISTINCT ON (u.key) $1::uuid, $2::bigint, u.key, u.value
       FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, value, ord)
      ORDER BY u.key, u.ord DESC
     ON CONFLICT (tenant_id, experiment_id, key) DO UPDATE SET value = EXCLUDED.value`,
    [tenantId, experimentId, tags.map((t) => t.key), tags.map((t) => t.value)],
  );
};

export const findRunInfo = async (tx: Queryable, runId: string): Promise<RunInfoRow | undefined> =>
  (await tx.query<RunInfoRow>(`SELECT ${RUN_INFO_COLUMNS} FROM runs r WHERE r.id = $1`, [runId], PREPARED)).rows[0];

export const findRun = async (tx: Queryable, runId: string): Promise<RunRow | undefined> =>
  (await tx.query<RunRow>(`${RUN_SELECT} WHERE r.id = $1`, [runId])).rows[0];

/**
 * Upserts run tags (the last of duplicate keys wins, as in MLflow) and keeps `runs.name` equal to
 * `mlflow.runName`. Writes nothing unless the run is active, like every run write here (WRITE_BATCH_SQL,
 * whose run check is read only after its COMMIT, must leave a deleted or missing run untouched; these
 * classic statements then agree with it).
 */
export const upsertRunTags = async (tx: Queryable, tenantId: string, runId: string, tags: readonly KeyValue[]): Promise<void> => {
  if (tags.length === 0) return;
  const pending: Promise<unknown>[] = [
    tx.query(
      `INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time)
       SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value, x.experiment_id, x.start_time
         FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, value, ord)
         JOIN runs x ON x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active'
        ORDER BY u.key, u.ord DESC
       ON CONFLICT (tenant_id, run_id, key) DO UPDATE SET value = EXCLUDED.value`,
      [tenantId, runId, tags.map((t) => t.key), tags.map((t) => t.value)],
      PREPARED,
    ),
  ];
  const runName = tags.findLast((t) => t.key === 'mlflow.runName');
  if (runName !== undefined) pending.push(tx.query(`UPDATE runs SET name = $2 WHERE id = $1 AND lifecycle_stage = 'active'`, [runId, runName.value], PREPARED));
  await settleAll(pending);
};

export interface NewRun {
  runId: string;
  tenantId: string;
  experimentId: number;
  name: string;
  userId: string;
  startTime: number;
  /** Tags with distinct keys (the caller resolved duplicates, last wins). */
  tags: readonly KeyValue[];
  /** The audit event recording the creation (`auditEventValues`): written with the run, or not at all. */
  auditEvent: readonly unknown[];
}

/**
 * Creates a run and its tags in one statement, one round trip: the run row is inserted only if experiment
 * `experimentId` is visible (row-level security: the tenant's own) and active, with the artifact URI
 * under the experiment's artifact location; the tags go in with it (their foreign key is checked at the
 * end of the statement, when the run row exists), and so does its audit event. Returns the artifact URI
 * and the stored tags in MLflow's order (by key, in the database's collation, as RUN_SELECT reads them),
 * or undefined when nothing was written because the experiment is missing or not active (the caller
 * finds out which).
 */
export const insertRun = async (tx: Queryable, run: NewRun): Promise<{ artifactUri: string; tags: KeyValue[] } | undefined> => {
  const { rows } = await tx.query<{ artifact_uri: string; tags: KeyValue[] | null }>(
    `WITH e AS (
       SELECT e.id, e.artifact_location FROM experiments e
        WHERE e.tenant_id = $2::uuid AND e.id = $3 AND e.lifecycle_stage = 'active'),
     r AS (
       INSERT INTO runs (id, tenant_id, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
       SELECT $1, $2::uuid, e.id, $4, $5, 'RUNNING', $6, 'active', rtrim(e.artifact_location, '/') || '/' || $1 || '/artifacts' FROM e
       RETURNING id, artifact_uri),
     t AS (
       INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time)
       SELECT $2::uuid, r.id, u.key, u.value, $3, $6 FROM r, unnest($7::text[], $8::text[]) AS u(key, value)
       RETURNING key, value),
     a AS (
       INSERT INTO audit_events (${AUDIT_EVENT_COLUMNS})
       SELECT $9::uuid, $10::uuid, $11::timestamptz, $12::text, $13::text, $14::text, $15::text, $16::text, $17::jsonb, $18::text, $19::text FROM r)
     SELECT r.artifact_uri, (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key) FROM t) AS tags FROM r`,
    [run.runId, run.tenantId, run.experimentId, run.name, run.userId, run.startTime, run.tags.map((t) => t.key), run.tags.map((t) => t.value), ...run.auditEvent],
    PREPARED,
  );
  const row = rows[0];
  return row === undefined ? undefined : { artifactUri: row.artifact_uri, tags: row.tags ?? [] };
};

/** MLflow's "later" order of two points of one key: (step, timestamp, value), NaN compared as 0. */
const laterThan = (a: ValidMetric, b: ValidMetric): boolean => {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return (a.isNan ? 0 : a.value) > (b.isNan ? 0 : b.value);
};

// MLflow's "later" of a new point over the stored latest one: (step, timestamp, value), NaN as 0.
const LATER = `(EXCLUDED.step, EXCLUDED.timestamp, CASE WHEN EXCLUDED.is_nan THEN 0 ELSE EXCLUDED.value END)
               > (l.step, l.timestamp, CASE WHEN l.is_nan THEN 0 ELSE l.value END)`;
// The batch's steps are a progression that starts one stride after the series' last step, with the
// series' stride (or a single step). Steps are at most 2^53 in magnitude (validated), so this stays in bigint.
const APPENDS = `(l.step_stride > 0 AND EXCLUDED.step_stride IS NOT NULL
                 AND (EXCLUDED.step_stride = l.step_stride OR EXCLUDED.step_count = 1)
                 AND EXCLUDED.step_min = l.step_min + l.step_count * l.step_stride)`;
const UNION = 'bulkhead_step_union(l.step_min, l.step_count, l.step_stride, EXCLUDED.step_min, EXCLUDED.step_count, EXCLUDED.step_stride)';

// The upsert of a key's latest point (alias l) and its step summary, shared by both metric statements.
const LATEST_UPSERT = `ON CONFLICT (tenant_id, run_id, key) DO UPDATE
    SET value = CASE WHEN ${LATER} THEN EXCLUDED.value ELSE l.value END,
        timestamp = CASE WHEN ${LATER} THEN EXCLUDED.timestamp ELSE l.timestamp END,
        step = CASE WHEN ${LATER} THEN EXCLUDED.step ELSE l.step END,
        is_nan = CASE WHEN ${LATER} THEN EXCLUDED.is_nan ELSE l.is_nan END,
        -- The summary: a batch that continues the progression right after its last step (logging in
        -- order: nearly every batch) extends it here; anything else is merged by bulkhead_step_union.
        step_min = CASE WHEN ${APPENDS} THEN l.step_min ELSE (${UNION}).step_min END,
        step_count = CASE WHEN ${APPENDS} THEN l.step_count + EXCLUDED.step_count ELSE (${UNION}).step_count END,
        step_stride = CASE WHEN ${APPENDS} THEN l.step_stride ELSE (${UNION}).step_stride END`;

// Run $2 of tenant $1 exists and is active: a one-time filter (insertParams).
const RUN_ACTIVE = `EXISTS (SELECT 1 FROM runs x WHERE x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active')`;

// The two inserts of a metric batch, shared by both metric statements: $1 tenant, $2 run, $3–$6 the points
// (keys, values, timestamps, steps), $7–$10 the latest point per key, $11–$13 each key's step progression
// in the batch (metricArrays). Each reads the CTE `a`, the run when it is active (one row, or none: then
// nothing is written); the latest rows copy its experiment and start time (migration 0043).
const HISTORY_INSERT = `INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan, summarized)
    SELECT $1::uuid, $2, u.key, u.step, u.ts, u.value, u.value = 'NaN'::float8, true
      FROM unnest($3::text::text[], $4::text::float8[], $5::text::int8[], $6::text::int8[]) AS u(key, value, ts, step), a`;
const LATEST_INSERT = `INSERT INTO run_latest_metrics AS l (tenant_id, run_id, key, value, timestamp, step, is_nan, step_min, step_count, step_stride,
      run_experiment_id, run_start_time)
    SELECT $1::uuid, $2, u.key, u.value, u.ts, u.step, u.value = 'NaN'::float8, u.smin, u.scount, u.sstride, a.experiment_id, a.start_time
      FROM unnest($7::text::text[], $8::text::float8[], $9::text::int8[], $10::text::int8[],
              $11::text::int8[], $12::text::int8[], $13::text::int8[]) AS u(key, value, ts, step, smin, scount, sstride), a
    ${LATEST_UPSERT}`;

/**
 * log-batch's metric statement (see insertMetrics), parameters as HISTORY_INSERT's. Writes nothing unless
 * the run is active (see upsertRunTags).
 */
export const INSERT_METRICS_SQL = `WITH a AS (
    SELECT x.experiment_id, x.start_time FROM runs x WHERE x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active'),
  history AS (${HISTORY_INSERT})
  ${LATEST_INSERT}`;

/**
 * Inserts metric points into the history and moves each key's latest value forward when a new point is
 * later by (step, timestamp, value) — MLflow's order, with NaN compared as 0 as MLflow's SQL store stores
 * it. One statement, one round trip, whatever the batch size: the history as four array parameters
 * unnested server-side, the batch's latest point per key (picked here, in one pass) as four more.
 * Latest-metric rows are upserted in key order (every writer goes through here), so concurrent batches on
 * one run lock them in the same order and cannot deadlock each other. Identical points are kept as rows
 * and read as one (see migration 0002).
 *
 * The same upsert keeps each series' step summary (migration 0038): the batch's distinct steps of the key
 * as a progression (first step, count, stride; stride NULL when they are not one), merged into the row's
 * under the row lock the upsert takes, so concurrent batches merge one after the other — inline when the
 * batch continues the progression, by `bulkhead_step_union` otherwise. History rows are written
 * `summarized` (the previous version's are not).
 *
 * Picking the latest per key here rather than in SQL (DISTINCT ON over the batch, which also made
 * PostgreSQL materialise the unnested batch for two readers) took ≈ 1.5 ms of PostgreSQL time off a
 * 1,000-point batch; in Node it costs a few microseconds.
 *
 * The arrays are sent as PostgreSQL array literals built here rather than by the driver: keys are
 * validated metric names (letters, digits, `_ - . / space`: never a quote, backslash, brace or comma),
 * quoted all the same, and numbers print as float8/int8 input accepts them (`NaN`, `Infinity`
 * included). Measured about twice as fast as the driver's generic array encoding for 1,000 points.
 */
export const insertMetrics = async (tx: Queryable, tenantId: string, runId: string, metrics: readonly ValidMetric[]): Promise<void> => {
  if (metrics.length === 0) return;
  await tx.query(INSERT_METRICS_SQL, [tenantId, runId, ...metricArrays(metrics)], PREPARED);
};

/**
 * The eleven array literals of a metric statement ($3–$13 of INSERT_METRICS_SQL): the points (keys,
 * values, timestamps, steps), the batch's latest point per key in key order, and each key's step
 * progression in the batch.
 */
const metricArrays = (metrics: readonly ValidMetric[]): string[] => {
  let keys = '{';
  let values = '{';
  let timestamps = '{';
  let steps = '{';
  const latest = new Map<string, ValidMetric>();
  const stepsOf = new Map<string, number[]>();
  for (let i = 0; i < metrics.length; i += 1) {
    const m = metrics[i] as ValidMetric;
    if (!SAFE_KEY.test(m.key)) throw new Error('metric key reached insertMetrics unvalidated');
    const sep = i === 0 ? '' : ',';
    keys += `${sep}"${m.key}"`;
    values += `${sep}${m.value}`;
    timestamps += `${sep}${m.timestamp}`;
    steps += `${sep}${m.step}`;
    const seen = latest.get(m.key);
    if (seen === undefined || laterThan(m, seen)) latest.set(m.key, m);
    const keySteps = stepsOf.get(m.key);
    if (keySteps === undefined) stepsOf.set(m.key, [m.step]);
    else keySteps.push(m.step);
  }
  const last = [...latest.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const summaries = last.map((m) => stepProgression(stepsOf.get(m.key) as number[]));
  const array = (f: (m: ValidMetric) => string): string => `{${last.map(f).join(',')}}`;
  const summaryArray = (f: (s: StepProgression) => string): string => `{${summaries.map(f).join(',')}}`;
  return [
    `${keys}}`, `${values}}`, `${timestamps}}`, `${steps}}`,
    array((m) => `"${m.key}"`), array((m) => `${m.value}`), array((m) => `${m.timestamp}`), array((m) => `${m.step}`),
    summaryArray((s) => `${s.first}`), summaryArray((s) => `${s.count}`), summaryArray((s) => (s.stride === undefined ? 'NULL' : `${s.stride}`)),
  ];
};

/**
 * A whole log-batch as one statement, for a commit-ahead transaction (see writeBatch in
 * tracking-service.ts): the run check, the metrics (history + latest), the params and the tags (and the
 * run's name, for an `mlflow.runName` tag), each written only if run $2 is this tenant's and active. A
 * param already logged with another value, or whose row cannot be seen yet, fails the statement (and so
 * the transaction) with SQLSTATE BH001. One executor start instead of four; the metric parts are
 * INSERT_METRICS_SQL's (HISTORY_INSERT, LATEST_INSERT), the params and tags parts those of insertParams
 * and upsertRunTags. Answers the run's lifecycle stage, or null when there is no such run.
 */
const WRITE_BATCH_SQL = `WITH run AS (
    SELECT x.lifecycle_stage, x.experiment_id, x.start_time FROM runs x WHERE x.tenant_id = $1::uuid AND x.id = $2),
  a AS (SELECT experiment_id, start_time FROM run WHERE lifecycle_stage = 'active'),
  history AS (${HISTORY_INSERT}),
  latest AS (${LATEST_INSERT}),
  pu AS (SELECT * FROM unnest($14::text[], $15::text[]) AS u(key, value)),
  pins AS (
    INSERT INTO run_params (tenant_id, run_id, key, value, run_experiment_id, run_start_time)
    SELECT $1::uuid, $2, pu.key, pu.value, a.experiment_id, a.start_time FROM pu, a
    ON CONFLICT (tenant_id, run_id, key) DO NOTHING RETURNING key),
  tags AS (
    INSERT INTO run_tags (tenant_id, run_id, key, value, run_experiment_id, run_start_time)
    SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value, a.experiment_id, a.start_time
      FROM unnest($16::text[], $17::text[]) WITH ORDINALITY AS u(key, value, ord), a
     ORDER BY u.key, u.ord DESC
    ON CONFLICT (tenant_id, run_id, key) DO UPDATE SET value = EXCLUDED.value),
  renamed AS (
    UPDATE runs SET name = $18 WHERE $18::text IS NOT NULL AND tenant_id = $1::uuid AND id = $2 AND lifecycle_stage = 'active')
  SELECT (SELECT lifecycle_stage FROM run) AS stage,
         -- Every param not inserted here whose stored value differs (or is not visible yet) refuses the
         -- batch: the whole condition is the function's argument, so no planner order can skip a part.
         (SELECT count(*) FROM pu LEFT JOIN run_params p ON p.tenant_id = $1::uuid AND p.run_id = $2 AND p.key = pu.key
           WHERE NOT bulkhead_refuse(EXISTS (SELECT 1 FROM a) AND NOT EXISTS (SELECT 1 FROM pins WHERE pins.key = pu.key)
                                     AND p.value IS DISTINCT FROM pu.value, 'param_changed')) AS refused`;

/** See WRITE_BATCH_SQL: the run's lifecycle stage (undefined: no such run of this tenant). */
export const writeBatchStatement = async (
  tx: Queryable, tenantId: string, runId: string, batch: { metrics: readonly ValidMetric[]; params: readonly KeyValue[]; tags: readonly KeyValue[] },
): Promise<{ stage: string | undefined }> => {
  const runName = batch.tags.findLast((t) => t.key === 'mlflow.runName');
  const { rows } = await tx.query<{ stage: string | null }>(
    WRITE_BATCH_SQL,
    [
      tenantId, runId, ...metricArrays(batch.metrics),
      batch.params.map((p) => p.key), batch.params.map((p) => p.value), batch.tags.map((t) => t.key), batch.tags.map((t) => t.value),
      runName?.value ?? null,
    ],
    PREPARED,
  );
  return { stage: rows[0]?.stage ?? undefined };
};

/** A key's distinct steps in one batch: the first, how many, and the stride when they are a progression. */
export interface StepProgression { first: number; count: number; stride: number | undefined }

/**
 * The distinct steps of one batch as a progression (migration 0038). Steps are safe integers; a batch
 * whose steps span more than 2^53 is reported as no progression rather than computed inexactly.
 */
export const stepProgression = (steps: readonly number[]): StepProgression => {
  let ascending = true;
  for (let i = 1; i < steps.length && ascending; i += 1) ascending = (steps[i] as number) >= (steps[i - 1] as number);
  const sorted = ascending ? steps : [...steps].sort((a, b) => a - b);
  const first = sorted[0] as number;
  const span = (sorted[sorted.length - 1] as number) - first;
  let count = 1;
  let stride: number | undefined = 0;
  for (let i = 1; i < sorted.length; i += 1) {
    const gap = (sorted[i] as number) - (sorted[i - 1] as number);
    if (gap === 0) continue;
    count += 1;
    if (stride === 0) stride = gap;
    else if (gap !== stride) stride = undefined;
  }
  return { first, count, stride: span > Number.MAX_SAFE_INTEGER ? undefined : stride };
};

// What validateMetricName admits (plus the length bound): safe inside a double-quoted array element.
const SAFE_KEY = /^[/\p{L}\p{N}_.\- ]{1,250}$/u;

export interface ParamClash {
  key: string;
  value: string;
  /** The value already logged; undefined when a concurrent transaction inserted the key (re-read it). */
  existing: string | undefined;
}

/**
 * Inserts params that are new and reports, in the same round trip, every incoming param whose key was
 * already logged (with the logged value, read from the statement's snapshot). A key inserted by a
 * concurrent, just-committed transaction comes back with `existing` undefined: the caller re-reads it.
 * Writes and reports nothing unless the run is active (see upsertRunTags).
 */
export const insertParams = async (tx: Queryable, tenantId: string, runId: string, params: readonly KeyValue[]): Promise<ParamClash[]> => {
  if (params.length === 0) return [];
  const { rows } = await tx.query<{ key: string; value: string; existing: string | null }>(
    `WITH u AS (SELECT * FROM unnest($3::text[], $4::text[]) AS u(key, value)),
     ins AS (
       INSERT INTO run_params (tenant_id, run_id, key, value, run_experiment_id, run_start_time)
       SELECT $1::uuid, $2, u.key, u.value, x.experiment_id, x.start_time
         FROM u JOIN runs x ON x.tenant_id = $1::uuid AND x.id = $2 AND x.lifecycle_stage = 'active'
       ON CONFLICT (tenant_id, run_id, key) DO NOTHING RETURNING key)
     SELECT u.key, u.value, p.value AS existing
       FROM u LEFT JOIN run_params p ON p.tenant_id = $1::uuid AND p.run_id = $2 AND p.key = u.key
      WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.key = u.key)
        AND ${RUN_ACTIVE}`,
    [tenantId, runId, params.map((p) => p.key), params.map((p) => p.value)],
    PREPARED,
  );
  return rows.map((row) => ({ key: row.key, value: row.value, existing: row.existing ?? undefined }));
};

export const readParams = async (tx: Queryable, runId: string, keys: readonly string[]): Promise<Map<string, string>> => {
  const { rows } = await tx.query<{ key: string; value: string }>('SELECT key, value FROM run_params WHERE run_id = $1 AND key = ANY($2::text[])', [runId, keys]);
  return new Map(rows.map((row) => [row.key, row.value]));
};

/**
 * Awaits every promise (so none is left rejected and unobserved), then throws the first failure. Used
 * for statements pipelined in one transaction: once one fails the transaction is aborted and the later
 * ones fail too, the first error is the meaningful one.
 */
export const settleAll = async <T>(pending: readonly Promise<T>[]): Promise<T[]> => {
  const results = await Promise.allSettled(pending);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
};

/**
 * Whose run `runId` is (tenant id and slug), read past row-level security: only to choose the shared-read
 * scope to read it in, where the database's policies decide whether the caller sees it.
 */
export const findRunOwner = async (db: Db, runId: string): Promise<{ tenant_id: string; slug: string } | undefined> =>
  (await readAsSystem<{ tenant_id: string; slug: string }>(db, 'SELECT r.tenant_id, t.slug FROM runs r JOIN tenants t ON t.id = r.tenant_id WHERE r.id = $1', [runId])).rows[0];
