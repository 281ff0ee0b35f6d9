import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db/index.ts';
import { withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { mlflowErrors } from './mlflow-errors.ts';
import type { LoggedModelJson } from './mlflow-entities.ts';
import { loggedModelJson } from './mlflow-entities.ts';
import {
  assertParamKeysUnique, searchPageLimits, validateFinalStatus, validateLoggedModelName, validateMaxResults, validateParam, validateRunTag,
} from './mlflow-validation.ts';
import type { KeyValue, KeyValueInput } from './mlflow-validation.ts';
import { compileLoggedModelFilter, compileLoggedModelOrderBy } from './search-filter.ts';
import { computedKeyset, computedKeysAfter } from './keyset-page.ts';
import type { ComputedKey, ComputedKeyset, ComputedKeysetTerm } from './keyset-page.ts';
import { statisticsKeeperOf } from './search-statistics.ts';
import type { DatasetFilter } from './search-filter.ts';
import {
  LOGGED_MODEL_SELECT, findLoggedModel, insertLoggedModelParams, linkRunModels, lockLoggedModel, upsertLoggedModelTags,
} from './logged-model-queries.ts';
import { ensureDefaultExperiment, findExperiment, findRunInfo } from './tracking-queries.ts';
import { parseExperimentId, randomRunName, trackingErrors } from './tracking-service.ts';
import type { Page, TrackingScope } from './tracking-service.ts';
import type { LoggedModelRow } from './mlflow-entities.ts';

const RUN_ID = /^[0-9a-f]{32}$/;

const now = (): number => Date.now();

export const loggedModelErrors = {
  notFound: trackingErrors.loggedModelNotFound,
  tagNotFound: (id: string, key: string) => mlflowErrors.notFound(`No tag with key '${key.slice(0, 250)}' found for model with ID '${id}'.`),
  paramsChanged: (id: string, conflicts: readonly { key: string; value: string; existing: string }[]) =>
    mlflowErrors.invalidParameter(
      `Changing param values is not allowed. Params were already logged='${JSON.stringify(
        conflicts.map((c) => ({ key: c.key, old_value: c.existing.slice(0, 100), new_value: c.value.slice(0, 100) })),
      ).slice(0, 2000)}' for logged model ID='${id}'.`,
    ),
};

const requireString = (field: string, value: unknown): string => {
  if (value === undefined || value === null || value === '') throw trackingErrors.missing(field);
  if (typeof value !== 'string') throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a string`);
  return value;
};

const optionalString = (field: string, value: unknown, maxLength = 500): string | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a string`);
  if (value.length > maxLength) throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': longer than ${maxLength} characters`);
  return value;
};

