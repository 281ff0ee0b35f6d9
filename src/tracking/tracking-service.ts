import { randomBytes, randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db/index.ts';
import { isRefusal, withSharedRead, withTenant, withTenantCombined } from '../db/index.ts';
import { appendAuditEvent, auditEventValues } from '../audit/index.ts';
import type { AuditEventInput } from '../audit/index.ts';
import { auditSharedRead, otherTenantIdBySlug } from '../sharing/index.ts';
import { mlflowErrors } from './mlflow-errors.ts';
import type { ExperimentJson, MetricJson, RunInfoJson, RunJson, ExperimentRow, RunRow } from './mlflow-entities.ts';
import { experimentJson, jsonDouble, runInfoJson, runJson } from './mlflow-entities.ts';
import {
  RUN_NAME_TAG, assertParamsImmutable, resolveRunName, validateArtifactLocation, validateRunUserId, searchPageLimits, validateDatasetInput, validateExperimentName,
  validateExperimentTag, validateLogBatch, validateMaxResults, validateMetric, validateParam, validateRunStatus, validateRunTag,
  validateTagName, viewTypeToStages,
} from './mlflow-validation.ts';
import type { DatasetInputInput, KeyValue, KeyValueInput, MetricInput, ValidBatch } from './mlflow-validation.ts';
import { compileExperimentFilter, compileExperimentOrderBy } from './search-filter.ts';
import { EXPERIMENT_KEYS, decodeHistoryToken, encodeHistoryToken, keysetOrder, keysetPage, keysetStatement } from './keyset-page.ts';
import type { KeysetStatement } from './keyset-page.ts';
import { planRunSearch, planWalksBackward } from './run-search.ts';
import type { PageQuery } from './run-search.ts';
import { statisticsKeeperOf } from './search-statistics.ts';
import { createSharedExperimentReads } from './shared-experiments.ts';
import {
  EXPERIMENT_SELECT, RUN_SELECT, ensureDefaultExperiment, findExperiment, findExperimentByName, findRun, findRunInfo, findRunOwner, insertMetrics, insertRun,
  insertParams, nextExperimentId, writeBatchStatement, readParams, settleAll, upsertExperimentTags, upsertRunTags,
} from './tracking-queries.ts';
import { insertLoggedModelMetrics, linkRunModels } from './logged-model-queries.ts';
import { pointsAtStepsSql, sampleSummarizedSteps, stepSummarySql, summariesOf } from './step-sampling.ts';
import type { StepSummaryRow } from './step-sampling.ts';

/** Who acts, for which tenant, under which request: what every call of the tracking service carries. */
export interface TrackingScope {
  tenantId: string;
  actor: string;
  requestId: string;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | undefined;
}

export interface SearchInput {
  filter?: string | undefined;
  orderBy?: readonly string[] | undefined;
  maxResults?: unknown;
  pageToken?: string | undefined;
  viewType?: unknown;
}

const ARTIFACT_SCHEME = 'mlflow-artifacts:';

const now = (): number => Date.now();

// MLflow ids of experiments are strings; ours are per-tenant integers. Anything else simply does not exist.
export const parseExperimentId = (id: unknown): number | undefined => {
  const text = typeof id === 'number' ? String(id) : id;
  return typeof text === 'string' && /^\d{1,15}$/.test(text) ? Number(text) : undefined;
};

/**
 * The statement of one experiments/search page (keyset-page.ts) for a tenant: an explicit `e.tenant_id`
 * (row-level security stays in force, but OR-ed share policies would give the planner no index
 * condition), the order read from an index of migration 0031, rows after the token's sort key. Throws
 * INVALID_PARAMETER_VALUE for a bad filter, order, max_results or page token.
 */
export const experimentSearchStatement = (tenantId: string, input: SearchInput): KeysetStatement => {
  const stages = viewTypeToStages(input.viewType);
  const maxResults = validateMaxResults(input.maxResults, searchPageLimits.experiments);
  const where = compileExperimentFilter(input.filter, { firstParam: 3 });
  const order = keysetOrder(compileExperimentOrderBy(input.orderBy ?? null).sql, EXPERIMENT_KEYS, ['e.id', 'e.name'],
    `experiments\u0000${tenantId}\u0000${stages.join(',')}\u0000${input.filter ?? ''}`);
  return keysetStatement(EXPERIMENT_SELECT, `e.tenant_id = $1::uuid AND e.lifecycle_stage = ANY($2::text[]) AND (${where.sql})`,
    [tenantId, stages, ...where.params], order, input.pageToken, maxResults);
};

/**
 * get-history's statement: $1 run id, $2 key, then with `keyset` the last point's step, timestamp and
 * value ($3–$5), then with `limited` the row limit. DISTINCT: an identical point logged twice is one point
 * (MLflow), see migration 0002. The tenant is the run's own (the caller's, or a sharing owner's).
 */
export const historySql = (keyset: boolean, limited: boolean): string =>
  `SELECT step, timestamp, value, value::text AS value_text FROM (
     SELECT DISTINCT step, timestamp, value FROM run_metrics
      WHERE tenant_id = (SELECT r.tenant_id FROM runs r WHERE r.id = $1) AND run_id = $1 AND key = $2
      ${keyset ? 'AND step >= $3::bigint AND (step, timestamp, value) > ($3::bigint, $4::bigint, $5::float8)' : ''}
      ORDER BY step, timestamp, value${limited ? ` LIMIT $${keyset ? 6 : 3}` : ''}) h
    ORDER BY step, timestamp, value`;

/**
 * get-history-bulk-interval's statement (see getMetricHistoryBulkInterval): $1 tenant, $2 run ids (one
 * when `singleRun`), $3 key, $4 / $5 start and end step (null: [0, highest step]), $6 max_results.
 */
export const bulkIntervalSql = (singleRun: boolean): string => `WITH bounds AS MATERIALIZED (
     -- the interval: as given, or [0, the highest step of any of the runs]
     SELECT coalesce($4::bigint, 0) AS lo,
            coalesce($5::bigint, (SELECT max(x.step) FROM unnest($2::text[]) AS u(id)
                                    CROSS JOIN LATERAL (SELECT m.step FROM run_metrics m WHERE m.tenant_id = $1::uuid AND m.run_id = u.id AND m.key = $3
                                                         ORDER BY m.step DESC LIMIT 1) x), 0) AS hi),
   ends AS (
     -- each run's first and last step (over its whole history), kept when inside the interval
     SELECT e.step FROM unnest($2::text[]) AS u(id),
       LATERAL (SELECT m.step FROM run_metrics m WHERE m.tenant_id = $1::uuid AND m.run_id = u.id AND m.key = $3 ORDER BY m.step LIMIT 1) lo_step,
       LATERAL (SELECT m.step FROM run_metrics m WHERE m.tenant_id = $1::uuid AND m.run_id = u.id AND m.key = $3 ORDER BY m.step DESC LIMIT 1) hi_step,
       LATERAL (VALUES (lo_step.step), (hi_step.step)) AS e(step)
      WHERE e.step BETWEEN (SELECT lo FROM bounds) AND (SELECT hi FROM bounds)),
   steps AS (
     -- the distinct steps of the runs inside the interval, a range of run_metrics_step_idx per run (one
     -- run: read in step order, so no sort)
     SELECT DISTINCT m.step FROM run_metrics m
      WHERE m.tenant_id = $1::uuid AND ${singleRun ? 'm.run_id = ($2::text[])[1]' : 'm.run_id = ANY($2::text[])'} AND m.key = $3
        AND m.step >= (SELECT lo FROM bounds) AND m.step <= (SELECT hi FROM bounds)),
   ranked AS (SELECT step, row_number() OVER (ORDER BY step) - 1 AS i, count(*) OVER () AS n FROM steps),
   chosen AS MATERIALIZED (
     SELECT step FROM ranked
      WHERE n <= $6::int OR i = n - 1
         -- MLflow's positions floor(k · n / max_results), k = 0 … max_results - 1: i is one when the
         -- interval [i · max / n, (i + 1) · max / n) holds an integer k, i.e. ceil(i · max / n) · n < (i + 1) · max
         OR ((i * $6::int + n - 1) / n) * n < (i + 1) * $6::int
     UNION SELECT step FROM ends)
   -- the points at the chosen steps: one index lookup per run and step (OFFSET 0 keeps the planner from
   -- flattening the lookup into a scan of the whole series joined to the chosen steps)
   SELECT DISTINCT p.run_id, p.step, p.timestamp, p.value
     FROM chosen c CROSS JOIN unnest($2::text[]) AS u(id)
     CROSS JOIN LATERAL (SELECT m.run_id, m.step, m.timestamp, m.value FROM run_metrics m
                          WHERE m.tenant_id = $1::uuid AND m.run_id = u.id AND m.key = $3 AND m.step = c.step OFFSET 0) p
    ORDER BY p.run_id, p.step, p.timestamp, p.value`;

const RUN_ID = /^[0-9a-f]{32}$/;

export const trackingErrors = {
  experimentNotFound: (id: unknown) => mlflowErrors.notFound(`No Experiment with id=${String(id).slice(0, 100)} exists`),
  experimentNameNotFound: (name: string) => mlflowErrors.notFound(`Could not find experiment with name '${name.slice(0, 500)}'`),
  experimentExists: (name: string) => mlflowErrors.alreadyExists(`Experiment(name=${name.slice(0, 500)}) already exists.`),
  experimentNotActive: (id: number, stage: string) =>
    mlflowErrors.invalidParameter(`The experiment ${id} must be in the 'active' state. Current state is ${stage}.`),
  runNotFound: (id: unknown) => mlflowErrors.notFound(`Run with id=${String(id).slice(0, 100)} not found`),
  runNotActive: (id: string, stage: string) =>
    mlflowErrors.invalidParameter(`The run ${id} must be in the 'active' state. Current state is ${stage}.`),
  missing: (field: string) => mlflowErrors.invalidParameter(`Missing value for required parameter '${field}'.`),
  loggedModelNotFound: (id: unknown) => mlflowErrors.notFound(`Logged model with ID '${String(id).slice(0, 100)}' not found.`),
};

const requireString = (field: string, value: unknown): string => {
  if (value === undefined || value === null || value === '') throw trackingErrors.missing(field);
  if (typeof value !== 'string') throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a string`);
  return value;
};

const optionalString = (field: string, value: unknown): string | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a string`);
  return value;
};

