/**
 * SQL of MLflow 3 logged models (migration 0009). As in tracking-queries.ts: every function takes the
 * transaction of a `withTenant` scope, row-level security limits every statement to that tenant, the
 * `tenant_id` conditions that appear are for index use and inserts, and all values are bound parameters.
 */
import type { Queryable } from '../db/index.ts';
import type { LoggedModelRow } from './mlflow-entities.ts';
import type { KeyValue, ValidMetric } from './mlflow-validation.ts';

/** A logged model with its tags, params and linked metric points, as correlated aggregates over alias `lm`. */
export const LOGGED_MODEL_SELECT = `
  SELECT lm.id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_time, lm.last_updated_time, lm.model_type,
    lm.source_run_id, lm.status, lm.status_message, lm.lifecycle_stage,
    (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key)
       FROM logged_model_tags t WHERE t.tenant_id = lm.tenant_id AND t.model_id = lm.id) AS tags,
    (SELECT json_agg(json_build_object('key', p.key, 'value', p.value) ORDER BY p.key)
       FROM logged_model_params p WHERE p.tenant_id = lm.tenant_id AND p.model_id = lm.id) AS params,
    (SELECT json_agg(json_strip_nulls(json_build_object(
        'key', m.key, 'value', m.value, 'timestamp', m.timestamp, 'step', m.step, 'model_id', lm.id, 'run_id', m.run_id,
        'dataset_name', m.dataset_name, 'dataset_digest', m.dataset_digest)) ORDER BY m.key, m.step, m.timestamp, m.run_id, m.value)
       FROM (SELECT DISTINCT d.key, d.value, d.timestamp, d.step, d.run_id, d.dataset_name, d.dataset_digest
               FROM logged_model_metrics d WHERE d.tenant_id = lm.tenant_id AND d.model_id = lm.id) m) AS metrics
  FROM logged_models lm`;

export const MODEL_ID = /^m-[0-9a-f]{32}$/;

/** The active (not deleted) logged model with this id in the transaction's tenant, or undefined. */
export const findLoggedModel = async (tx: Queryable, modelId: string): Promise<LoggedModelRow | undefined> =>
  MODEL_ID.test(modelId)
    ? (await tx.query<LoggedModelRow>(`${LOGGED_MODEL_SELECT} WHERE lm.id = $1 AND lm.lifecycle_stage = 'active'`, [modelId])).rows[0]
    : undefined;

/**
 * Locks and returns the active logged model's row (without aggregates), or undefined. Writers that
 * change a model take this first, so a concurrent delete cannot slip between the check and the write.
 */
export const lockLoggedModel = async (tx: Queryable, modelId: string): Promise<{ id: string; experiment_id: number } | undefined> =>
  MODEL_ID.test(modelId)
    ? (await tx.query<{ id: string; experiment_id: number }>(
      `SELECT id, experiment_id FROM logged_models WHERE id = $1 AND lifecycle_stage = 'active' FOR UPDATE`, [modelId],
    )).rows[0]
    : undefined;

/** Upserts logged model tags; the last of duplicate keys wins. */
export const upsertLoggedModelTags = async (tx: Queryable, tenantId: string, modelId: string, tags: readonly KeyValue[]): Promise<void> => {
  if (tags.length === 0) return;
  await tx.query(
    `INSERT INTO logged_model_tags (tenant_id, model_id, key, value)
     SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value
       FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, value, ord)
      ORDER BY u.key, u.ord DESC
     ON CONFLICT (tenant_id, model_id, key) DO UPDATE SET value = EXCLUDED.value`,
    [tenantId, modelId, tags.map((t) => t.key), tags.map((t) => t.value)],
  );
};

/**
 * Inserts params that are new and returns, from the same statement, the incoming params whose key was
 * already logged with another value (with that value). Logging the same (key, value) again is a no-op.
 * A key committed by a concurrent transaction after this statement's snapshot is skipped without being
 * compared: logged-model params are written once by the client that creates the model.
 */