const asList = <T>(field: string, value: unknown): T[] => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a list`);
  return value as T[];
};

const optionalStep = (value: unknown): number => {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw mlflowErrors.invalidParameter("Invalid value for parameter 'step': expected an integer");
  return n;
};

/** The experiment id of a request: a string as MLflow sends it (a number is accepted too). */
const experimentIdOf = (raw: unknown): string => requireString('experiment_id', typeof raw === 'number' ? String(raw) : raw);

const validateParams = (raw: unknown): KeyValue[] => {
  const params = asList<KeyValueInput>('params', raw).map((p) => validateParam(p ?? {}));
  assertParamKeysUnique(params);
  return params;
};

const validateTags = (raw: unknown): KeyValue[] => asList<KeyValueInput>('tags', raw).map((t) => validateRunTag(t ?? {}));

const validateDatasets = (raw: unknown): DatasetFilter[] =>
  asList<{ dataset_name?: unknown; dataset_digest?: unknown }>('datasets', raw).map((d) => {
    const name = d?.dataset_name;
    if (typeof name !== 'string' || name === '') throw mlflowErrors.invalidParameter('`dataset_name` in the `datasets` clause must be specified.');
    return { name, digest: optionalString('datasets.dataset_digest', d.dataset_digest) };
  });


export interface LoggedModelSearchInput {
  experiment_ids?: unknown;
  filter?: unknown;
  datasets?: unknown;
  max_results?: unknown;
  order_by?: unknown;
  page_token?: unknown;
}

/** A row of a page statement: the model id and its sort keys as text (`t0…`, what the keyset reads). */
type PageKeyRow = { id: string } & Record<string, string | null>;

interface SqlStatement {
  readonly sql: string;
  readonly params: unknown[];
}

export interface LoggedModelSearchStatements {
  /** As the request named them (the caller checks each is the tenant's). */
  readonly experimentIds: readonly number[];
  readonly maxResults: number;
  readonly keyset: ComputedKeyset;
  /**
   * The page's ids and keys (`id`, `t0…`) in order: run one after the other, concatenating, until more
   * than maxResults rows are in hand. $1 is the experiment ids, $2 the tenant.
   */
  readonly statements: readonly SqlStatement[];
}

type KeyColumn = ComputedKeysetTerm;

/** The rows after `keys` in the order of `columns`, led by a bound on the first column (keyset-page.ts). */
const rowsAfter = (columns: readonly KeyColumn[], keys: readonly ComputedKey[], params: unknown[]): string =>
  computedKeysAfter(columns, keys, params, { leadingBound: true });

const orderOf = (columns: readonly KeyColumn[]): string =>
  columns.map((c) => `${c.sql} ${c.ascending ? 'ASC' : 'DESC'}${c.nullable ? ' NULLS LAST' : ''}`).join(', ');

/**
 * The statements of one logged-models/search page (validation included: INVALID_PARAMETER_VALUE for a
 * malformed request or page token; the experiments are checked by the caller, in its transaction).
 *
 * - Attribute orders (the default `creation_time DESC, id`, and any list of attributes): for each
 *   experiment, a LATERAL branch reads that experiment's models in the order, after the token, and stops
 *   at max_results + 1; the branches' rows are merged by one sort of at most (experiments × page) rows.
 *   Migration 0039 has an index for the default order and for `creation_time`, `last_updated_timestamp`,
 *   `name` and `model_id` (each direction), so each branch is an index range (the filter checked on the
 *   rows read, an attribute condition in the index range where it leads). Other attributes sort the
 *   experiment's matching models.
 * - One `metrics.<key>` order (then the tie-breakers): the models that have the metric on the selector
 *   come first, read per experiment from logged_model_latest_metrics' index in (value, creation_time DESC,
 *   id) order and joined to their model (active, the filter); then, only when those run out before the
 *   page is full, the models without it, newest first, from the creation index with an anti-join probe
 *   each. The token's value is NULL once the page is in the second part.
 * - Any other order (a metric after another term, several metrics): the sort keys of every matching
 *   model, sorted: linear in the experiments' models.
 */
export const loggedModelSearchStatements = (tenantId: string, input: LoggedModelSearchInput): LoggedModelSearchStatements => {
  const rawIds = typeof input.experiment_ids === 'string' ? [input.experiment_ids] : asList<unknown>('experiment_ids', input.experiment_ids);
  if (rawIds.length === 0) throw trackingErrors.missing('experiment_ids');
  const experimentIds = rawIds.map((raw) => {
    const id = parseExperimentId(raw);
    if (id === undefined) throw trackingErrors.experimentNotFound(raw);
    return id;
  });
  const datasets = validateDatasets(input.datasets);
  const maxResults = validateMaxResults(input.max_results, searchPageLimits.loggedModels);
  const filter = optionalString('filter', input.filter, 10_000);
  const where = compileLoggedModelFilter(filter, { firstParam: 3, datasets });
  const order = compileLoggedModelOrderBy(input.order_by, { firstParam: 3 + where.params.length });
  // Keyset pages (issue 20): the token holds the last model's sort keys, bound to this search.
  const keyset = computedKeyset(order.terms,
    `logged-models\u0000${tenantId}\u0000${experimentIds.join(',')}\u0000${filter ?? ''}\u0000${JSON.stringify(datasets)}`);
  const after = keyset.decode(optionalString('page_token', input.page_token, 16_384));
  // An experiment named twice is searched once (each is one LATERAL branch).
  const base = (): unknown[] => [[...new Set(experimentIds)], tenantId, ...where.params];
  const limitOf = (params: unknown[]): string => {
    params.push(maxResults + 1);
    return `$${String(params.length)}`;
  };
  const perExperiment = (inner: string, params: unknown[], limit: string): SqlStatement => ({
    sql: `SELECT s.id, ${keyset.textSql} FROM unnest($1::bigint[]) AS e(experiment_id) CROSS JOIN LATERAL (${inner}) s
           ORDER BY ${keyset.orderSql} LIMIT ${limit}`,
    params,
  });
  const models = `lm.tenant_id = $2::uuid AND lm.experiment_id = e.experiment_id AND lm.lifecycle_stage = 'active' AND (${where.sql})`;
  const statements: SqlStatement[] = [];

  const [first, ...rest] = order.terms;
  const tieBreakers = rest.length === 2 && rest[0]?.column === 'creation_time' && rest[0].ascending === false
    && rest[1]?.column === 'id' && rest[1].ascending;
  if (order.terms.every((t) => t.column !== undefined)) {
    const columns = order.terms.map((t): KeyColumn => ({ sql: `lm.${t.column as string}`, type: t.type, ascending: t.ascending, nullable: t.nullable }));
    const params = base();
    const afterSql = after === undefined ? 'TRUE' : rowsAfter(columns, after, params);
    const limit = limitOf(params);
    statements.push(perExperiment(
      `SELECT lm.id, ${columns.map((c, i) => `${c.sql} AS k${String(i)}`).join(', ')} FROM logged_models lm
        WHERE ${models} AND ${afterSql} ORDER BY ${orderOf(columns)} LIMIT ${limit}`,
      params, limit));
  } else if (first?.metric !== undefined && tieBreakers) {
    const metric = first.metric;
    const selector = (params: unknown[], alias: string): string => {
      params.push(metric.key, metric.datasetName, metric.datasetDigest);
      const n = params.length;
      return `${alias}.tenant_id = $2::uuid AND ${alias}.key = $${String(n - 2)} AND ${alias}.dataset_name = $${String(n - 1)} AND ${alias}.dataset_digest = $${String(n)}`;
    };
    const timeAndId: KeyColumn[] = [
      { sql: 'lm.creation_time', type: 'bigint', ascending: false, nullable: false },
      { sql: 'lm.id', type: 'text', ascending: true, nullable: false },
    ];
    if (after === undefined || after[0] !== null) {
      // The models with a value: the value is never NULL in that table, so the bound leads an index range.
      const columns: KeyColumn[] = [
        { sql: 'x.value', type: 'float8', ascending: first.ascending, nullable: false },
        { sql: 'x.creation_time', type: 'bigint', ascending: false, nullable: false },
        { sql: 'x.model_id', type: 'text', ascending: true, nullable: false },
      ];
      const params = base();
      const has = selector(params, 'x');
      const afterSql = after === undefined ? 'TRUE' : rowsAfter(columns, after, params);
      const limit = limitOf(params);
      statements.push(perExperiment(
        `SELECT x.model_id AS id, x.value AS k0, x.creation_time AS k1, x.model_id AS k2
           FROM logged_model_latest_metrics x JOIN logged_models lm ON lm.tenant_id = x.tenant_id AND lm.id = x.model_id
          WHERE ${has} AND x.experiment_id = e.experiment_id AND ${models} AND ${afterSql}
          ORDER BY ${orderOf(columns)} LIMIT ${limit}`,
        params, limit));
    }
    // The models without a value on the selector (sorted last, newest first).
    const params = base();
    const has = selector(params, 'x');
    const afterSql = after === undefined || after[0] !== null ? 'TRUE' : rowsAfter(timeAndId, after.slice(1), params);
    const limit = limitOf(params);
    statements.push(perExperiment(
      `SELECT lm.id, NULL::float8 AS k0, lm.creation_time AS k1, lm.id AS k2 FROM logged_models lm
        WHERE ${models} AND NOT EXISTS (SELECT 1 FROM logged_model_latest_metrics x WHERE ${has} AND x.model_id = lm.id)
          AND ${afterSql} ORDER BY ${orderOf(timeAndId)} LIMIT ${limit}`,
      params, limit));
  } else {
    const params = [...base(), ...order.params];
    const afterSql = after === undefined ? 'TRUE' : keyset.after(after, params);
    const limit = limitOf(params);
    statements.push({
      sql: `SELECT s.id, ${keyset.textSql} FROM (
              SELECT lm.id, ${keyset.selectSql} FROM logged_models lm
               WHERE lm.tenant_id = $2::uuid AND lm.experiment_id = ANY($1::bigint[]) AND lm.lifecycle_stage = 'active' AND (${where.sql})) s
             WHERE ${afterSql} ORDER BY ${keyset.orderSql} LIMIT ${limit}`,
      params,
    });
  }
  return { experimentIds, maxResults, keyset, statements };
};

export type LoggedModelService = ReturnType<typeof createLoggedModelService>;

/**
 * MLflow 3 logged models for one tenant at a time: create (PENDING, with an artifact directory under the
 * experiment's `mlflow-artifacts:/` location), get, finalize (READY / FAILED), soft delete, tags, params,
 * search, and the runs' model outputs. Every call runs in one `withTenant` transaction: another tenant's
 * model, experiment or run is RESOURCE_DOES_NOT_EXIST exactly like a missing one, and a deleted model is
 * missing too.
 *
 * Audit: create, finalize, delete and tag changes append an audit event in the transaction of the change,
 * as experiment and registry changes do; params (written once, at creation or right after) and run
 * outputs are not audited one by one, like run params and log-inputs.
 */
export const createLoggedModelService = (deps: { db: Db }) => {
  const { db } = deps;
  // Planner statistics of the logged-model tables (search-statistics.ts, migration 0039's list): bulk-grown
  // tables are analyzed before a search plans on them.
  const statistics = statisticsKeeperOf(db);

  const audit = (tx: Queryable, scope: TrackingScope, action: string, modelId: string, details?: Record<string, unknown>) =>
    appendAuditEvent(tx, {
      tenantId: scope.tenantId, actor: scope.actor, action, target: `logged_model:${modelId}`, outcome: 'success', requestId: scope.requestId,
      ...(details === undefined ? {} : { details }),
    });

  const getIn = async (tx: Queryable, modelId: string): Promise<LoggedModelRow> => {
    const row = await findLoggedModel(tx, modelId);
    if (row === undefined) throw loggedModelErrors.notFound(modelId);
    return row;
  };

  /** Locks the active model against concurrent changes, or throws RESOURCE_DOES_NOT_EXIST. */
  const lockIn = async (tx: Queryable, modelId: string): Promise<void> => {
    if ((await lockLoggedModel(tx, modelId)) === undefined) throw loggedModelErrors.notFound(modelId);
  };

  return {
    /**
     * logged-models (POST): a new model in the PENDING state. Its `artifact_uri` is
     * `<experiment artifact_location>/models/<model_id>/artifacts`, where the client then uploads the
     * model's files through the proxied-artifact API. The experiment must exist in the tenant and be
     * active; a `source_run_id` must be a run of the tenant.
     */
    async createLoggedModel(
      scope: TrackingScope,
      input: { experiment_id?: unknown; name?: unknown; model_type?: unknown; source_run_id?: unknown; params?: unknown; tags?: unknown },
    ): Promise<LoggedModelJson> {
      const rawExperimentId = experimentIdOf(input.experiment_id);
      const name = validateLoggedModelName(input.name) ?? randomRunName();
      const modelType = optionalString('model_type', input.model_type);
      const sourceRunId = optionalString('source_run_id', input.source_run_id);
      const params = validateParams(input.params);
      const tags = validateTags(input.tags);
      const modelId = `m-${randomUUID().replaceAll('-', '')}`;
      return withTenant(db, scope.tenantId, async (tx) => {
        const experimentId = parseExperimentId(rawExperimentId);
        if (experimentId === undefined) throw trackingErrors.experimentNotFound(rawExperimentId);
        const t = now();
        if (experimentId === 0) await ensureDefaultExperiment(tx, scope.tenantId, t);
        const experiment = await findExperiment(tx, experimentId);
        if (experiment === undefined) throw trackingErrors.experimentNotFound(rawExperimentId);
        if (experiment.lifecycle_stage !== 'active') throw trackingErrors.experimentNotActive(experimentId, experiment.lifecycle_stage);
        if (sourceRunId !== undefined && (!RUN_ID.test(sourceRunId) || (await findRunInfo(tx, sourceRunId)) === undefined)) {
          throw trackingErrors.runNotFound(sourceRunId);
        }
        const artifactLocation = `${experiment.artifact_location.replace(/\/+$/, '')}/models/${modelId}/artifacts`;
        await tx.query(
          `INSERT INTO logged_models (id, tenant_id, experiment_id, name, artifact_location, creation_time, last_updated_time, model_type,
                                      source_run_id, status, lifecycle_stage)
           VALUES ($1, $2::uuid, $3, $4, $5, $6, $6, $7, $8, 'PENDING', 'active')`,
          [modelId, scope.tenantId, experimentId, name, artifactLocation, t, modelType ?? null, sourceRunId ?? null],
        );
        await upsertLoggedModelTags(tx, scope.tenantId, modelId, tags);
        await insertLoggedModelParams(tx, scope.tenantId, modelId, params);
        await audit(tx, scope, 'tracking.logged_model.create', modelId, { experimentId: String(experimentId), name });
        return loggedModelJson(await getIn(tx, modelId));
      });
    },

    /** logged-models/{model_id} (GET). A deleted model is RESOURCE_DOES_NOT_EXIST, as in MLflow. */
    async getLoggedModel(scope: TrackingScope, modelId: string): Promise<LoggedModelJson> {
      return withTenant(db, scope.tenantId, async (tx) => loggedModelJson(await getIn(tx, modelId)), { readOnly: true });
    },

    /**
     * logged-models/{model_id} (PATCH): sets the final status, LOGGED_MODEL_READY or
     * LOGGED_MODEL_UPLOAD_FAILED. Finalizing again is allowed (MLflow's client marks a model FAILED when a
     * step after upload fails). A `model_id` in the body must name the model of the path.
     */
    async finalizeLoggedModel(scope: TrackingScope, modelId: string, input: { model_id?: unknown; status?: unknown }): Promise<LoggedModelJson> {
      const status = validateFinalStatus(input.status);
      const bodyId = optionalString('model_id', input.model_id);
      if (bodyId !== undefined && bodyId !== modelId) {
        throw mlflowErrors.invalidParameter(`The model_id in the request body ('${bodyId.slice(0, 100)}') differs from the one in the path.`);
      }
      return withTenant(db, scope.tenantId, async (tx) => {
        await lockIn(tx, modelId);
        await tx.query('UPDATE logged_models SET status = $2, last_updated_time = $3 WHERE id = $1', [modelId, status, now()]);
        await audit(tx, scope, 'tracking.logged_model.finalize', modelId, { status });
        return loggedModelJson(await getIn(tx, modelId));
      });
    },

    /** logged-models/{model_id} (DELETE): soft delete; the model is then RESOURCE_DOES_NOT_EXIST everywhere. */
    async deleteLoggedModel(scope: TrackingScope, modelId: string): Promise<void> {
      await withTenant(db, scope.tenantId, async (tx) => {
        await lockIn(tx, modelId);
        await tx.query(`UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_time = $2 WHERE id = $1`, [modelId, now()]);
        await audit(tx, scope, 'tracking.logged_model.delete', modelId);
      });
    },

    /** logged-models/{model_id}/tags (PATCH): upserts tags (the last of duplicate keys wins). */
    async setLoggedModelTags(scope: TrackingScope, modelId: string, input: { tags?: unknown }): Promise<void> {
      const tags = validateTags(input.tags);
      await withTenant(db, scope.tenantId, async (tx) => {
        await lockIn(tx, modelId);
        if (tags.length === 0) return;
        await upsertLoggedModelTags(tx, scope.tenantId, modelId, tags);
        await audit(tx, scope, 'tracking.logged_model.set_tags', modelId, { keys: [...new Set(tags.map((t) => t.key))] });
      });
    },

    /** logged-models/{model_id}/tags/{tag_key} (DELETE): RESOURCE_DOES_NOT_EXIST when the tag is absent (MLflow). */
    async deleteLoggedModelTag(scope: TrackingScope, modelId: string, rawKey: unknown): Promise<void> {
      const key = requireString('tag_key', rawKey);
      await withTenant(db, scope.tenantId, async (tx) => {
        await lockIn(tx, modelId);
        const deleted = await tx.query('DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2', [modelId, key]);
        if (deleted.rowCount === 0) throw loggedModelErrors.tagNotFound(modelId, key);
        await audit(tx, scope, 'tracking.logged_model.delete_tag', modelId, { key });
      });
    },

    /**
     * logged-models/{model_id}/params (POST): the params beyond the first 100, which the client sends
     * after create. Params are immutable: the same (key, value) again is a no-op, another value for a
     * logged key is INVALID_PARAMETER_VALUE and nothing of the request is written.
     */
    async logLoggedModelParams(scope: TrackingScope, modelId: string, input: { model_id?: unknown; params?: unknown }): Promise<void> {
      const params = validateParams(input.params);
      const bodyId = optionalString('model_id', input.model_id);
      if (bodyId !== undefined && bodyId !== modelId) {
        throw mlflowErrors.invalidParameter(`The model_id in the request body ('${bodyId.slice(0, 100)}') differs from the one in the path.`);
      }
      await withTenant(db, scope.tenantId, async (tx) => {
        await lockIn(tx, modelId);
        const conflicts = await insertLoggedModelParams(tx, scope.tenantId, modelId, params);
        if (conflicts.length > 0) throw loggedModelErrors.paramsChanged(modelId, conflicts);
      });
    },

    /**
     * logged-models/search (POST): the active models of the given experiments (required; every id must be
     * an experiment of the tenant, otherwise RESOURCE_DOES_NOT_EXIST), filtered with MLflow's logged-model
     * filter grammar (search-filter.ts), ordered by `order_by` objects, paged with keyset page tokens.
     *
     * One read-only transaction as the tenant (row-level security in force); every statement also states
     * `tenant_id = $2` so the planner has it as an index condition. How a page finds its models depends on
     * the order ({@link loggedModelSearchStatements}): index ranges per experiment for attribute orders and
     * a single metric, the sort keys of every matching model otherwise.
     */
    async searchLoggedModels(scope: TrackingScope, input: LoggedModelSearchInput): Promise<Page<LoggedModelJson>> {
      const { experimentIds, maxResults, keyset, statements } = loggedModelSearchStatements(scope.tenantId, input);
      await statistics.refreshIfDue();
      return withTenant(db, scope.tenantId, async (tx) => {
        if (experimentIds.includes(0)) await ensureDefaultExperiment(tx, scope.tenantId, now());
        // Every experiment must be the tenant's own: another tenant's id answers as a missing one does
        // (a shared experiment of another tenant is visible through 0034's policy, hence the tenant_id).
        const known = new Set((await tx.query<{ id: number }>(
          'SELECT id FROM experiments WHERE tenant_id = $2::uuid AND id = ANY($1::bigint[])', [experimentIds, scope.tenantId],
        )).rows.map((r) => Number(r.id)));
        const unknown = experimentIds.find((id) => !known.has(id));
        if (unknown !== undefined) throw trackingErrors.experimentNotFound(unknown);
        // The page's ids and sort keys first (no aggregates), then the models themselves.
        const page: PageKeyRow[] = [];
        for (const statement of statements) {
          if (page.length > maxResults) break;
          page.push(...(await tx.query<PageKeyRow>(statement.sql, statement.params)).rows);
        }
        const shown = page.slice(0, maxResults);
        const { rows } = shown.length === 0
          ? { rows: [] as LoggedModelRow[] }
          : await tx.query<LoggedModelRow>(`${LOGGED_MODEL_SELECT} WHERE lm.tenant_id = $2::uuid AND lm.id = ANY($1::text[])`, [shown.map((r) => r.id), scope.tenantId]);
        const byId = new Map(rows.map((row) => [row.id, row]));
        const last = shown.at(-1);
        return {
          items: shown.flatMap((r) => {
            const row = byId.get(r.id);
            return row === undefined ? [] : [loggedModelJson(row)];
          }),
          nextPageToken: page.length > maxResults && last !== undefined ? keyset.encode(keyset.keyOf(last)) : undefined,
        };
      }, { readOnly: !experimentIds.includes(0), heavy: true });
    },

    /**
     * runs/outputs (POST): records the logged models a run produced, with the step (MLflow's `log_model`
     * calls it right after creating the model). The run must be an active run of the tenant and every
     * model an active logged model of the tenant; otherwise nothing is recorded.
     */
    async logOutputs(scope: TrackingScope, runId: string, input: { models?: unknown }): Promise<void> {
      const links = asList<{ model_id?: unknown; step?: unknown }>('models', input.models)
        .map((m) => ({ modelId: requireString('models.model_id', m?.model_id), step: optionalStep(m?.step) }));
      await withTenant(db, scope.tenantId, async (tx) => {
        const run = RUN_ID.test(runId) ? await findRunInfo(tx, runId) : undefined;
        if (run === undefined) throw trackingErrors.runNotFound(runId);
        if (run.lifecycle_stage !== 'active') throw trackingErrors.runNotActive(runId, run.lifecycle_stage);
        const missing = await linkRunModels(tx, scope.tenantId, runId, 'output', links);
        if (missing.length > 0) throw loggedModelErrors.notFound(missing[0]);
      });
    },
  };
};