const optionalInt64 = (field: string, value: unknown): number | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected an integer`);
  return n;
};

const asList = <T>(field: string, value: unknown): T[] => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a list`);
  return value as T[];
};

/** The run id of a request: MLflow clients send `run_id`, older ones `run_uuid` (both accepted, as MLflow). */
export const requestRunId = (body: { run_id?: unknown; run_uuid?: unknown }): string => {
  const id = body.run_id ?? body.run_uuid;
  return requireString('run_id', id);
};

// Adjective-noun names, as MLflow generates for runs (and logged models) created without one.
const NAME_WORDS = {
  a: ['bold', 'bright', 'calm', 'clever', 'crisp', 'gentle', 'keen', 'lucky', 'merry', 'quiet', 'rare', 'swift', 'vivid', 'wise'],
  n: ['ant', 'bass', 'crane', 'deer', 'eel', 'finch', 'gnu', 'hare', 'lark', 'moth', 'owl', 'ram', 'seal', 'wren'],
};
export const randomRunName = (): string => {
  const [a, n, d] = randomBytes(3);
  return `${NAME_WORDS.a[(a ?? 0) % NAME_WORDS.a.length]}-${NAME_WORDS.n[(n ?? 0) % NAME_WORDS.n.length]}-${(d ?? 0) % 1000}`;
};

export type TrackingService = ReturnType<typeof createTrackingService>;

/**
 * Experiment tracking for one tenant at a time: experiments, runs, params, metrics, tags, dataset
 * inputs and search, with MLflow's semantics and errors (MlflowError). Every call runs in one
 * `withTenant` transaction, so row-level security confines it to the caller's tenant: another tenant's
 * experiment or run is RESOURCE_DOES_NOT_EXIST exactly like a missing one.
 *
 * Audit: experiment and run lifecycle changes (create, rename, delete, restore, run update, experiment
 * tags) append an audit event in the same transaction. The high-volume logging calls (log-metric,
 * log-batch, log-parameter, set-tag, delete-tag, log-inputs) are not audited one by one: at thousands
 * of calls per second per tenant that would double the write load and drown the chain (see
 * docs/tracking.md).
 */
/**
 * Runs per statement when a search reads its page's runs on the embedded database (one connection, held
 * from BEGIN to COMMIT): short enough that another tenant waiting for the connection waits for a few
 * milliseconds, not for the whole page. PostgreSQL reads the page in one statement.
 */
export const PGLITE_PAGE_READ_CHUNK = 25;

