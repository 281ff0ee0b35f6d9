import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Action } from '../../authz/index.ts';
import { requestRunId, validateBatchRequestSize } from '../../tracking/index.ts';
import type { LoggedModelService, RegistryService, TrackingScope, TrackingService } from '../../tracking/index.ts';
import { encodeJsonInSlices } from '../json-slices.ts';
import { requirePrincipal, requireTenant } from '../route-config.ts';

export interface MlflowRouteDeps {
  tracking: TrackingService;
  registry: RegistryService;
  loggedModels: LoggedModelService;
}

/** MLflow's REST API is served under both prefixes: the clients use the first, MLflow's web UI the second. */
export const mlflowPrefixes = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow'] as const;

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Input = Record<string, unknown>;
type Handler = (input: Input, scope: TrackingScope, request: FastifyRequest) => Promise<unknown>;

const scopeOf = (request: FastifyRequest): TrackingScope => ({
  tenantId: requireTenant(request.tenant).id,
  actor: requirePrincipal(request.principal).label,
  requestId: String(request.id),
});

/** GET fields arrive as query parameters, the others as a JSON body (MLflow's server does the same). */
const inputOf = (request: FastifyRequest): Input => {
  const source = request.method === 'GET' ? request.query : request.body;
  return source !== null && typeof source === 'object' && !Array.isArray(source) ? (source as Input) : {};
};

/** A repeated query parameter arrives as an array, a single one as a string; a JSON body sends a list. */
const list = (value: unknown): string[] | undefined =>
  value === undefined || value === null ? undefined : Array.isArray(value) ? (value as string[]) : [value as string];

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** A path parameter (`:model_id`, `:tag_key`), as Fastify decoded it. */
const pathParam = (request: FastifyRequest, name: string): string => {
  const params = request.params as Record<string, unknown> | undefined;
  const value = params?.[name];
  return typeof value === 'string' ? value : '';
};

const pageJson = <T>(key: string, page: { items: T[]; nextPageToken: string | undefined }) =>
  page.nextPageToken === undefined ? { [key]: page.items } : { [key]: page.items, next_page_token: page.nextPageToken };

/**
 * The MLflow REST API 2.0 (tracking, MLflow 3 logged models and model registry) as the official clients
 * call it (mlflow/protos/service.proto, model_registry.proto, mlflow/server/handlers.py), for the tenant of
 * the caller's token only. Errors are MLflow's `{error_code, message}`. An `X-MLFLOW-WORKSPACE` header
 * (MLflow 3.10+ workspaces) must name the token's tenant (checked in the auth hook for every MLflow-format
 * route); any other value answers RESOURCE_DOES_NOT_EXIST, the same as a workspace that does not exist.
 */