export const insertLoggedModelParams = async (
  tx: Queryable,
  tenantId: string,
  modelId: string,
  params: readonly KeyValue[],
): Promise<{ key: string; value: string; existing: string }[]> => {
  if (params.length === 0) return [];
  const { rows } = await tx.query<{ key: string; value: string; existing: string }>(
    `WITH u AS (SELECT * FROM unnest($3::text[], $4::text[]) AS u(key, value)),
     ins AS (
       INSERT INTO logged_model_params (tenant_id, model_id, key, value)
       SELECT $1::uuid, $2, u.key, u.value FROM u
       ON CONFLICT (tenant_id, model_id, key) DO NOTHING RETURNING key)
     SELECT u.key, u.value, p.value AS existing
       FROM u JOIN logged_model_params p ON p.tenant_id = $1::uuid AND p.model_id = $2 AND p.key = u.key
      WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.key = u.key) AND p.value <> u.value`,
    [tenantId, modelId, params.map((p) => p.key), params.map((p) => p.value)],
  );
  return rows;
};

/**
 * Links metric points of a run to the logged models they name (log-batch / log-metric with `model_id`),
 * in one statement: the points whose model is an active logged model of this tenant are inserted, and
 * the ids of the others are returned (the caller refuses the batch, which rolls the insert back). The
 * run itself is checked by the caller in the same transaction.
 *
 * The same statement moves each model's latest value of the key forward (logged_model_latest_metrics,
 * migration 0039: what `order_by metrics.<key>` reads from its index) for each dataset selector the point
 * belongs to — all points, its dataset name, its (name, digest) — when the point is later by (timestamp,
 * step, value). One row per selector of the batch (an upsert may not touch a row twice), picked in
 * {@link latestBySelector} and upserted in (model, key, selector) order, so concurrent batches lock shared
 * rows in the same order and cannot deadlock each other on them.
 */
export const insertLoggedModelMetrics = async (
  tx: Queryable,
  tenantId: string,
  runId: string,
  metrics: readonly ValidMetric[],
): Promise<string[]> => {
  const linked = metrics.filter((m) => m.modelId !== undefined);
  if (linked.length === 0) return [];
  const latest = latestBySelector(linked);
  const { rows } = await tx.query<{ missing: string }>(
    `WITH u AS (
       SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
         AS u(model_id, key, value, ts, step, dataset_name, dataset_digest)),
     known AS (
       SELECT lm.id, lm.experiment_id, lm.creation_time FROM logged_models lm
        WHERE lm.tenant_id = $1::uuid AND lm.id IN (SELECT u.model_id FROM u) AND lm.lifecycle_stage = 'active'),
     ins AS (
       INSERT INTO logged_model_metrics (tenant_id, model_id, run_id, key, value, timestamp, step, is_nan, dataset_name, dataset_digest)
       SELECT $1::uuid, u.model_id, $2, u.key, u.value::float8, u.ts::int8, u.step::int8, u.value::float8 = 'NaN'::float8,
              u.dataset_name, u.dataset_digest
         FROM u WHERE u.model_id IN (SELECT known.id FROM known)
       RETURNING 1),
     latest AS (
       INSERT INTO logged_model_latest_metrics AS l
         (tenant_id, model_id, key, dataset_name, dataset_digest, experiment_id, creation_time, value, timestamp, step)
       SELECT $1::uuid, v.model_id, v.key, v.dataset_name, v.dataset_digest, k.experiment_id, k.creation_time, v.value::float8, v.ts::int8, v.step::int8
         FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) WITH ORDINALITY
           AS v(model_id, key, dataset_name, dataset_digest, value, ts, step, ord)
         JOIN known k ON k.id = v.model_id
        ORDER BY v.ord
       ON CONFLICT (tenant_id, model_id, key, dataset_name, dataset_digest) DO UPDATE
         SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp, step = EXCLUDED.step
         WHERE (EXCLUDED.timestamp, EXCLUDED.step, EXCLUDED.value) > (l.timestamp, l.step, l.value))
     SELECT DISTINCT u.model_id AS missing FROM u WHERE u.model_id NOT IN (SELECT known.id FROM known)`,
    [
      tenantId, runId,
      linked.map((m) => m.modelId), linked.map((m) => m.key), linked.map((m) => String(m.value)),
      linked.map((m) => String(m.timestamp)), linked.map((m) => String(m.step)),
      linked.map((m) => m.datasetName ?? null), linked.map((m) => m.datasetDigest ?? null),
      latest.map((l) => l.modelId), latest.map((l) => l.key), latest.map((l) => l.datasetName), latest.map((l) => l.datasetDigest),
      latest.map((l) => String(l.point.value)), latest.map((l) => String(l.point.timestamp)), latest.map((l) => String(l.point.step)),
    ],
  );
  return rows.map((r) => r.missing);
};

