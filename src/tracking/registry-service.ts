import type { Db, Queryable } from '../db/index.ts';
import { withSharedRead, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { auditSharedRead, otherTenantIdBySlug } from '../sharing/index.ts';
import { mlflowErrors } from './mlflow-errors.ts';
import type { ModelVersionJson, ModelVersionRow, RegisteredModelJson, RegisteredModelRow } from './mlflow-entities.ts';
import { canonicalStage, modelStages, modelVersionJson, registeredModelJson } from './mlflow-entities.ts';
import {
  searchPageLimits, validateMaxResults, validateModelAliasName, validateModelName, validateModelVersion, validateModelVersionTag,
  validateRegisteredModelTag, validateTagName,
} from './mlflow-validation.ts';
import type { KeyValue, KeyValueInput } from './mlflow-validation.ts';
import {
  compileModelVersionFilter, compileModelVersionOrderBy, compileRegisteredModelFilter, compileRegisteredModelOrderBy,
} from './search-filter.ts';
import { MODEL_KEYS, VERSION_KEYS, keysetOrder, keysetPage, keysetStatement } from './keyset-page.ts';
import type { KeysetStatement } from './keyset-page.ts';
import { statisticsKeeperOf } from './search-statistics.ts';
import { trackingErrors } from './tracking-service.ts';
import type { Page, TrackingScope } from './tracking-service.ts';

export const VERSION_SELECT = `
  SELECT v.name, v.version, v.creation_time, v.last_updated_time, v.description, v.user_id, v.current_stage, v.source, v.run_id,
    v.run_link, v.status, v.status_message, v.model_id, v.storage_location,
    (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key)
       FROM model_version_tags t WHERE t.tenant_id = v.tenant_id AND t.name = v.name AND t.version = v.version) AS tags,
    (SELECT json_agg(a.alias ORDER BY a.alias)
       FROM registered_model_aliases a WHERE a.tenant_id = v.tenant_id AND a.name = v.name AND a.version = v.version) AS aliases
  FROM model_versions v`;

// latest_versions: the newest version in each stage (MLflow's SQL store), with their tags and aliases.
export const MODEL_SELECT = `
  SELECT m.name, m.creation_time, m.last_updated_time, m.description, m.user_id,
    (SELECT json_agg(json_build_object('key', t.key, 'value', t.value) ORDER BY t.key)
       FROM registered_model_tags t WHERE t.tenant_id = m.tenant_id AND t.name = m.name) AS tags,
    (SELECT json_agg(json_build_object('alias', a.alias, 'version', a.version) ORDER BY a.alias)
       FROM registered_model_aliases a WHERE a.tenant_id = m.tenant_id AND a.name = m.name) AS aliases,
    (SELECT json_agg(row_to_json(lv) ORDER BY lv.version)
       FROM (SELECT DISTINCT ON (v.current_stage) v.name, v.version, v.creation_time, v.last_updated_time, v.description, v.user_id,
                    v.current_stage, v.source, v.run_id, v.run_link, v.status, v.status_message, v.model_id
               FROM model_versions v WHERE v.tenant_id = m.tenant_id AND v.name = m.name
              ORDER BY v.current_stage, v.version DESC) lv) AS latest_versions
  FROM registered_models m`;

export interface RegistrySearchInput {
  filter?: string | undefined;
  orderBy?: readonly string[] | undefined;
  maxResults?: unknown;
  pageToken?: string | undefined;
}

/**
 * The statement of one registered-models/search page (keyset-page.ts): explicit `m.tenant_id`, the order
 * read from the primary key or a migration 0031 index, rows after the token's sort key. Throws
 * INVALID_PARAMETER_VALUE for a bad filter, order, max_results or page token.
 */
export const modelSearchStatement = (tenantId: string, input: RegistrySearchInput): KeysetStatement => {
  const maxResults = validateMaxResults(input.maxResults, searchPageLimits.registeredModels);
  const where = compileRegisteredModelFilter(input.filter, { firstParam: 2 });
  const order = keysetOrder(compileRegisteredModelOrderBy(input.orderBy ?? null).sql, MODEL_KEYS, ['m.name'],
    `registered-models\u0000${tenantId}\u0000${input.filter ?? ''}`);
  return keysetStatement(MODEL_SELECT, `m.tenant_id = $1::uuid AND (${where.sql})`, [tenantId, ...where.params], order, input.pageToken, maxResults);
};

/**
 * The statement of one model-versions/search page: as {@link modelSearchStatement}, over `v` (model
 * versions carry a share policy, migration 0021, so RLS alone gives the planner no tenant condition).
 */
export const versionSearchStatement = (tenantId: string, input: RegistrySearchInput): KeysetStatement => {
  const maxResults = validateMaxResults(input.maxResults, searchPageLimits.modelVersions);
  const where = compileModelVersionFilter(input.filter, { firstParam: 2 });
  const order = keysetOrder(compileModelVersionOrderBy(input.orderBy ?? null).sql, VERSION_KEYS, [],
    `model-versions\u0000${tenantId}\u0000${input.filter ?? ''}`);
  return keysetStatement(VERSION_SELECT, `v.tenant_id = $1::uuid AND (${where.sql})`, [tenantId, ...where.params], order, input.pageToken, maxResults);
};

// Sources a model version may point at: the tenant's own runs and artifacts, other registered models, and
// remote object stores. Local paths (and file:) are refused, as MLflow's server refuses them without a
// run that contains them: they would name files on the server.
const ALLOWED_SOURCE = /^(runs:\/|models:\/|mlflow-artifacts:\/|s3:\/\/|gs:\/\/|wasbs:\/\/|abfss:\/\/|https?:\/\/)/;

export const registryErrors = {
  modelNotFound: (name: string) => mlflowErrors.notFound(`Registered Model with name=${name.slice(0, 500)} not found`),
  modelExists: (name: string) => mlflowErrors.alreadyExists(`Registered Model (name=${name.slice(0, 500)}) already exists.`),
  versionNotFound: (name: string, version: unknown) =>
    mlflowErrors.notFound(`Model Version (name=${name.slice(0, 500)}, version=${String(version).slice(0, 30)}) not found`),
  invalidStage: (stage: unknown) =>
    mlflowErrors.invalidParameter(`Invalid Model Version stage: ${String(stage).slice(0, 100)}. Value must be one of ${modelStages.join(', ')}.`),
};

const optionalString = (field: string, value: unknown): string | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a string`);
  return value;
};

const asList = <T>(field: string, value: unknown): T[] => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw mlflowErrors.invalidParameter(`Invalid value for parameter '${field}': expected a list`);
  return value as T[];
};

const runIdOfSource = (source: string): string | undefined => /^runs:\/([^/]+)/.exec(source)?.[1];

// `models:/<model_id>[/<path>]` names an MLflow 3 logged model (`models:/<name>/<version>` does not match:
// logged model ids are `m-` + 32 hex characters).
const loggedModelOfSource = (source: string): { modelId: string; path: string } | undefined => {
  const m = /^models:\/(m-[0-9a-f]{32})(?:\/(.*))?$/.exec(source);
  return m === null ? undefined : { modelId: m[1] as string, path: m[2] ?? '' };
};

/** The tag MLflow keeps on a logged model listing the model versions registered from it. */
const MODEL_VERSIONS_TAG = 'mlflow.modelVersions';

export type RegistryService = ReturnType<typeof createRegistryService>;

/**
 * The model registry for one tenant at a time: registered models, versions, stages, aliases and tags,
 * with MLflow's semantics and errors. Runs in `withTenant` transactions (row-level security), so another
 * tenant's model name is RESOURCE_DOES_NOT_EXIST and never collides with one's own. Every change appends
 * an audit event in its transaction.
 */
export const createRegistryService = (deps: { db: Db }) => {
  const { db } = deps;
  const now = (): number => Date.now();
  // Planner statistics of the model tables (search-statistics.ts): bulk-grown tables are analyzed before a search plans on them.
  const statistics = statisticsKeeperOf(db);

  const audit = (tx: Queryable, scope: TrackingScope, action: string, target: string, details?: Record<string, unknown>) =>
    appendAuditEvent(tx, { tenantId: scope.tenantId, actor: scope.actor, action, target, outcome: 'success', requestId: scope.requestId, ...(details === undefined ? {} : { details }) });

  const getModelIn = async (tx: Queryable, name: string): Promise<RegisteredModelRow> => {
    const row = (await tx.query<RegisteredModelRow>(`${MODEL_SELECT} WHERE m.name = $1`, [name])).rows[0];
    if (row === undefined) throw registryErrors.modelNotFound(name);
    return row;
  };

  const getVersionIn = async (tx: Queryable, name: string, version: number): Promise<ModelVersionRow> => {
    const row = (await tx.query<ModelVersionRow>(`${VERSION_SELECT} WHERE v.name = $1 AND v.version = $2`, [name, version])).rows[0];
    if (row === undefined) throw registryErrors.versionNotFound(name, version);
    return row;
  };

  /**
   * A version of `{owner}/{name}` shared with the caller: read in a withSharedRead transaction, where the
   * database's shared_read policies admit the owner's row only while a live share grants it to the caller
   * (or an ancestor). Each successful read is audited in both tenants' chains (one system transaction,
   * committed before the version is returned). undefined for everything else, so callers answer exactly
   * as for a missing version.
   */
  const readSharedVersion = async (scope: TrackingScope, qualified: string, version: number): Promise<ModelVersionJson | undefined> => {
    const slash = qualified.indexOf('/');
    if (slash <= 0) return undefined;
    const ownerSlug = qualified.slice(0, slash);
    const name = qualified.slice(slash + 1);
    const ownerId = await otherTenantIdBySlug(db, scope.tenantId, ownerSlug);
    if (ownerId === undefined) return undefined;
    const found = await withSharedRead(db, scope.tenantId, ownerId, async (tx) => {
      const row = (await tx.query<ModelVersionRow>(`${VERSION_SELECT} WHERE v.tenant_id = $1 AND v.name = $2 AND v.version = $3`, [ownerId, name, version])).rows[0];
      if (row === undefined) return undefined;
      const share = (await tx.query<{ id: string }>(
        `SELECT id FROM tenant_shares WHERE tenant_id = $1 AND resource_kind = 'model' AND resource_name = $2 AND resource_version = $3
            AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at, id LIMIT 1`,
        [ownerId, name, version],
      )).rows[0];
      return { row, shareId: share?.id ?? null };
    });
    if (found === undefined) return undefined;
    const target = `model:${qualified}/${version}`;
    await auditSharedRead(db, scope, ownerId, target, { shareId: found.shareId });
    return modelVersionJson({ ...found.row, name: qualified });
  };

  const touchModel = (tx: Queryable, name: string, t: number) =>
    tx.query('UPDATE registered_models SET last_updated_time = $2 WHERE name = $1', [name, t]);

  const upsertModelTags = async (tx: Queryable, scope: TrackingScope, name: string, tags: readonly KeyValue[]): Promise<void> => {
    if (tags.length === 0) return;
    await tx.query(
      `INSERT INTO registered_model_tags (tenant_id, name, key, value)
       SELECT DISTINCT ON (u.key) $1::uuid, $2, u.key, u.value FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, value, ord)
        ORDER BY u.key, u.ord DESC
       ON CONFLICT (tenant_id, name, key) DO UPDATE SET value = EXCLUDED.value`,
      [scope.tenantId, name, tags.map((t) => t.key), tags.map((t) => t.value)],
    );
  };

  const upsertVersionTags = async (tx: Queryable, scope: TrackingScope, name: string, version: number, tags: readonly KeyValue[]): Promise<void> => {
    if (tags.length === 0) return;
    await tx.query(
      `INSERT INTO model_version_tags (tenant_id, name, version, key, value)
       SELECT DISTINCT ON (u.key) $1::uuid, $2, $3, u.key, u.value FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS u(key, value, ord)
        ORDER BY u.key, u.ord DESC
       ON CONFLICT (tenant_id, name, version, key) DO UPDATE SET value = EXCLUDED.value`,
      [scope.tenantId, name, version, tags.map((t) => t.key), tags.map((t) => t.value)],
    );
  };

  /**
   * Adds {name, version} to the logged model's `mlflow.modelVersions` tag (a JSON list), unless listed:
   * MLflow's server does it when a version is created with a model id (set_model_versions_tags). The
   * model row is locked first, so concurrent registrations of one model do not lose each other's entry.
   */
  const addModelVersionsTag = async (tx: Queryable, scope: TrackingScope, modelId: string, name: string, version: number): Promise<void> => {
    await tx.query('SELECT 1 FROM logged_models WHERE id = $1 FOR UPDATE', [modelId]);
    const current = (await tx.query<{ value: string }>('SELECT value FROM logged_model_tags WHERE model_id = $1 AND key = $2', [modelId, MODEL_VERSIONS_TAG]))
      .rows[0]?.value;
    let listed: unknown[] = [];
    try {
      const parsed: unknown = current === undefined ? [] : JSON.parse(current);
      listed = Array.isArray(parsed) ? parsed : [];
    } catch {
      listed = [];
    }
    const entry = { name, version: String(version) };
    if (listed.some((e) => typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name && String((e as { version?: unknown }).version) === entry.version)) return;
    await tx.query(
      `INSERT INTO logged_model_tags (tenant_id, model_id, key, value) VALUES ($1::uuid, $2, $3, $4)
       ON CONFLICT (tenant_id, model_id, key) DO UPDATE SET value = EXCLUDED.value`,
      [scope.tenantId, modelId, MODEL_VERSIONS_TAG, JSON.stringify([...listed, entry])],
    );
  };

  const parseStage = (stage: unknown) => {
    const canonical = typeof stage === 'string' ? canonicalStage(stage) : undefined;
    if (canonical === undefined) throw registryErrors.invalidStage(stage);
    return canonical;
  };

  return {
    async createRegisteredModel(scope: TrackingScope, input: { name?: unknown; tags?: unknown; description?: unknown }): Promise<RegisteredModelJson> {
      const name = validateModelName(input.name);
      const tags = asList<KeyValueInput>('tags', input.tags).map((t) => validateRegisteredModelTag(t ?? {}));
      const description = optionalString('description', input.description) ?? '';
      return withTenant(db, scope.tenantId, async (tx) => {
        const t = now();
        const inserted = await tx.query(
          `INSERT INTO registered_models (tenant_id, name, creation_time, last_updated_time, description, user_id)
           VALUES ($1::uuid, $2, $3, $3, $4, $5) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING name`,
          [scope.tenantId, name, t, description, scope.actor],
        );
        if (inserted.rows.length === 0) throw registryErrors.modelExists(name);
        await upsertModelTags(tx, scope, name, tags);
        await audit(tx, scope, 'models.registered_model.create', `model:${name}`);
        return registeredModelJson(await getModelIn(tx, name));
      });
    },

    async getRegisteredModel(scope: TrackingScope, rawName: unknown): Promise<RegisteredModelJson> {
      const name = validateModelName(rawName);
      return withTenant(db, scope.tenantId, async (tx) => registeredModelJson(await getModelIn(tx, name)), { readOnly: true });
    },

    async renameRegisteredModel(scope: TrackingScope, input: { name?: unknown; new_name?: unknown }): Promise<RegisteredModelJson> {
      const name = validateModelName(input.name);
      const newName = validateModelName(input.new_name, 'new_name');
      return withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        if (newName !== name) {
          const taken = await tx.query('SELECT 1 FROM registered_models WHERE name = $1', [newName]);
          if (taken.rows.length > 0) throw registryErrors.modelExists(newName);
          // Tags, versions, version tags and aliases follow through ON UPDATE CASCADE.
          await tx.query('UPDATE registered_models SET name = $2, last_updated_time = $3 WHERE name = $1', [name, newName, now()]);
          await audit(tx, scope, 'models.registered_model.rename', `model:${newName}`, { from: name });
        }
        return registeredModelJson(await getModelIn(tx, newName));
      });
    },

    async updateRegisteredModel(scope: TrackingScope, input: { name?: unknown; description?: unknown }): Promise<RegisteredModelJson> {
      const name = validateModelName(input.name);
      const description = optionalString('description', input.description);
      return withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        if (description !== undefined) {
          await tx.query('UPDATE registered_models SET description = $2, last_updated_time = $3 WHERE name = $1', [name, description, now()]);
          await audit(tx, scope, 'models.registered_model.update', `model:${name}`);
        }
        return registeredModelJson(await getModelIn(tx, name));
      });
    },

    async deleteRegisteredModel(scope: TrackingScope, rawName: unknown): Promise<void> {
      const name = validateModelName(rawName);
      await withTenant(db, scope.tenantId, async (tx) => {
        const deleted = await tx.query('DELETE FROM registered_models WHERE name = $1', [name]);
        if (deleted.rowCount === 0) throw registryErrors.modelNotFound(name);
        await audit(tx, scope, 'models.registered_model.delete', `model:${name}`);
      });
    },

    /** One keyset page of the tenant's registered models (modelSearchStatement). */
    async searchRegisteredModels(scope: TrackingScope, input: RegistrySearchInput): Promise<Page<RegisteredModelJson>> {
      const statement = modelSearchStatement(scope.tenantId, input);
      await statistics.refreshIfDue();
      return withTenant(db, scope.tenantId, async (tx) => {
        const page = keysetPage(statement, (await tx.query<RegisteredModelRow>(statement.sql, statement.params)).rows);
        return { items: page.rows.map(registeredModelJson), nextPageToken: page.nextPageToken };
      }, { readOnly: true, heavy: true });
    },

    async setRegisteredModelTag(scope: TrackingScope, input: { name?: unknown; key?: unknown; value?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const tag = validateRegisteredModelTag({ key: input.key, value: input.value });
      await withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        await upsertModelTags(tx, scope, name, [tag]);
        await touchModel(tx, name, now());
        await audit(tx, scope, 'models.registered_model.set_tag', `model:${name}`, { key: tag.key });
      });
    },

    async deleteRegisteredModelTag(scope: TrackingScope, input: { name?: unknown; key?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const key = validateTagName(input.key);
      await withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        const deleted = await tx.query('DELETE FROM registered_model_tags WHERE name = $1 AND key = $2', [name, key]);
        if (deleted.rowCount > 0) await audit(tx, scope, 'models.registered_model.delete_tag', `model:${name}`, { key });
      });
    },

    async setAlias(scope: TrackingScope, input: { name?: unknown; alias?: unknown; version?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const alias = validateModelAliasName(input.alias);
      const version = validateModelVersion(input.version);
      await withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        await getVersionIn(tx, name, version);
        await tx.query(
          `INSERT INTO registered_model_aliases (tenant_id, name, alias, version) VALUES ($1::uuid, $2, $3, $4)
           ON CONFLICT (tenant_id, name, alias) DO UPDATE SET version = EXCLUDED.version`,
          [scope.tenantId, name, alias, version],
        );
        await touchModel(tx, name, now());
        await audit(tx, scope, 'models.alias.set', `model:${name}`, { alias, version });
      });
    },

    async deleteAlias(scope: TrackingScope, input: { name?: unknown; alias?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const alias = validateModelAliasName(input.alias);
      await withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        const deleted = await tx.query('DELETE FROM registered_model_aliases WHERE name = $1 AND alias = $2', [name, alias]);
        if (deleted.rowCount > 0) await audit(tx, scope, 'models.alias.delete', `model:${name}`, { alias });
      });
    },

    async getVersionByAlias(scope: TrackingScope, input: { name?: unknown; alias?: unknown }): Promise<ModelVersionJson> {
      const name = validateModelName(input.name);
      const alias = typeof input.alias === 'string' ? input.alias : '';
      return withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        const row = (await tx.query<ModelVersionRow>(
          `${VERSION_SELECT} JOIN registered_model_aliases x ON x.tenant_id = v.tenant_id AND x.name = v.name AND x.version = v.version
            WHERE x.name = $1 AND x.alias = $2`,
          [name, alias],
        )).rows[0];
        if (row === undefined) throw mlflowErrors.notFound(`Registered model alias ${alias.slice(0, 255)} not found.`);
        return modelVersionJson(row);
      }, { readOnly: true });
    },

    async getLatestVersions(scope: TrackingScope, input: { name?: unknown; stages?: unknown }): Promise<ModelVersionJson[]> {
      const name = validateModelName(input.name);
      const rawStages = typeof input.stages === 'string' ? [input.stages] : asList<unknown>('stages', input.stages);
      const stages = rawStages.map(parseStage);
      return withTenant(db, scope.tenantId, async (tx) => {
        await getModelIn(tx, name);
        const { rows } = await tx.query<ModelVersionRow>(
          `SELECT * FROM (${VERSION_SELECT.replace('SELECT v.name', 'SELECT DISTINCT ON (v.current_stage) v.name')}
             WHERE v.name = $1 AND ($2::text[] IS NULL OR v.current_stage = ANY($2::text[]))
             ORDER BY v.current_stage, v.version DESC) s ORDER BY s.version`,
          [name, stages.length === 0 ? null : stages],
        );
        return rows.map(modelVersionJson);
      }, { readOnly: true });
    },

    /**
     * model-versions/create. MLflow 3: a `model_id` (or a `models:/<model_id>` source) registers a logged
     * model — it must be an active logged model of the tenant (RESOURCE_DOES_NOT_EXIST otherwise); the
     * version records the model id, takes the model's source run as `run_id` when none is given, stores
     * the model's artifact location as where to download it from (get-download-uri), and the model's
     * `mlflow.modelVersions` tag lists the new version (as MLflow's server does).
     */
    async createModelVersion(
      scope: TrackingScope,
      input: { name?: unknown; source?: unknown; run_id?: unknown; tags?: unknown; run_link?: unknown; description?: unknown; model_id?: unknown },
    ): Promise<ModelVersionJson> {
      const name = validateModelName(input.name);
      const source = optionalString('source', input.source);
      if (source === undefined || source === '') throw mlflowErrors.invalidParameter("Missing value for required parameter 'source'.");
      if (!ALLOWED_SOURCE.test(source) || source.split('/').includes('..')) {
        throw mlflowErrors.invalidParameter(
          `Invalid model version source: '${source.slice(0, 200)}'. Use a runs:/, models:/ or mlflow-artifacts:/ URI (local paths are not accepted by this server).`,
        );
      }
      const requestedRunId = optionalString('run_id', input.run_id) || undefined;
      const sourceRunId = runIdOfSource(source);
      const fromSource = loggedModelOfSource(source);
      const givenModelId = optionalString('model_id', input.model_id) || undefined;
      if (givenModelId !== undefined && fromSource !== undefined && fromSource.modelId !== givenModelId) {
        throw mlflowErrors.invalidParameter(`The model_id '${givenModelId.slice(0, 100)}' differs from the logged model of the source '${source.slice(0, 200)}'.`);
      }
      const modelId = givenModelId ?? fromSource?.modelId;
      const runLink = optionalString('run_link', input.run_link) ?? '';
      const description = optionalString('description', input.description) ?? '';
      const tags = asList<KeyValueInput>('tags', input.tags).map((t) => validateModelVersionTag(t ?? {}));
      return withTenant(db, scope.tenantId, async (tx) => {
        // A logged model named by the request must be the tenant's own, like runs below.
        let storageLocation: string | undefined;
        let modelRunId: string | undefined;
        if (modelId !== undefined) {
          const model = (await tx.query<{ artifact_location: string; source_run_id: string | null }>(
            `SELECT artifact_location, source_run_id FROM logged_models WHERE id = $1 AND lifecycle_stage = 'active'`, [modelId],
          )).rows[0];
          if (model === undefined) throw trackingErrors.loggedModelNotFound(modelId);
          const subPath = fromSource?.path.replace(/^\/+|\/+$/g, '') ?? '';
          storageLocation = subPath === '' ? model.artifact_location : `${model.artifact_location.replace(/\/+$/, '')}/${subPath}`;
          modelRunId = model.source_run_id ?? undefined;
        }
        const runId = requestedRunId ?? modelRunId;
        // Runs named by the request must be the tenant's own: another tenant's run id is simply unknown.
        for (const id of new Set([requestedRunId, sourceRunId].filter((x): x is string => x !== undefined))) {
          const found = await tx.query('SELECT 1 FROM runs WHERE id = $1', [id]);
          if (found.rows.length === 0) throw mlflowErrors.notFound(`Run with id=${id.slice(0, 100)} not found`);
        }
        const t = now();
        const allocated = await tx.query<{ version: number }>(
          'UPDATE registered_models SET next_version = next_version + 1, last_updated_time = $2 WHERE name = $1 RETURNING next_version - 1 AS version',
          [name, t],
        );
        const version = allocated.rows[0]?.version;
        if (version === undefined) throw registryErrors.modelNotFound(name);
        await tx.query(
          `INSERT INTO model_versions (tenant_id, name, version, creation_time, last_updated_time, description, user_id, source, run_id, run_link,
                                       model_id, storage_location)
           VALUES ($1::uuid, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [scope.tenantId, name, version, t, description, scope.actor, source, runId ?? sourceRunId ?? null, runLink, modelId ?? null, storageLocation ?? null],
        );
        await upsertVersionTags(tx, scope, name, version, tags);
        if (modelId !== undefined) await addModelVersionsTag(tx, scope, modelId, name, version);
        await audit(tx, scope, 'models.version.create', `model:${name}/${version}`, {
          source, ...(runId === undefined ? {} : { runId }), ...(modelId === undefined ? {} : { modelId }),
        });
        return modelVersionJson(await getVersionIn(tx, name, version));
      });
    },

    /**
     * One model version: the tenant's own, or — when the name is owner-qualified (`{owner}/{name}`, issue
     * 15) and no own model has that name — a version another tenant shared with this one. Anything not
     * shared is RESOURCE_DOES_NOT_EXIST, word for word as a missing version.
     */
    async getModelVersion(scope: TrackingScope, input: { name?: unknown; version?: unknown }): Promise<ModelVersionJson> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      const own = await withTenant(db, scope.tenantId, async (tx) =>
        (await tx.query<ModelVersionRow>(`${VERSION_SELECT} WHERE v.name = $1 AND v.version = $2`, [name, version])).rows[0], { readOnly: true });
      if (own !== undefined) return modelVersionJson(own);
      const shared = await readSharedVersion(scope, name, version);
      if (shared === undefined) throw registryErrors.versionNotFound(name, version);
      return shared;
    },

    async updateModelVersion(scope: TrackingScope, input: { name?: unknown; version?: unknown; description?: unknown }): Promise<ModelVersionJson> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      const description = optionalString('description', input.description);
      return withTenant(db, scope.tenantId, async (tx) => {
        await getVersionIn(tx, name, version);
        if (description !== undefined) {
          await tx.query('UPDATE model_versions SET description = $3, last_updated_time = $4 WHERE name = $1 AND version = $2', [name, version, description, now()]);
          await audit(tx, scope, 'models.version.update', `model:${name}/${version}`);
        }
        return modelVersionJson(await getVersionIn(tx, name, version));
      });
    },

    async transitionStage(
      scope: TrackingScope,
      input: { name?: unknown; version?: unknown; stage?: unknown; archive_existing_versions?: unknown },
    ): Promise<ModelVersionJson> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      const stage = parseStage(input.stage);
      const archive = input.archive_existing_versions === true || input.archive_existing_versions === 'true';
      if (archive && stage !== 'Staging' && stage !== 'Production') {
        throw mlflowErrors.invalidParameter(
          `Model version transition cannot archive existing model versions because '${stage}' is not an Active stage. Valid active stages are Staging, Production`,
        );
      }
      return withTenant(db, scope.tenantId, async (tx) => {
        await getVersionIn(tx, name, version);
        const t = now();
        await tx.query('UPDATE model_versions SET current_stage = $3, last_updated_time = $4 WHERE name = $1 AND version = $2', [name, version, stage, t]);
        if (archive) {
          await tx.query(
            `UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $4 WHERE name = $1 AND version <> $2 AND current_stage = $3`,
            [name, version, stage, t],
          );
        }
        await touchModel(tx, name, t);
        await audit(tx, scope, 'models.version.transition_stage', `model:${name}/${version}`, { stage, archiveExisting: archive });
        return modelVersionJson(await getVersionIn(tx, name, version));
      });
    },

    async deleteModelVersion(scope: TrackingScope, input: { name?: unknown; version?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      await withTenant(db, scope.tenantId, async (tx) => {
        // Aliases and tags of the version go with it (ON DELETE CASCADE); its number is never reused.
        const deleted = await tx.query('DELETE FROM model_versions WHERE name = $1 AND version = $2', [name, version]);
        if (deleted.rowCount === 0) throw registryErrors.versionNotFound(name, version);
        await touchModel(tx, name, now());
        await audit(tx, scope, 'models.version.delete', `model:${name}/${version}`);
      });
    },

    /** One keyset page of the tenant's model versions (versionSearchStatement). */
    async searchModelVersions(scope: TrackingScope, input: RegistrySearchInput): Promise<Page<ModelVersionJson>> {
      const statement = versionSearchStatement(scope.tenantId, input);
      await statistics.refreshIfDue();
      return withTenant(db, scope.tenantId, async (tx) => {
        const page = keysetPage(statement, (await tx.query<ModelVersionRow>(statement.sql, statement.params)).rows);
        return { items: page.rows.map(modelVersionJson), nextPageToken: page.nextPageToken };
      }, { readOnly: true, heavy: true });
    },

    async getDownloadUri(scope: TrackingScope, input: { name?: unknown; version?: unknown }): Promise<string> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      // A version registered from a logged model downloads from the model's artifacts (MLflow's storage_location).
      return withTenant(db, scope.tenantId, async (tx) => {
        const row = await getVersionIn(tx, name, version);
        return row.storage_location ?? row.source;
      }, { readOnly: true });
    },

    async setModelVersionTag(scope: TrackingScope, input: { name?: unknown; version?: unknown; key?: unknown; value?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      const tag = validateModelVersionTag({ key: input.key, value: input.value });
      await withTenant(db, scope.tenantId, async (tx) => {
        await getVersionIn(tx, name, version);
        await upsertVersionTags(tx, scope, name, version, [tag]);
        await audit(tx, scope, 'models.version.set_tag', `model:${name}/${version}`, { key: tag.key });
      });
    },

    async deleteModelVersionTag(scope: TrackingScope, input: { name?: unknown; version?: unknown; key?: unknown }): Promise<void> {
      const name = validateModelName(input.name);
      const version = validateModelVersion(input.version);
      const key = validateTagName(input.key);
      await withTenant(db, scope.tenantId, async (tx) => {
        await getVersionIn(tx, name, version);
        const deleted = await tx.query('DELETE FROM model_version_tags WHERE name = $1 AND version = $2 AND key = $3', [name, version, key]);
        if (deleted.rowCount > 0) await audit(tx, scope, 'models.version.delete_tag', `model:${name}/${version}`, { key });
      });
    },
  };
};