/** The largest log-batch (metrics + params + tags) that may share a transaction with others (combine.ts). */
export const COMBINED_BATCH_MAX = 100;

export const createTrackingService = (deps: {
  db: Db;
  /**
   * Which statements run a search: those the planner and the counts choose (the default), or the others
   * (tests, which check every form against a reference): the windowed walk where a PageQuery has one
   * (PageQuery.walk), and never a metric range's runs read first (RunSearchInput.narrowMetricRanges).
   */
  searchForms?: 'chosen' | 'others';
}) => {
  const { db } = deps;
  const others = deps.searchForms === 'others';
  const statistics = statisticsKeeperOf(db);
  const sharedExperiments = createSharedExperimentReads({ db });

  /**
   * Experiments shared with the caller (issue 15) follow its own on the last own page and on pages of
   * their own (`shared:{n}` tokens), as `{owner}/{name}` with id `{owner}/{id}`: see shared-experiments.ts.
   */
  const withSharedExperimentsAfter = async (scope: TrackingScope, input: SearchInput, own: Page<ExperimentJson>): Promise<Page<ExperimentJson>> => {
    if (own.nextPageToken !== undefined) return own;
    const shared = await sharedExperiments.search(scope, input, 0, sharedExperiments.maxResults(input.maxResults) - own.items.length);
    return { items: [...own.items, ...shared.items], nextPageToken: shared.nextPageToken };
  };

  const auditEvent = (scope: TrackingScope, action: string, target: string, details?: Record<string, unknown>): AuditEventInput =>
    ({ tenantId: scope.tenantId, actor: scope.actor, action, target, outcome: 'success', requestId: scope.requestId, ...(details === undefined ? {} : { details }) });
  const audit = (tx: Queryable, scope: TrackingScope, action: string, target: string, details?: Record<string, unknown>) =>
    appendAuditEvent(tx, auditEvent(scope, action, target, details));

  const getExperimentIn = async (tx: Queryable, scope: TrackingScope, rawId: unknown): Promise<ExperimentRow> => {
    const id = parseExperimentId(rawId);
    if (id === undefined) throw trackingErrors.experimentNotFound(rawId);
    if (id === 0) await ensureDefaultExperiment(tx, scope.tenantId, now());
    const row = await findExperiment(tx, id);
    if (row === undefined) throw trackingErrors.experimentNotFound(rawId);
    return row;
  };

  const activeExperimentIn = async (tx: Queryable, scope: TrackingScope, rawId: unknown): Promise<ExperimentRow> => {
    const row = await getExperimentIn(tx, scope, rawId);
    if (row.lifecycle_stage !== 'active') throw trackingErrors.experimentNotActive(Number(row.id), row.lifecycle_stage);
    return row;
  };

  /** Checks the run exists (in this tenant) and is active, as MLflow does before any logging. */
  const activeRunIn = async (tx: Queryable, runId: string): Promise<void> => {
    const run = RUN_ID.test(runId) ? await findRunInfo(tx, runId) : undefined;
    if (run === undefined) throw trackingErrors.runNotFound(runId);
    if (run.lifecycle_stage !== 'active') throw trackingErrors.runNotActive(runId, run.lifecycle_stage);
  };

  /**
   * `read` of run `runId` when it is another tenant's run in an experiment shared with the caller (issue
   * 15): in a withSharedRead transaction, where the database's shared_read policies admit the owner's run
   * rows only while a live share of its experiment grants them to the caller (or an ancestor). Audited in
   * both chains. undefined for everything else (callers answer exactly as for a missing run).
   */
  const readSharedRun = async <T>(scope: TrackingScope, runId: string, read: (tx: Queryable) => Promise<T>): Promise<T | undefined> => {
    if (!RUN_ID.test(runId)) return undefined;
    const owner = await findRunOwner(db, runId);
    if (owner === undefined || owner.tenant_id === scope.tenantId) return undefined;
    const found = await withSharedRead(db, scope.tenantId, owner.tenant_id, async (tx) => {
      const info = await findRunInfo(tx, runId);
      return info === undefined ? undefined : { info, value: await read(tx) };
    });
    if (found === undefined) return undefined;
    await auditSharedRead(db, scope, owner.tenant_id, `experiment:${owner.slug}/${found.info.experiment_id}`, { runId });
    return found.value;
  };

  const getRunIn = async (tx: Queryable, runId: string): Promise<RunRow> => {
    const run = RUN_ID.test(runId) ? await findRun(tx, runId) : undefined;
    if (run === undefined) throw trackingErrors.runNotFound(runId);
    return run;
  };

  const paramsImmutable = async (tx: Queryable, scope: TrackingScope, runId: string, params: readonly KeyValue[]): Promise<void> => {
    const clashes = await insertParams(tx, scope.tenantId, runId, params);
    if (clashes.length === 0) return;
    const unknown = clashes.filter((c) => c.existing === undefined).map((c) => c.key);
    // A concurrent transaction committed these keys after our snapshot: read them again (new snapshot).
    const reread = unknown.length === 0 ? new Map<string, string>() : await readParams(tx, runId, unknown);
    const existing = new Map<string, string>();
    for (const c of clashes) {
      const value = c.existing ?? reread.get(c.key);
      if (value !== undefined) existing.set(c.key, value);
    }
    assertParamsImmutable(runId, existing, clashes.map((c) => ({ key: c.key, value: c.value })));
  };

  /**
   * Writes one validated batch: the run check, metrics (history + latest), params (with the
   * immutability check) and tags, in one transaction. All or nothing: any failure rolls the whole batch
   * back. It is one statement (writeBatchStatement), and on PostgreSQL one write and one round trip,
   * COMMIT included (commit ahead), shared with the tenant's other small writes when they arrive together
   * (write combining, combine.ts): every part is conditional on the run being active and a changed param
   * fails the statement in SQL (bulkhead_refuse), so nothing the run check or the params could refuse is
   * ever committed; a refused batch is then written the classic way below, which finds the exact error
   * (or, for a param a concurrent batch had just logged with the same value, succeeds).
   */
  const writeBatch = async (scope: TrackingScope, runId: string, batch: ValidBatch): Promise<void> => {
    if (!RUN_ID.test(runId)) throw trackingErrors.runNotFound(runId);
    // MLflow 3 points that name a logged model: their link check reads an answer that may undo the batch.
    const linksModels = batch.metrics.some((m) => m.modelId !== undefined);
    if (!linksModels) {
      let checked: { stage: string | undefined } | undefined;
      try {
        const write = (tx: Queryable) => writeBatchStatement(tx, scope.tenantId, runId, batch);
        // A small batch may share its transaction with the tenant's other small writes (combine.ts); a
        // large one is its own (it would hold the small ones' answers for the time it takes).
        const small = batch.metrics.length + batch.params.length + batch.tags.length <= COMBINED_BATCH_MAX;
        checked = await (small ? withTenantCombined(db, scope.tenantId, runId, write) : withTenant(db, scope.tenantId, write, { commitAhead: true }));
      } catch (error) {
        if (!isRefusal(error)) throw error;
      }
      if (checked !== undefined) {
        // Committed; the statement wrote nothing unless the run is active.
        const { stage } = checked;
        if (stage === undefined) throw trackingErrors.runNotFound(runId);
        if (stage !== 'active') throw trackingErrors.runNotActive(runId, stage);
        return;
      }
    }
    await writeBatchClassic(scope, runId, batch);
  };

  /** writeBatch with the checks read before COMMIT: their exact errors, and links to logged models. */
  const writeBatchClassic = async (scope: TrackingScope, runId: string, batch: ValidBatch): Promise<void> => {
    await withTenant(db, scope.tenantId, async (tx) => {
      const runCheck = findRunInfo(tx, runId);
      const writes: Promise<unknown>[] = [
        insertMetrics(tx, scope.tenantId, runId, batch.metrics),
        paramsImmutable(tx, scope, runId, batch.params),
        upsertRunTags(tx, scope.tenantId, runId, batch.tags),
      ];
      // MLflow 3 points that name a logged model are also linked to it (one more statement, only then).
      if (batch.metrics.some((m) => m.modelId !== undefined)) {
        writes.push(insertLoggedModelMetrics(tx, scope.tenantId, runId, batch.metrics).then((missing) => {
          if (missing.length > 0) throw trackingErrors.loggedModelNotFound(missing[0]);
        }));
      }
      const [run] = await Promise.allSettled([runCheck]);
      // The run check was sent first; its answer decides the error even if the writes failed behind it.
      const written = Promise.allSettled(writes);
      if (run?.status === 'rejected') {
        await written;
        throw run.reason;
      }
      const info = run?.value;
      if (info === undefined) {
        await written;
        throw trackingErrors.runNotFound(runId);
      }
      if (info.lifecycle_stage !== 'active') {
        await written;
        throw trackingErrors.runNotActive(runId, info.lifecycle_stage);
      }
      await settleAll(writes);
    });
  };

  const searchExperimentsIn = async (tx: Queryable, tenantId: string, input: SearchInput): Promise<Page<ExperimentJson>> => {
    const statement = experimentSearchStatement(tenantId, input);
    const page = keysetPage(statement, (await tx.query<ExperimentRow>(statement.sql, statement.params)).rows);
    return { items: page.rows.map(experimentJson), nextPageToken: page.nextPageToken };
  };

  return {
    async createExperiment(scope: TrackingScope, input: { name?: unknown; artifact_location?: unknown; tags?: unknown }): Promise<string> {
      const name = validateExperimentName(input.name);
      const given = optionalString('artifact_location', input.artifact_location);
      const location = given === undefined ? undefined : validateArtifactLocation(given);
      if (location !== undefined && location !== '' && !location.startsWith(`${ARTIFACT_SCHEME}/`)) {
        // Blobs of a tenant live in its own encrypted store; an experiment may not point elsewhere.
        throw mlflowErrors.invalidParameter(`artifact_location must be empty or an ${ARTIFACT_SCHEME}/ URI on this server`);
      }
      const tags = asList<KeyValueInput>('tags', input.tags).map((t) => validateExperimentTag(t ?? {}));
      return withTenant(db, scope.tenantId, async (tx) => {
        const t = now();
        await ensureDefaultExperiment(tx, scope.tenantId, t);
        const existing = await findExperimentByName(tx, name);
        if (existing !== undefined) {
          if (existing.lifecycle_stage === 'deleted') {
            throw mlflowErrors.alreadyExists(
              `Experiment '${name.slice(0, 500)}' already exists in deleted state. You can restore the experiment, or rename it before creating a new one.`,
            );
          }
          throw trackingErrors.experimentExists(name);
        }
        const id = await nextExperimentId(tx);
        const artifactLocation = location === undefined || location === '' ? `${ARTIFACT_SCHEME}/${id}` : location;
        const inserted = await tx.query(
          `INSERT INTO experiments (tenant_id, id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
           VALUES ($1::uuid, $2, $3, $4, 'active', $5, $5) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id`,
          [scope.tenantId, id, name, artifactLocation, t],
        );
        if (inserted.rows.length === 0) throw trackingErrors.experimentExists(name);
        await upsertExperimentTags(tx, scope.tenantId, id, tags);
        await audit(tx, scope, 'tracking.experiment.create', `experiment:${id}`, { name });
        return String(id);
      });
    },

    async getExperiment(scope: TrackingScope, id: unknown): Promise<ExperimentJson> {
      requireString('experiment_id', typeof id === 'number' ? String(id) : id);
      // `{owner}/{id}`: an experiment another tenant shared with this one (issue 15), else not found.
      if (typeof id === 'string' && id.includes('/')) {
        const shared = await sharedExperiments.getById(scope, id);
        if (shared === undefined) throw trackingErrors.experimentNotFound(id);
        return shared;
      }
      return withTenant(db, scope.tenantId, async (tx) => experimentJson(await getExperimentIn(tx, scope, id)), { readOnly: id !== '0' && id !== 0 });
    },

    async getExperimentByName(scope: TrackingScope, rawName: unknown): Promise<ExperimentJson> {
      const name = requireString('experiment_name', rawName);
      const own = await withTenant(db, scope.tenantId, async (tx) => {
        if (name === 'Default') await ensureDefaultExperiment(tx, scope.tenantId, now());
        const row = await findExperimentByName(tx, name);
        return row === undefined ? undefined : experimentJson(row);
      });
      if (own !== undefined) return own;
      // `{owner}/{name}`: an experiment another tenant shared with this one (issue 15); the caller's own name wins.
      const shared = name.includes('/') ? await sharedExperiments.getByName(scope, name) : undefined;
      if (shared === undefined) throw trackingErrors.experimentNameNotFound(name);
      return shared;
    },

    async searchExperiments(scope: TrackingScope, input: SearchInput): Promise<Page<ExperimentJson>> {
      const sharedOffset = sharedExperiments.sharedOffset(input.pageToken);
      if (sharedOffset !== undefined) return sharedExperiments.search(scope, input, sharedOffset, sharedExperiments.maxResults(input.maxResults));
      await statistics.refreshIfDue();
      const own = await withTenant(db, scope.tenantId, async (tx) => {
        await ensureDefaultExperiment(tx, scope.tenantId, now());
        return searchExperimentsIn(tx, scope.tenantId, input);
      }, { heavy: true });
      return withSharedExperimentsAfter(scope, input, own);
    },

    async updateExperiment(scope: TrackingScope, input: { experiment_id?: unknown; new_name?: unknown }): Promise<void> {
      requireString('experiment_id', input.experiment_id);
      const newName = input.new_name === undefined || input.new_name === null || input.new_name === '' ? undefined : validateExperimentName(input.new_name);
      await withTenant(db, scope.tenantId, async (tx) => {
        const row = await getExperimentIn(tx, scope, input.experiment_id);
        if (row.lifecycle_stage !== 'active') throw mlflowErrors.invalidParameter('Cannot rename a non-active experiment.');
        if (newName === undefined || newName === row.name) return;
        if ((await findExperimentByName(tx, newName)) !== undefined) throw trackingErrors.experimentExists(newName);
        await tx.query('UPDATE experiments SET name = $2, last_update_time = $3 WHERE id = $1', [Number(row.id), newName, now()]);
        await audit(tx, scope, 'tracking.experiment.rename', `experiment:${row.id}`, { from: row.name, to: newName });
      });
    },

    async deleteExperiment(scope: TrackingScope, rawId: unknown): Promise<void> {
      requireString('experiment_id', rawId);
      await withTenant(db, scope.tenantId, async (tx) => {
        const row = await getExperimentIn(tx, scope, rawId);
        const t = now();
        // As MLflow: the experiment and its runs become deleted (soft; restore brings them back).
        await tx.query(`UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = $2 WHERE id = $1`, [Number(row.id), t]);
        await tx.query(`UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $2 WHERE experiment_id = $1 AND lifecycle_stage = 'active'`, [Number(row.id), t]);
        await audit(tx, scope, 'tracking.experiment.delete', `experiment:${row.id}`);
      });
    },

    async restoreExperiment(scope: TrackingScope, rawId: unknown): Promise<void> {
      requireString('experiment_id', rawId);
      await withTenant(db, scope.tenantId, async (tx) => {
        const row = await getExperimentIn(tx, scope, rawId);
        if (row.lifecycle_stage !== 'deleted') {
          throw mlflowErrors.invalidParameter(`Cannot restore an experiment that is not deleted. Current state: ${row.lifecycle_stage}`);
        }
        const t = now();
        await tx.query(`UPDATE experiments SET lifecycle_stage = 'active', last_update_time = $2 WHERE id = $1`, [Number(row.id), t]);
        await tx.query(`UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = $1 AND lifecycle_stage = 'deleted'`, [Number(row.id)]);
        await audit(tx, scope, 'tracking.experiment.restore', `experiment:${row.id}`);
      });
    },

    async setExperimentTag(scope: TrackingScope, input: { experiment_id?: unknown; key?: unknown; value?: unknown }): Promise<void> {
      requireString('experiment_id', input.experiment_id);
      const tag = validateExperimentTag({ key: input.key, value: input.value });
      await withTenant(db, scope.tenantId, async (tx) => {
        const row = await activeExperimentIn(tx, scope, input.experiment_id);
        await upsertExperimentTags(tx, scope.tenantId, Number(row.id), [tag]);
        await audit(tx, scope, 'tracking.experiment.set_tag', `experiment:${row.id}`, { key: tag.key });
      });
    },

    async createRun(
      scope: TrackingScope,
      input: { experiment_id?: unknown; user_id?: unknown; run_name?: unknown; start_time?: unknown; tags?: unknown },
    ): Promise<RunJson> {
      const experimentId = input.experiment_id === undefined || input.experiment_id === null || input.experiment_id === '' ? '0' : input.experiment_id;
      const tags = asList<KeyValueInput>('tags', input.tags).map((t) => validateRunTag(t ?? {}));
      const givenName = resolveRunName(optionalString('run_name', input.run_name), tags);
      const runName = givenName ?? randomRunName();
      const allTags = [...tags.filter((t) => t.key !== RUN_NAME_TAG), { key: RUN_NAME_TAG, value: runName }];
      const userId = validateRunUserId(optionalString('user_id', input.user_id) ?? scope.actor);
      const startTime = optionalInt64('start_time', input.start_time) ?? now();
      const runId = randomUUID().replaceAll('-', '');
      const experimentNumber = parseExperimentId(experimentId);
      if (experimentNumber === undefined) throw trackingErrors.experimentNotFound(experimentId);
      // Duplicate keys: the last value wins (as MLflow); one row per key.
      const distinctTags = [...new Map(allTags.map((t) => [t.key, t])).values()];
      // One write and one round trip on PostgreSQL, COMMIT included (commit ahead), in a transaction it may
      // share with the tenant's other small writes (combine.ts): [the default experiment,] then one
      // statement writing the run, its tags and its audit event, only under an active experiment of this
      // tenant — else nothing at all.
      const run = await withTenantCombined(db, scope.tenantId, runId, (tx) => {
        const pending: Promise<unknown>[] = [];
        if (experimentNumber === 0) pending.push(ensureDefaultExperiment(tx, scope.tenantId, now()));
        const created = auditEventValues(tx, auditEvent(scope, 'tracking.run.create', `run:${runId}`, { experimentId: String(experimentNumber) }));
        const inserted = insertRun(tx, { runId, tenantId: scope.tenantId, experimentId: experimentNumber, name: runName, userId, startTime, tags: distinctTags, auditEvent: created });
        pending.push(inserted);
        return settleAll(pending).then(() => inserted);
      });
      if (run === undefined) {
        // Nothing was written: say why, as MLflow does (missing or not active).
        await withTenant(db, scope.tenantId, (tx) => activeExperimentIn(tx, scope, experimentId));
        throw trackingErrors.experimentNotFound(experimentId);
      }
      return runJson({
        id: runId, experiment_id: experimentNumber, name: runName, user_id: userId, status: 'RUNNING', start_time: startTime, end_time: null,
        lifecycle_stage: 'active', artifact_uri: run.artifactUri, metrics: [], params: [], tags: run.tags, inputs: [], model_inputs: null, model_outputs: null,
      });
    },

    async getRun(scope: TrackingScope, runId: string): Promise<RunJson> {
      const own = RUN_ID.test(runId) ? await withTenant(db, scope.tenantId, (tx) => findRun(tx, runId), { readOnly: true }) : undefined;
      if (own !== undefined) return runJson(own);
      // A run of an experiment another tenant shared with this one (issue 15), else not found.
      const shared = await readSharedRun(scope, runId, (tx) => findRun(tx, runId));
      if (shared === undefined) throw trackingErrors.runNotFound(runId);
      return runJson(shared);
    },

    async updateRun(scope: TrackingScope, runId: string, input: { status?: unknown; end_time?: unknown; run_name?: unknown }): Promise<RunInfoJson> {
      const status = input.status === undefined || input.status === null ? undefined : validateRunStatus(input.status);
      const endTime = optionalInt64('end_time', input.end_time);
      const runName = optionalString('run_name', input.run_name);
      if (runName !== undefined) validateRunTag({ key: RUN_NAME_TAG, value: runName }, { truncate: false });
      return withTenant(db, scope.tenantId, async (tx) => {
        await activeRunIn(tx, runId);
        await tx.query(
          `UPDATE runs SET status = COALESCE($2, status), end_time = COALESCE($3, end_time), name = COALESCE(NULLIF($4, ''), name) WHERE id = $1`,
          [runId, status ?? null, endTime ?? null, runName ?? null],
        );
        if (runName !== undefined && runName !== '') await upsertRunTags(tx, scope.tenantId, runId, [{ key: RUN_NAME_TAG, value: runName }]);
        await audit(tx, scope, 'tracking.run.update', `run:${runId}`, { ...(status === undefined ? {} : { status }), ...(runName === undefined ? {} : { runName }) });
        const info = await findRunInfo(tx, runId);
        if (info === undefined) throw trackingErrors.runNotFound(runId);
        return runInfoJson(info);
      });
    },

    async deleteRun(scope: TrackingScope, runId: string): Promise<void> {
      await withTenant(db, scope.tenantId, async (tx) => {
        if (!RUN_ID.test(runId) || (await findRunInfo(tx, runId)) === undefined) throw trackingErrors.runNotFound(runId);
        await tx.query(`UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $2 WHERE id = $1`, [runId, now()]);
        await audit(tx, scope, 'tracking.run.delete', `run:${runId}`);
      });
    },

    async restoreRun(scope: TrackingScope, runId: string): Promise<void> {
      await withTenant(db, scope.tenantId, async (tx) => {
        if (!RUN_ID.test(runId) || (await findRunInfo(tx, runId)) === undefined) throw trackingErrors.runNotFound(runId);
        await tx.query(`UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE id = $1`, [runId]);
        await audit(tx, scope, 'tracking.run.restore', `run:${runId}`);
      });
    },

    /**
     * runs/search with keyset pages (run-search.ts): the token is refused (INVALID_PARAMETER_VALUE) when it
     * was made for another filter, order, experiment list or view type. Refreshes the planner statistics
     * first when due (search-statistics.ts), then one statement per order segment until the page is full and
     * one to read the page's runs, each in its own read-only transaction that runs the plan's settings first
     * (sequential scans off, and what the form needs: run-search.ts).
     */
    async searchRuns(
      scope: TrackingScope,
      input: SearchInput & { experimentIds?: unknown },
    ): Promise<Page<RunJson>> {
      const rawIds = asList<unknown>('experiment_ids', input.experimentIds);
      // `{owner}/{id}`: an experiment another tenant shared with this one (issue 15); all ids of one owner.
      const qualified = rawIds.map((id) => (typeof id === 'string' ? /^([a-z0-9][a-z0-9-]{0,62})\/(\d{1,15})$/.exec(id) : null));
      const owners = new Set(qualified.map((m) => m?.[1]));
      if (qualified.some((m) => m !== null) && (owners.size !== 1 || qualified.some((m) => m === null))) {
        throw mlflowErrors.invalidParameter("experiment_ids must all be the caller's own or all '{owner}/{id}' of one owner");
      }
      const ownerSlug = qualified[0]?.[1];
      const experimentIds = (ownerSlug === undefined ? rawIds : qualified.map((m) => m?.[2]))
        .map(parseExperimentId)
        .filter((id): id is number => id !== undefined);
      const ownerId = ownerSlug === undefined ? undefined : await otherTenantIdBySlug(db, scope.tenantId, ownerSlug);
      if (ownerSlug !== undefined && ownerId === undefined) return { items: [], nextPageToken: undefined };
      const stages = viewTypeToStages(input.viewType);
      const maxResults = validateMaxResults(input.maxResults, searchPageLimits.runs);
      const plan = planRunSearch({ filter: input.filter, orderBy: input.orderBy, experimentIds, stages, tenantId: ownerId ?? scope.tenantId, narrowMetricRanges: !others });
      const cursor = plan.decodeToken(input.pageToken);
      await statistics.refreshIfDue();
      // Another tenant's runs: only those a live share admits (the database's shared_read policies); audited.
      const scoped = <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> =>
        ownerId === undefined ? withTenant(db, scope.tenantId, fn, { readOnly: true, heavy: true }) : withSharedRead(db, scope.tenantId, ownerId, fn, { heavy: true });
      // One short read-only transaction per statement, not one around them all: on the embedded database the
      // single connection is held from BEGIN to COMMIT, so a search of three segments and a page read would
      // keep every other tenant waiting for all four; between them the fair lock lets a waiting tenant in
      // (issue 25). No snapshot is shared across the statements, as none is across pages: a run written in
      // between may be missed or met twice in that one page, exactly as between two pages (keyset tokens).
      // The settings and the statement are pipelined (one round trip): if the settings fail, the transaction
      // is aborted and the statement fails with it, never running without them; Promise.all reports the
      // first failure, the settings' own.
      const inSearch = <T extends object>(sql: string, params: unknown[]) =>
        scoped(async (tx) => {
          const [, result] = await Promise.all([tx.query(plan.settings), tx.query<T>(sql, params)]);
          return result.rows;
        });
      // A statement with a second form (PageQuery.walk): the planner's plan of the first decides, in the
      // same transaction (the settings and EXPLAIN pipelined, then the chosen statement).
      const pageRows = (query: PageQuery) => {
        const { walk } = query;
        if (walk === undefined) return inSearch<{ run_id: string; keys: string }>(query.sql, query.params);
        if (others) return inSearch<{ run_id: string; keys: string }>(walk.sql, walk.params);
        return scoped(async (tx) => {
          const [, explained] = await Promise.all([tx.query(plan.settings), tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${query.sql}`, query.params)]);
          const chosen = planWalksBackward(explained.rows[0]?.['QUERY PLAN'], walk.index) ? walk : query;
          return (await tx.query<{ run_id: string; keys: string }>(chosen.sql, chosen.params)).rows;
        });
      };
      // Segment after segment (see run-search.ts) until the page has one row more than it returns.
      const found: { run_id: string; keys: string; segment: number }[] = [];
      for (let segment = cursor?.segment ?? 0; segment < plan.segmentCount && found.length <= maxResults; segment += 1) {
        const query = plan.query(segment, maxResults + 1 - found.length, cursor?.segment === segment ? cursor : undefined);
        for (const row of await pageRows(query)) found.push({ ...row, segment });
      }
      const ids = found.slice(0, maxResults).map((row) => row.run_id);
      // The page's runs with their params, tags and metrics: on the embedded database in chunks, each its own
      // transaction (100 runs took 41–93 ms there, longer than any segment statement).
      const runs = new Map<string, RunRow>();
      const chunk = db.kind === 'pglite' ? PGLITE_PAGE_READ_CHUNK : ids.length;
      for (let from = 0; from < ids.length; from += chunk) {
        for (const row of await inSearch<RunRow>(`${RUN_SELECT} WHERE r.id = ANY($1::text[])`, [ids.slice(from, from + chunk)])) runs.set(row.id, row);
      }
      const last = found[maxResults - 1];
      const page = {
        items: ids.map((id) => runs.get(id)).filter((row): row is RunRow => row !== undefined).map(runJson),
        nextPageToken: found.length > maxResults && last !== undefined ? plan.encodeToken({ segment: last.segment, keys: JSON.parse(last.keys) as (string | null)[] }) : undefined,
      };
      if (ownerId !== undefined && ownerSlug !== undefined && page.items.length > 0) {
        const seen = [...new Set(page.items.map((run) => run.info.experiment_id))];
        await auditSharedRead(db, scope, ownerId, seen.map((id) => `experiment:${ownerSlug}/${id}`).join(','), { runs: page.items.length });
      }
      return page;
    },

    async setTag(scope: TrackingScope, runId: string, input: KeyValueInput): Promise<void> {
      await writeBatch(scope, runId, { metrics: [], params: [], tags: [validateRunTag(input)] });
    },

    async deleteTag(scope: TrackingScope, runId: string, rawKey: unknown): Promise<void> {
      const key = validateTagName(rawKey);
      await withTenant(db, scope.tenantId, async (tx) => {
        await activeRunIn(tx, runId);
        const deleted = await tx.query('DELETE FROM run_tags WHERE run_id = $1 AND key = $2', [runId, key]);
        if (deleted.rowCount === 0) throw mlflowErrors.notFound(`No tag with name: ${key} in run with id ${runId}`);
        if (key === RUN_NAME_TAG) await tx.query(`UPDATE runs SET name = '' WHERE id = $1`, [runId]);
      });
    },

    async logParam(scope: TrackingScope, runId: string, input: KeyValueInput): Promise<void> {
      await writeBatch(scope, runId, { metrics: [], params: [validateParam(input)], tags: [] });
    },

    async logMetric(scope: TrackingScope, runId: string, input: MetricInput): Promise<void> {
      await writeBatch(scope, runId, { metrics: [validateMetric(input)], params: [], tags: [] });
    },

    /** log-batch: validates the whole batch (MLflow's limits and rules) before writing any of it. */
    async logBatch(scope: TrackingScope, runId: string, input: { metrics?: unknown; params?: unknown; tags?: unknown }): Promise<void> {
      const batch = validateLogBatch({
        metrics: asList<MetricInput>('metrics', input.metrics),
        params: asList<KeyValueInput>('params', input.params),
        tags: asList<KeyValueInput>('tags', input.tags),
      });
      if (batch.metrics.length + batch.params.length + batch.tags.length === 0) {
        // MLflow answers an empty batch with success; the run must still be visible.
        await withTenant(db, scope.tenantId, (tx) => activeRunIn(tx, runId), { readOnly: true });
        return;
      }
      await writeBatch(scope, runId, batch);
    },

    /**
     * log-inputs: dataset inputs, and (MLflow 3) logged-model inputs — every model must be an active
     * logged model of the tenant (RESOURCE_DOES_NOT_EXIST otherwise, and nothing is recorded).
     */
    async logInputs(scope: TrackingScope, runId: string, rawDatasets: unknown, rawModels?: unknown): Promise<void> {
      const datasets = asList<DatasetInputInput>('datasets', rawDatasets);
      for (const d of datasets) validateDatasetInput(d ?? {});
      const models = asList<{ model_id?: unknown }>('models', rawModels).map((m) => ({ modelId: requireString('models.model_id', m?.model_id), step: 0 }));
      await withTenant(db, scope.tenantId, async (tx) => {
        await activeRunIn(tx, runId);
        const missing = await linkRunModels(tx, scope.tenantId, runId, 'input', models);
        if (missing.length > 0) throw trackingErrors.loggedModelNotFound(missing[0]);
        if (datasets.length === 0) return;
        const t = now();
        await tx.query(
          `INSERT INTO run_inputs (tenant_id, run_id, name, digest, source_type, source, schema, profile, tags, created_time)
           SELECT $1::uuid, $2, d->'dataset'->>'name', d->'dataset'->>'digest', d->'dataset'->>'source_type', d->'dataset'->>'source',
                  d->'dataset'->>'schema', d->'dataset'->>'profile', COALESCE(d->'tags', '[]'::jsonb), $4
             FROM jsonb_array_elements($3::jsonb) AS d
           ON CONFLICT (tenant_id, run_id, name, digest) DO NOTHING`,
          [scope.tenantId, runId, JSON.stringify(datasets.map((d) => ({
            dataset: d.dataset,
            tags: asList<KeyValueInput>('tags', d.tags).map((tag) => ({ key: tag.key, value: tag.value })),
          }))), t],
        );
      });
    },

    /**
     * metrics/get-history: every point of one metric of a run (an identical point logged twice is one),
     * in (step, timestamp, value) order — all of them without `max_results` (as MLflow), else one page of
     * at most `max_results` (≤ 25,000) and a keyset token holding the last point, so the millionth point
     * costs what the first does (index run_metrics_step_idx, migration 0031). A shared run's history is
     * read in the owner's shared-read scope; the tenant predicate is the run's own tenant either way.
     */
    async getMetricHistory(
      scope: TrackingScope,
      runId: string,
      rawKey: unknown,
      options: { maxResults?: unknown; pageToken?: string | undefined },
    ): Promise<Page<MetricJson>> {
      const key = requireString('metric_key', rawKey);
      const paged = options.maxResults !== undefined && options.maxResults !== null && options.maxResults !== '';
      const maxResults = paged ? validateMaxResults(options.maxResults, { default: 25_000, max: 25_000 }) : undefined;
      const after = decodeHistoryToken(options.pageToken, runId, key);
      const historyIn = async (tx: Queryable): Promise<Page<MetricJson>> => {
        const params: unknown[] = [runId, key];
        if (after !== undefined) params.push(after.step, after.timestamp, after.value);
        if (maxResults !== undefined) params.push(maxResults + 1);
        const { rows } = await tx.query<{ value: number; timestamp: number; step: number; value_text: string }>(
          historySql(after !== undefined, maxResults !== undefined),
          params,
        );
        const page = maxResults === undefined ? rows : rows.slice(0, maxResults);
        const items = page.map((r) => ({ key, value: jsonDouble(r.value), timestamp: Number(r.timestamp), step: Number(r.step) }));
        const last = page.at(-1);
        const more = maxResults !== undefined && rows.length > maxResults && last !== undefined;
        return { items, nextPageToken: more ? encodeHistoryToken(runId, key, { step: String(last.step), timestamp: String(last.timestamp), value: last.value_text }) : undefined };
      };
      const own = await withTenant(db, scope.tenantId, async (tx) =>
        (RUN_ID.test(runId) && (await findRunInfo(tx, runId)) !== undefined ? historyIn(tx) : undefined), { readOnly: true, heavy: true });
      if (own !== undefined) return own;
      const shared = await readSharedRun(scope, runId, historyIn);
      if (shared === undefined) throw trackingErrors.runNotFound(runId);
      return shared;
    },

    /**
     * metrics/get-history-bulk-interval: one metric of up to 100 runs between two steps, downsampled as
     * MLflow's server does (handlers.get_metric_history_bulk_interval_impl): over the sorted distinct steps
     * that any of the runs logged, at most `max_results` steps evenly spaced by position in [start, end]
     * (the last one always), plus each run's first and last step when inside the interval; then every
     * point of each run at those steps, runs in request order, points by (step, timestamp, value).
     * Without an interval it is [0, the highest step]. (MLflow drops a sampled position that is past the
     * number of steps in the interval rather than past its end — a slip when start > 0 that this does not copy.)
     *
     * When every run's series is summarised as a step progression on one lattice (migration 0038, the
     * usual 0, 1, 2, … or every n-th step), the sampled steps are computed from the summaries and only the
     * points at them are read: logarithmic in the length of the series. Otherwise one statement samples in
     * the database (window functions over the runs' distinct steps, read from run_metrics_step_idx within
     * the interval): linear in the steps inside the interval. Only the chosen points come back either way.
     */
    async getMetricHistoryBulkInterval(
      scope: TrackingScope,
      input: { runIds: unknown; metricKey: unknown; startStep?: unknown; endStep?: unknown; maxResults?: unknown },
    ): Promise<(MetricJson & { run_id: string })[]> {
      const runIds = asList<unknown>('run_ids', typeof input.runIds === 'string' ? [input.runIds] : input.runIds).map((id) => requireString('run_ids', id));
      if (runIds.length === 0) throw trackingErrors.missing('run_ids');
      if (runIds.length > 100) throw mlflowErrors.invalidParameter(`GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received ${runIds.length} run_ids.`);
      const key = requireString('metric_key', input.metricKey);
      const startStep = optionalInt64('start_step', input.startStep);
      const endStep = optionalInt64('end_step', input.endStep);
      if ((startStep === undefined) !== (endStep === undefined)) throw mlflowErrors.invalidParameter('If either start step or end step are specified, both must be specified.');
      if (startStep !== undefined && endStep !== undefined && startStep > endStep) throw mlflowErrors.invalidParameter('end_step must be greater than start_step.');
      const maxResults = validateMaxResults(input.maxResults, { default: 320, max: 2500 });
      return withTenant(db, scope.tenantId, async (tx) => {
        const valid = [...new Set(runIds.filter((id) => RUN_ID.test(id)))];
        const found = new Set((await tx.query<{ id: string }>('SELECT id FROM runs WHERE tenant_id = $1::uuid AND id = ANY($2::text[])', [scope.tenantId, valid])).rows.map((r) => r.id));
        const missing = runIds.find((id) => !found.has(id));
        if (missing !== undefined) throw trackingErrors.runNotFound(missing);
        // Series logged as step progressions are sampled from their summaries (step-sampling.ts); the
        // rest by the scanning statement.
        const summaries = summariesOf((await tx.query<StepSummaryRow>(stepSummarySql, [scope.tenantId, valid, key])).rows);
        const interval = startStep === undefined || endStep === undefined ? undefined : [BigInt(startStep), BigInt(endStep)] as const;
        const chosen = summaries === undefined ? undefined : sampleSummarizedSteps(summaries, maxResults, interval);
        if (chosen !== undefined && chosen.length === 0) return [];
        const { rows } = chosen === undefined
          ? await tx.query<{ run_id: string; value: number; timestamp: number; step: number }>(
            bulkIntervalSql(valid.length === 1),
            [scope.tenantId, valid, key, startStep ?? null, endStep ?? null, maxResults],
          )
          : await tx.query<{ run_id: string; value: number; timestamp: number; step: number }>(
            pointsAtStepsSql, [scope.tenantId, valid, key, chosen.map(String)]);
        const byRun = new Map<string, typeof rows>();
        for (const r of rows) {
          const list = byRun.get(r.run_id);
          if (list === undefined) byRun.set(r.run_id, [r]);
          else list.push(r);
        }
        const out: (MetricJson & { run_id: string })[] = [];
        for (const runId of new Set(runIds)) {
          for (const p of byRun.get(runId) ?? []) out.push({ key, value: jsonDouble(p.value), timestamp: Number(p.timestamp), step: Number(p.step), run_id: runId });
        }
        return out;
      }, { readOnly: true, heavy: true });
    },
  };
};