/** float8's order: NaN above every number (and equal to itself), as PostgreSQL sorts and compares it. */
const floatAbove = (a: number, b: number): boolean => (Number.isNaN(a) ? !Number.isNaN(b) : !Number.isNaN(b) && a > b);

/** The latest-value order of logged-model points: timestamp, then step, then the larger value. */
const laterPoint = (a: ValidMetric, b: ValidMetric): boolean =>
  a.timestamp !== b.timestamp ? a.timestamp > b.timestamp : a.step !== b.step ? a.step > b.step : floatAbove(a.value, b.value);

interface LatestRow {
  readonly modelId: string;
  readonly key: string;
  readonly datasetName: string;
  readonly datasetDigest: string;
  point: ValidMetric;
}

/**
 * The batch's latest point per (model, key, dataset selector) — all points ('', ''), the point's dataset
 * name (name, ''), its (name, digest) — sorted by those keys, the upsert's lock order. Picked here in one
 * pass rather than with DISTINCT ON over the unnested batch in SQL: measured on a 100-point batch with
 * datasets (300 selectors), the SQL form cost about twice the whole statement's time before.
 */
const latestBySelector = (linked: readonly ValidMetric[]): LatestRow[] => {
  const rows = new Map<string, LatestRow>();
  const offer = (m: ValidMetric, datasetName: string, datasetDigest: string): void => {
    const id = `${m.modelId ?? ''}\u0000${m.key}\u0000${datasetName}\u0000${datasetDigest}`;
    const seen = rows.get(id);
    if (seen === undefined) rows.set(id, { modelId: m.modelId ?? '', key: m.key, datasetName, datasetDigest, point: m });
    else if (laterPoint(m, seen.point)) seen.point = m;
  };
  for (const m of linked) {
    offer(m, '', '');
    if (m.datasetName !== undefined) {
      offer(m, m.datasetName, '');
      if (m.datasetDigest !== undefined) offer(m, m.datasetName, m.datasetDigest);
    }
  }
  const byKey = (a: LatestRow, b: LatestRow): number =>
    a.modelId !== b.modelId ? (a.modelId < b.modelId ? -1 : 1)
      : a.key !== b.key ? (a.key < b.key ? -1 : 1)
        : a.datasetName !== b.datasetName ? (a.datasetName < b.datasetName ? -1 : 1)
          : a.datasetDigest < b.datasetDigest ? -1 : a.datasetDigest > b.datasetDigest ? 1 : 0;
  return [...rows.values()].sort(byKey);
};

/**
 * Links a run to logged models as inputs or outputs (one row per run, model and direction; the step of
 * an existing link is updated). Only active logged models of this tenant are linked; the ids of the
 * others are returned, for the caller to refuse the request (which rolls the links back).
 */
export const linkRunModels = async (
  tx: Queryable,
  tenantId: string,
  runId: string,
  direction: 'input' | 'output',
  links: readonly { modelId: string; step: number }[],
): Promise<string[]> => {
  if (links.length === 0) return [];
  const { rows } = await tx.query<{ missing: string }>(
    `WITH u AS (SELECT * FROM unnest($4::text[], $5::int8[]) WITH ORDINALITY AS u(model_id, step, ord)),
     known AS (SELECT lm.id FROM logged_models lm WHERE lm.id IN (SELECT u.model_id FROM u) AND lm.lifecycle_stage = 'active'),
     ins AS (
       INSERT INTO run_model_links (tenant_id, run_id, model_id, direction, step)
       SELECT DISTINCT ON (u.model_id) $1::uuid, $2, u.model_id, $3, u.step
         FROM u WHERE u.model_id IN (SELECT known.id FROM known)
        ORDER BY u.model_id, u.ord DESC
       ON CONFLICT (tenant_id, run_id, model_id, direction) DO UPDATE SET step = EXCLUDED.step
       RETURNING 1)
     SELECT DISTINCT u.model_id AS missing FROM u WHERE u.model_id NOT IN (SELECT known.id FROM known)`,
    [tenantId, runId, direction, links.map((l) => l.modelId), links.map((l) => l.step)],
  );
  return rows.map((r) => r.missing);
};