export const mlflowRoutes = (deps: MlflowRouteDeps): FastifyPluginAsyncZod => async (app) => {
  const { tracking, registry, loggedModels } = deps;

  const route = (method: Method, path: string, access: Action, summary: string, handler: Handler, nonFiniteFields: readonly string[] = []): void => {
    for (const prefix of mlflowPrefixes) {
      app.route({
        method,
        url: `${prefix}/${path}`,
        config: { access, tenantFrom: 'token', errorFormat: 'mlflow', nonFiniteFields },
        schema: { tags: ['mlflow'], summary, ...(prefix === mlflowPrefixes[0] ? {} : { hide: true }) },
        handler: async (request: FastifyRequest, reply: FastifyReply) => {
          const result = await handler(inputOf(request), scopeOf(request), request);
          // Encoded here, in slices for long lists (a search page, a metric history), so that one tenant's
          // large answer does not hold the shared thread in one piece.
          return reply.type('application/json').send(await encodeJsonInSlices(result ?? {}));
        },
      });
    }
  };

  const searchInput = (input: Input) => ({
    filter: str(input['filter']),
    orderBy: list(input['order_by']),
    maxResults: input['max_results'],
    pageToken: str(input['page_token']),
  });

  // ----- experiments -----
  route('POST', 'experiments/create', 'tracking.write', 'Create an experiment', async (input, scope) =>
    ({ experiment_id: await tracking.createExperiment(scope, input) }));
  route('GET', 'experiments/get', 'tracking.read', 'Get an experiment', async (input, scope) =>
    ({ experiment: await tracking.getExperiment(scope, input['experiment_id']) }));
  route('GET', 'experiments/get-by-name', 'tracking.read', 'Get an experiment by name', async (input, scope) =>
    ({ experiment: await tracking.getExperimentByName(scope, input['experiment_name']) }));
  for (const method of ['POST', 'GET'] as const) {
    route(method, 'experiments/search', 'tracking.read', 'Search experiments', async (input, scope) =>
      pageJson('experiments', await tracking.searchExperiments(scope, { ...searchInput(input), viewType: input['view_type'] })));
  }
  // MLflow 1.x's list endpoint (removed in 2.0), still called by the npm `mlflow` client.
  route('GET', 'experiments/list', 'tracking.read', 'List experiments (MLflow 1.x)', async (input, scope) =>
    pageJson('experiments', await tracking.searchExperiments(scope, { viewType: input['view_type'], maxResults: input['max_results'], pageToken: str(input['page_token']) })));
  route('POST', 'experiments/update', 'tracking.write', 'Rename an experiment', async (input, scope) => tracking.updateExperiment(scope, input));
  route('POST', 'experiments/delete', 'tracking.write', 'Delete an experiment', async (input, scope) => tracking.deleteExperiment(scope, input['experiment_id']));
  route('POST', 'experiments/restore', 'tracking.write', 'Restore an experiment', async (input, scope) => tracking.restoreExperiment(scope, input['experiment_id']));
  route('POST', 'experiments/set-experiment-tag', 'tracking.write', 'Set an experiment tag', async (input, scope) => tracking.setExperimentTag(scope, input));

  // ----- runs -----
  route('POST', 'runs/create', 'tracking.write', 'Create a run', async (input, scope) => ({ run: await tracking.createRun(scope, input) }));
  route('GET', 'runs/get', 'tracking.read', 'Get a run', async (input, scope) => ({ run: await tracking.getRun(scope, requestRunId(input)) }));
  route('POST', 'runs/update', 'tracking.write', 'Update a run', async (input, scope) => ({ run_info: await tracking.updateRun(scope, requestRunId(input), input) }));
  route('POST', 'runs/delete', 'tracking.write', 'Delete a run', async (input, scope) => tracking.deleteRun(scope, requestRunId(input)));
  route('POST', 'runs/restore', 'tracking.write', 'Restore a run', async (input, scope) => tracking.restoreRun(scope, requestRunId(input)));
  for (const method of ['POST', 'GET'] as const) {
    route(method, 'runs/search', 'tracking.read', 'Search runs', async (input, scope) =>
      pageJson('runs', await tracking.searchRuns(scope, { ...searchInput(input), viewType: input['run_view_type'], experimentIds: list(input['experiment_ids']) ?? [] })));
  }
  route('POST', 'runs/set-tag', 'tracking.write', 'Set a run tag', async (input, scope) => tracking.setTag(scope, requestRunId(input), input));
  route('POST', 'runs/delete-tag', 'tracking.write', 'Delete a run tag', async (input, scope) => tracking.deleteTag(scope, requestRunId(input), input['key']));
  route('POST', 'runs/log-parameter', 'tracking.write', 'Log a parameter', async (input, scope) => tracking.logParam(scope, requestRunId(input), input));
  // NaN and ±Infinity are valid metric values in MLflow (JSON can carry ±Infinity as 1e309).
  route('POST', 'runs/log-metric', 'tracking.write', 'Log a metric point', async (input, scope) => tracking.logMetric(scope, requestRunId(input), input), ['value']);
  route('POST', 'runs/log-batch', 'tracking.write', 'Log metrics, params and tags in one batch', async (input, scope, request) => {
    const length = Number(request.headers['content-length'] ?? 0);
    if (Number.isFinite(length)) validateBatchRequestSize(length);
    return tracking.logBatch(scope, requestRunId(input), input);
  }, ['metrics.*.value']);
  route('POST', 'runs/log-inputs', 'tracking.write', 'Log dataset and logged-model inputs', async (input, scope) =>
    tracking.logInputs(scope, requestRunId(input), input['datasets'], input['models']));
  route('POST', 'runs/outputs', 'tracking.write', 'Log the logged models a run produced', async (input, scope) =>
    loggedModels.logOutputs(scope, requestRunId(input), input));

  // ----- logged models (MLflow 3; the model id is in the path, as the client's rest_store sends it) -----
  route('POST', 'logged-models', 'tracking.write', 'Create a logged model', async (input, scope) =>
    ({ model: await loggedModels.createLoggedModel(scope, input) }));
  route('POST', 'logged-models/search', 'tracking.read', 'Search logged models', async (input, scope) =>
    pageJson('models', await loggedModels.searchLoggedModels(scope, input)));
  route('GET', 'logged-models/:model_id', 'tracking.read', 'Get a logged model', async (_input, scope, request) =>
    ({ model: await loggedModels.getLoggedModel(scope, pathParam(request, 'model_id')) }));
  route('PATCH', 'logged-models/:model_id', 'tracking.write', 'Finalize a logged model', async (input, scope, request) =>
    ({ model: await loggedModels.finalizeLoggedModel(scope, pathParam(request, 'model_id'), input) }));
  route('DELETE', 'logged-models/:model_id', 'tracking.write', 'Delete a logged model', async (_input, scope, request) =>
    loggedModels.deleteLoggedModel(scope, pathParam(request, 'model_id')));
  route('PATCH', 'logged-models/:model_id/tags', 'tracking.write', 'Set logged model tags', async (input, scope, request) =>
    loggedModels.setLoggedModelTags(scope, pathParam(request, 'model_id'), input));
  route('DELETE', 'logged-models/:model_id/tags/:tag_key', 'tracking.write', 'Delete a logged model tag', async (_input, scope, request) =>
    loggedModels.deleteLoggedModelTag(scope, pathParam(request, 'model_id'), pathParam(request, 'tag_key')));
  route('POST', 'logged-models/:model_id/params', 'tracking.write', 'Log logged model params', async (input, scope, request) =>
    loggedModels.logLoggedModelParams(scope, pathParam(request, 'model_id'), input));

  // ----- metrics -----
  route('GET', 'metrics/get-history', 'tracking.read', 'Get the history of a metric', async (input, scope) =>
    pageJson('metrics', await tracking.getMetricHistory(scope, requestRunId(input), input['metric_key'], { maxResults: input['max_results'], pageToken: str(input['page_token']) })));
  route('GET', 'metrics/get-history-bulk-interval', 'tracking.read', 'Get one metric of several runs over a step interval', async (input, scope) => ({
    metrics: await tracking.getMetricHistoryBulkInterval(scope, {
      runIds: input['run_ids'], metricKey: input['metric_key'], startStep: input['start_step'], endStep: input['end_step'], maxResults: input['max_results'],
    }),
  }));

  // ----- registered models -----
  route('POST', 'registered-models/create', 'models.write', 'Create a registered model', async (input, scope) =>
    ({ registered_model: await registry.createRegisteredModel(scope, input) }));
  route('GET', 'registered-models/get', 'models.read', 'Get a registered model', async (input, scope) =>
    ({ registered_model: await registry.getRegisteredModel(scope, input['name']) }));
  route('POST', 'registered-models/rename', 'models.write', 'Rename a registered model', async (input, scope) =>
    ({ registered_model: await registry.renameRegisteredModel(scope, input) }));
  route('PATCH', 'registered-models/update', 'models.write', 'Update a registered model', async (input, scope) =>
    ({ registered_model: await registry.updateRegisteredModel(scope, input) }));
  route('DELETE', 'registered-models/delete', 'models.write', 'Delete a registered model', async (input, scope) => registry.deleteRegisteredModel(scope, input['name']));
  route('GET', 'registered-models/search', 'models.read', 'Search registered models', async (input, scope) =>
    pageJson('registered_models', await registry.searchRegisteredModels(scope, searchInput(input))));
  for (const method of ['POST', 'GET'] as const) {
    route(method, 'registered-models/get-latest-versions', 'models.read', 'Latest version per stage', async (input, scope) =>
      ({ model_versions: await registry.getLatestVersions(scope, { name: input['name'], stages: list(input['stages']) }) }));
  }
  route('POST', 'registered-models/set-tag', 'models.write', 'Set a registered model tag', async (input, scope) => registry.setRegisteredModelTag(scope, input));
  route('DELETE', 'registered-models/delete-tag', 'models.write', 'Delete a registered model tag', async (input, scope) => registry.deleteRegisteredModelTag(scope, input));
  route('POST', 'registered-models/alias', 'models.write', 'Set an alias', async (input, scope) => registry.setAlias(scope, input));
  route('DELETE', 'registered-models/alias', 'models.write', 'Delete an alias', async (input, scope) => registry.deleteAlias(scope, input));
  route('GET', 'registered-models/alias', 'models.read', 'Get a model version by alias', async (input, scope) =>
    ({ model_version: await registry.getVersionByAlias(scope, input) }));

  // ----- model versions -----
  route('POST', 'model-versions/create', 'models.write', 'Create a model version', async (input, scope) =>
    ({ model_version: await registry.createModelVersion(scope, input) }));
  route('GET', 'model-versions/get', 'models.read', 'Get a model version', async (input, scope) => ({ model_version: await registry.getModelVersion(scope, input) }));
  route('PATCH', 'model-versions/update', 'models.write', 'Update a model version', async (input, scope) =>
    ({ model_version: await registry.updateModelVersion(scope, input) }));
  route('POST', 'model-versions/transition-stage', 'models.write', 'Transition a model version to a stage', async (input, scope) =>
    ({ model_version: await registry.transitionStage(scope, input) }));
  route('DELETE', 'model-versions/delete', 'models.write', 'Delete a model version', async (input, scope) => registry.deleteModelVersion(scope, input));
  route('GET', 'model-versions/search', 'models.read', 'Search model versions', async (input, scope) =>
    pageJson('model_versions', await registry.searchModelVersions(scope, searchInput(input))));
  route('GET', 'model-versions/get-download-uri', 'models.read', 'Where to download a model version from', async (input, scope) =>
    ({ artifact_uri: await registry.getDownloadUri(scope, input) }));
  route('POST', 'model-versions/set-tag', 'models.write', 'Set a model version tag', async (input, scope) => registry.setModelVersionTag(scope, input));
  route('DELETE', 'model-versions/delete-tag', 'models.write', 'Delete a model version tag', async (input, scope) => registry.deleteModelVersionTag(scope, input));
};
