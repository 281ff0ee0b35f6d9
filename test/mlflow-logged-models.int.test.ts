/**
 * MLflow 3 logged models through the REST API, on PGlite and PostgreSQL, with requests shaped exactly as
 * the official Python client sends them: mlflow/store/tracking/rest_store.py (create_logged_model,
 * get_logged_model, finalize_logged_model, delete_logged_model, search_logged_models,
 * set_logged_model_tags, delete_logged_model_tag, log_logged_model_params, log_outputs, log_batch and
 * log_metric with `model_id`), mlflow/store/model_registry/rest_store.py (create_model_version with
 * `model_id`), and the sequence mlflow/models/model.py `Model.log` runs for `mlflow.<flavor>.log_model`
 * (create → runs/outputs → log-batch of the step's metrics with the model id → artifact upload to the
 * model's `artifact_uri` → finalize READY → register `models:/<model_id>`). Encoding rules as in
 * test/support/mlflow-http.ts: `message_to_json` omits unset fields and empty lists, enums are their
 * names; the model id travels in the path (`get_logged_model_endpoint`), GET and tag-DELETE have no body.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withSystem } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { errorCode, mlflowHttp } from './support/mlflow-http.ts';
import type { MlflowHttp, MlflowResponse } from './support/mlflow-http.ts';

const ok = (response: MlflowResponse, what: string) => {
  assert.equal(response.status, 200, `${what}: ${JSON.stringify(response.body)}`);
  return response.body;
};

const MODEL_ID = /^m-[0-9a-f]{32}$/;

for (const kind of databaseKinds) {
  describe(`MLflow 3 logged models on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;
    let apiA: MlflowHttp;
    let apiB: MlflowHttp;

    /** PUT/GET/list through the proxied-artifact API (mlflow/store/artifact/http_artifact_repo.py). */
    const artifacts = (token: string) => ({
      put: (path: string, body: string) => p.app.inject({
        method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: body,
      }),
      get: (path: string) => p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${path}`, headers: { authorization: `Bearer ${token}` } }),
      list: async (path: string) => {
        const response = await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(path)}`, headers: { authorization: `Bearer ${token}` } });
        return ((JSON.parse(response.body) as { files?: { path: string }[] }).files ?? []).map((f) => f.path);
      },
    });

    /** The artifact API path of an `mlflow-artifacts:/` URI (how MlflowArtifactsRepository resolves it). */
    const artifactPath = (uri: string): string => {
      assert.match(uri, /^mlflow-artifacts:\//);
      return uri.slice('mlflow-artifacts:/'.length).replace(/^\/+/, '');
    };

    const createExperiment = async (api: MlflowHttp, name: string): Promise<string> =>
      ok(await api.post('experiments/create', { name }), `experiment ${name}`).experiment_id as string;

    const createRun = async (api: MlflowHttp, experimentId: string): Promise<string> =>
      ok(await api.post('runs/create', { experiment_id: experimentId, start_time: 1_700_000_000_000, tags: [] }), 'run').run.info.run_id as string;

    // RestStore.create_logged_model → POST logged-models {experiment_id, name, model_type, source_run_id, params, tags}
    const createModel = async (api: MlflowHttp, body: Record<string, unknown>) => ok(await api.post('logged-models', body), 'create logged model').model;

    // RestStore.finalize_logged_model → PATCH logged-models/{model_id} {model_id, status}
    const finalize = (api: MlflowHttp, modelId: string, status: unknown) => api.patch(`logged-models/${modelId}`, { model_id: modelId, status });

    const auditActions = async (tenant: TestTenant) => withSystem(p.database.owner, async (tx) =>
      (await tx.query<{ action: string; target: string }>(
        `SELECT action, target FROM audit_events WHERE tenant_id = $1 AND action LIKE 'tracking.logged_model.%' ORDER BY id`, [tenant.id],
      )).rows.map((r) => [r.action, r.target]));

    before(async () => {
      p = await createTestPlatform(kind);
      a = await p.createTenant('lm-alpha');
      b = await p.createTenant('lm-beta');
      apiA = mlflowHttp(p, a.tokens.member);
      apiB = mlflowHttp(p, b.tokens.member);
    });
    after(async () => p.close());

    test('log_model: create → run output → model metrics → artifact upload → finalize READY → get → register models:/<id>', async () => {
      const experimentId = await createExperiment(apiA, 'lm-flow');
      const runId = await createRun(apiA, experimentId);
      ok(await apiA.post('runs/log-batch', { run_id: runId, params: [{ key: 'lr', value: '0.1' }], metrics: [{ key: 'acc', value: 0.91, timestamp: 1000, step: 0 }] }), 'run data');

      const created = await createModel(apiA, {
        experiment_id: experimentId,
        name: 'model',
        source_run_id: runId,
        params: [{ key: 'lr', value: '0.1' }],
        tags: [{ key: 'mlflow.user', value: 'alice' }, { key: 'mlflow.source.name', value: 'train.py' }],
      });
      const modelId = created.info.model_id as string;
      assert.match(modelId, MODEL_ID);
      assert.equal(created.info.experiment_id, experimentId);
      assert.equal(created.info.name, 'model');
      assert.equal(created.info.status, 'LOGGED_MODEL_PENDING');
      assert.equal(created.info.source_run_id, runId);
      assert.equal(created.info.artifact_uri, `mlflow-artifacts:/${experimentId}/models/${modelId}/artifacts`);
      assert.equal(created.info.creation_timestamp_ms, created.info.last_updated_timestamp_ms);
      assert.deepEqual(created.info.tags, [{ key: 'mlflow.source.name', value: 'train.py' }, { key: 'mlflow.user', value: 'alice' }]);
      assert.deepEqual(created.data, { params: [{ key: 'lr', value: '0.1' }], metrics: [] });

      // RestStore.log_outputs → POST runs/outputs {run_id, models: [{model_id, step}]}
      ok(await apiA.post('runs/outputs', { run_id: runId, models: [{ model_id: modelId, step: 0 }] }), 'log outputs');
      // Model.log's log_model_metrics_for_step → RestStore.log_batch with the step's metrics carrying model_id
      // (Metric.to_proto: key, value, timestamp, step, model_id, run_id; dataset fields when set).
      ok(await apiA.post('runs/log-batch', {
        run_id: runId,
        metrics: [{ key: 'acc', value: 0.91, timestamp: 1000, step: 0, model_id: modelId, run_id: runId }],
      }), 'log-batch with model_id');
      // RestStore.log_metric with the MLflow 3 fields.
      ok(await apiA.post('runs/log-metric', {
        run_uuid: runId, run_id: runId, key: 'f1', value: 'NaN', timestamp: 1001, step: 0, model_id: modelId, dataset_name: 'holdout', dataset_digest: 'd1g',
      }), 'log-metric with model_id');

      // MlflowClient.log_model_artifacts: the client uploads to the model's artifact_uri through the
      // proxied-artifact API (mlflow-artifacts:/<path> → PUT /api/2.0/mlflow-artifacts/artifacts/<path>/<file>).
      const root = artifactPath(created.info.artifact_uri);
      assert.equal((await artifacts(a.tokens.member).put(`${root}/MLmodel`, 'flavors: {}\n')).statusCode, 200);
      assert.equal((await artifacts(a.tokens.member).put(`${root}/model.pkl`, 'weights')).statusCode, 200);
      assert.deepEqual((await artifacts(a.tokens.member).list(root)).sort(), ['MLmodel', 'model.pkl']);

      const finalized = ok(await finalize(apiA, modelId, 'LOGGED_MODEL_READY'), 'finalize').model;
      assert.equal(finalized.info.status, 'LOGGED_MODEL_READY');
      assert.ok(finalized.info.last_updated_timestamp_ms >= created.info.last_updated_timestamp_ms);

      // RestStore.get_logged_model → GET logged-models/{model_id}, no query, no body; also under /ajax-api (the UI).
      const got = ok(await apiA.get(`logged-models/${modelId}`), 'get').model;
      assert.equal(got.info.status, 'LOGGED_MODEL_READY');
      assert.deepEqual(got.data.metrics, [
        { key: 'acc', value: 0.91, timestamp: 1000, step: 0, model_id: modelId, run_id: runId },
        { key: 'f1', value: 'NaN', timestamp: 1001, step: 0, model_id: modelId, run_id: runId, dataset_name: 'holdout', dataset_digest: 'd1g' },
      ]);
      assert.deepEqual(ok(await mlflowHttp(p, a.tokens.viewer, '/ajax-api/2.0/mlflow').get(`logged-models/${modelId}`), 'ajax get').model, got);
      // The run's history has the points too (log-batch wrote them as before), and the run lists its output.
      assert.equal(ok(await apiA.get('metrics/get-history', { run_id: runId, metric_key: 'f1' }), 'history').metrics.length, 1);
      const run = ok(await apiA.get('runs/get', { run_uuid: runId, run_id: runId }), 'run').run;
      assert.deepEqual(run.outputs, { model_outputs: [{ model_id: modelId, step: 0 }] });

      // _register_model('models:/<id>') → model-versions/create {name, source, model_id} (run_id unset).
      ok(await apiA.post('registered-models/create', { name: 'churn' }), 'registered model');
      const version = ok(await apiA.post('model-versions/create', { name: 'churn', source: `models:/${modelId}`, model_id: modelId }), 'version').model_version;
      assert.equal(version.version, '1');
      assert.equal(version.model_id, modelId);
      assert.equal(version.source, `models:/${modelId}`);
      assert.equal(version.run_id, runId, 'the logged model\'s source run');
      // get-download-uri answers the model's artifact location, which the artifact API serves.
      const download = ok(await apiA.get('model-versions/get-download-uri', { name: 'churn', version: '1' }), 'download uri').artifact_uri;
      assert.equal(download, created.info.artifact_uri);
      assert.equal((await artifacts(a.tokens.viewer).get(`${artifactPath(download)}/model.pkl`)).body, 'weights');
      const tagged = ok(await apiA.get(`logged-models/${modelId}`), 'get after register').model;
      assert.deepEqual(JSON.parse(tagged.info.tags.find((t: { key: string }) => t.key === 'mlflow.modelVersions').value), [{ name: 'churn', version: '1' }]);
      // A models:/ source alone (no model_id field) names the logged model too; another id does not exist.
      const second = ok(await apiA.post('model-versions/create', { name: 'churn', source: `models:/${modelId}` }), 'version 2').model_version;
      assert.equal(second.model_id, modelId);
      assert.equal(errorCode(await apiA.post('model-versions/create', { name: 'churn', source: `models:/m-${'0'.repeat(32)}` })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.post('model-versions/create', { name: 'churn', source: `models:/${modelId}`, model_id: `m-${'1'.repeat(32)}` })), 'INVALID_PARAMETER_VALUE');

      // mlflow.initialize_logged_model without a name: a generated one, in the Default experiment.
      const unnamed = await createModel(apiA, { experiment_id: '0' });
      assert.match(unnamed.info.name, /^[a-z]+-[a-z]+-\d+$/);
      assert.equal(unnamed.info.artifact_uri, `mlflow-artifacts:/0/models/${unnamed.info.model_id}/artifacts`);
      // FAILED by enum number, as proto JSON also allows.
      assert.equal(ok(await finalize(apiA, unnamed.info.model_id, 3), 'finalize failed').model.info.status, 'LOGGED_MODEL_UPLOAD_FAILED');

      assert.deepEqual((await auditActions(a)).filter(([, target]) => target === `logged_model:${modelId}`), [
        ['tracking.logged_model.create', `logged_model:${modelId}`],
        ['tracking.logged_model.finalize', `logged_model:${modelId}`],
      ]);
    });

    test('search: experiment ids, filter over name/status/params/tags/metrics, datasets, order_by objects, page tokens', async () => {
      const experimentId = await createExperiment(apiA, 'lm-search');
      const other = await createExperiment(apiA, 'lm-search-other');
      const runId = await createRun(apiA, experimentId);
      const ids: Record<string, string> = {};
      for (const [name, lr, team, acc] of [['cand-a', '0.1', 'risk', 0.7], ['cand-b', '0.1', 'growth', 0.9], ['cand-c', '0.2', 'risk', 0.8], ['other', '0.1', 'risk', 0.5]] as const) {
        const model = await createModel(apiA, { experiment_id: experimentId, name, source_run_id: runId, params: [{ key: 'lr', value: lr }], tags: [{ key: 'team', value: team }] });
        ids[name] = model.info.model_id;
        ok(await apiA.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'acc', value: acc, timestamp: 5, step: 1, model_id: model.info.model_id, dataset_name: name === 'cand-c' ? 'test' : 'eval' }] }), 'metric');
      }
      ok(await finalize(apiA, ids['cand-a']!, 'LOGGED_MODEL_READY'), 'finalize a');
      ok(await finalize(apiA, ids['cand-b']!, 'LOGGED_MODEL_READY'), 'finalize b');
      await createModel(apiA, { experiment_id: other, name: 'cand-elsewhere' });

      // RestStore.search_logged_models → POST logged-models/search {experiment_ids, filter, datasets, max_results, order_by, page_token}
      const searchRaw = (body: Record<string, unknown>) => apiA.post('logged-models/search', { experiment_ids: [experimentId], ...body });
      const search = async (body: Record<string, unknown>) => ok(await searchRaw(body), `search ${JSON.stringify(body)}`);
      const names = (page: { models?: { info: { name: string } }[] }) => (page.models ?? []).map((m) => m.info.name);

      const byName = [{ field_name: 'name', ascending: true }];
      const page1 = await search({ filter: "name LIKE 'cand-%' AND params.lr = '0.1'", order_by: byName, max_results: 1 });
      assert.deepEqual(names(page1), ['cand-a']);
      assert.equal(typeof page1.next_page_token, 'string');
      const page2 = await search({ filter: "name LIKE 'cand-%' AND params.lr = '0.1'", order_by: byName, max_results: 1, page_token: page1.next_page_token });
      assert.deepEqual(names(page2), ['cand-b']);
      assert.equal(page2.next_page_token, undefined);

      assert.deepEqual(names(await search({ filter: "status = 'READY'", order_by: byName })), ['cand-a', 'cand-b']);
      assert.deepEqual(names(await search({ filter: "tags.team = 'risk' AND attributes.name != 'other'", order_by: byName })), ['cand-a', 'cand-c']);
      assert.deepEqual(names(await search({ filter: 'metrics.acc >= 0.8', order_by: byName })), ['cand-b', 'cand-c']);
      assert.deepEqual(names(await search({ filter: 'metrics.acc >= 0.8', datasets: [{ dataset_name: 'eval' }], order_by: byName })), ['cand-b']);
      assert.deepEqual(names(await search({ datasets: [{ dataset_name: 'test' }] })), ['cand-c']);
      assert.deepEqual(names(await search({ filter: `model_id IN ('${ids['cand-a']}', '${ids['other']}')`, order_by: byName })), ['cand-a', 'other']);
      assert.deepEqual(names(await search({ filter: `source_run_id = '${runId}' AND creation_time > 0`, order_by: [{ field_name: 'name', ascending: false }], max_results: 2 })), ['other', 'cand-c']);
      assert.deepEqual(names(await search({ order_by: [{ field_name: 'metrics.acc', ascending: false }] })), ['cand-b', 'cand-c', 'cand-a', 'other']);
      assert.deepEqual(names(await search({ order_by: [{ field_name: 'metrics.acc', ascending: true, dataset_name: 'eval' }, { field_name: 'name' }] })),
        ['other', 'cand-a', 'cand-b', 'cand-c'], 'models without the metric on that dataset sort last');
      // Default order: newest first (creation time, then id); every model of the experiment, none of the other.
      assert.deepEqual(names(await search({})).sort(), ['cand-a', 'cand-b', 'cand-c', 'other']);
      assert.deepEqual(names(ok(await apiA.post('logged-models/search', { experiment_ids: [experimentId, other], filter: "name = 'cand-elsewhere'" }), 'two experiments')), ['cand-elsewhere']);

      assert.equal(errorCode(await apiA.post('logged-models/search', {})), 'INVALID_PARAMETER_VALUE', 'experiment_ids is required');
      assert.equal(errorCode(await searchRaw({ filter: 'name = unquoted' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await searchRaw({ filter: "metrics.acc = 'high'" })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await searchRaw({ filter: "name = 'a' OR name = 'b'" })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await searchRaw({ order_by: [{ field_name: 'params.lr' }] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await searchRaw({ order_by: ['name ASC'] })), 'INVALID_PARAMETER_VALUE', 'order_by entries are objects');
      assert.equal(errorCode(await searchRaw({ datasets: [{ dataset_digest: 'x' }] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await searchRaw({ max_results: 0 })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await searchRaw({ page_token: 'not a token' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await apiA.post('logged-models/search', { experiment_ids: ['987654'] })), 'RESOURCE_DOES_NOT_EXIST');
    });

    test('search pages by keyset: every model once, in the order, while models are created between pages', async () => {
      const experimentId = await createExperiment(apiA, 'lm-keyset');
      const runId = await createRun(apiA, experimentId);
      // 13 models; acc repeats (ties broken by creation time and id) and is missing on every fourth model.
      const models: Array<{ id: string; name: string; created: number; acc: number | undefined }> = [];
      for (let i = 0; i < 13; i += 1) {
        const name = `km${String(i).padStart(2, '0')}`;
        const model = await createModel(apiA, { experiment_id: experimentId, name, source_run_id: runId });
        const acc = i % 4 === 3 ? undefined : [0.5, 0.7, 0.9][i % 3];
        if (acc !== undefined) ok(await apiA.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'acc', value: acc, timestamp: 5, step: 1, model_id: model.info.model_id }] }), 'metric');
        models.push({ id: model.info.model_id as string, name, created: Number(model.info.creation_timestamp_ms), acc });
      }
      const search = async (body: Record<string, unknown>) =>
        ok(await apiA.post('logged-models/search', { experiment_ids: [experimentId], ...body }), `search ${JSON.stringify(body)}`) as { models?: { info: { name: string } }[]; next_page_token?: string };
      const byIdAsc = (x: { id: string }, y: { id: string }) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
      const newest = (x: (typeof models)[number], y: (typeof models)[number]) => y.created - x.created || byIdAsc(x, y);
      const accOrder = (ascending: boolean) => (x: (typeof models)[number], y: (typeof models)[number]) => {
        if (x.acc === undefined || y.acc === undefined) return (x.acc === undefined ? 1 : 0) - (y.acc === undefined ? 1 : 0);
        return ascending ? x.acc - y.acc : y.acc - x.acc;
      };
      const cases: Array<{ orderBy: unknown[]; reference: (x: (typeof models)[number], y: (typeof models)[number]) => number }> = [
        { orderBy: [], reference: newest },
        { orderBy: [{ field_name: 'name', ascending: true }], reference: (x, y) => (x.name < y.name ? -1 : 1) },
        { orderBy: [{ field_name: 'metrics.acc', ascending: false }], reference: (x, y) => accOrder(false)(x, y) || newest(x, y) },
        { orderBy: [{ field_name: 'metrics.acc', ascending: true }, { field_name: 'name', ascending: false }], reference: (x, y) => accOrder(true)(x, y) || (x.name < y.name ? 1 : -1) },
      ];
      let extra = 0;
      for (const { orderBy, reference } of cases) {
        const expected = [...models].sort(reference).map((m) => m.name);
        const seen: string[] = [];
        let token: string | undefined;
        do {
          const page = await search({ order_by: orderBy, max_results: 4, ...(token === undefined ? {} : { page_token: token }) });
          seen.push(...(page.models ?? []).map((m) => m.info.name));
          token = page.next_page_token;
          // A model created while the client pages (no metric: it sorts last by acc, first by time).
          extra += 1;
          await createModel(apiA, { experiment_id: experimentId, name: `kx${String(extra).padStart(2, '0')}` });
        } while (token !== undefined);
        assert.equal(new Set(seen).size, seen.length, `no model twice: ${seen.join(',')}`);
        assert.deepEqual(seen.filter((n) => n.startsWith('km')), expected, `order ${JSON.stringify(orderBy)}`);
      }
      // A token belongs to its search; MLflow's offset tokens are not ours.
      const first = await search({ order_by: [{ field_name: 'name', ascending: true }], max_results: 2 });
      assert.equal(typeof first.next_page_token, 'string');
      const refused = await apiA.post('logged-models/search', { experiment_ids: [experimentId], order_by: [{ field_name: 'name', ascending: false }], max_results: 2, page_token: first.next_page_token });
      assert.equal(errorCode(refused), 'INVALID_PARAMETER_VALUE');
      const offset = Buffer.from(JSON.stringify({ offset: 2 })).toString('base64');
      assert.equal(errorCode(await apiA.post('logged-models/search', { experiment_ids: [experimentId], page_token: offset })), 'INVALID_PARAMETER_VALUE');
      // Another tenant's token (same search text) is refused too.
      const otherExperiment = await createExperiment(apiB, 'lm-keyset');
      assert.equal(errorCode(await apiB.post('logged-models/search', { experiment_ids: [otherExperiment], order_by: [{ field_name: 'name', ascending: true }], max_results: 2, page_token: first.next_page_token })), 'INVALID_PARAMETER_VALUE');
    });

    test('search against a reference order: random names, times, metrics, datasets, orders, filters and page sizes', async () => {
      // A seeded generator, so that a failure can be replayed (the seed is in every message).
      const seed = Number(process.env['LM_SEARCH_SEED'] ?? Date.now() % 1_000_000);
      let state = seed;
      const random = (): number => {
        state = (state + 0x6d2b79f5) | 0;
        let t = Math.imul(state ^ (state >>> 15), 1 | state);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
      };
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;

      const experimentId = await createExperiment(apiA, 'lm-reference');
      const runId = await createRun(apiA, experimentId);
      interface Point { key: string; value: number; timestamp: number; step: number; dataset?: { name: string; digest: string } }
      interface Model { id: string; name: string; created: number; updated: number; status: string; points: Point[] }
      const models: Model[] = [];
      const NAMES = ['na', 'nb', 'nc', 'nd', 'ne'];
      for (let i = 0; i < 200; i += 1) {
        const created = await createModel(apiA, { experiment_id: experimentId, name: pick(NAMES), source_run_id: runId });
        const ready = random() < 0.3;
        if (ready) ok(await finalize(apiA, created.info.model_id, 'LOGGED_MODEL_READY'), 'finalize');
        // Times in the past with many ties (set below as the schema owner: the API takes the server's clock).
        const t = 1_600_000_000_000 + Math.floor(random() * 60);
        models.push({ id: created.info.model_id, name: created.info.name, created: t, updated: t + Math.floor(random() * 40), status: ready ? 'READY' : 'PENDING', points: [] });
      }
      await p.database.owner.queryAsOwner(
        `UPDATE logged_models lm SET creation_time = u.c, last_updated_time = u.u FROM unnest($1::text[], $2::int8[], $3::int8[]) AS u(id, c, u) WHERE lm.id = u.id`,
        [models.map((m) => m.id), models.map((m) => m.created), models.map((m) => m.updated)]);
      // Metric points through log-batch (which keeps the latest values the index orders by): ties in
      // timestamp, step and value, NaN, several datasets, most models with some, some with none.
      const DATASETS = [undefined, { name: 'eval', digest: 'd1' }, { name: 'eval', digest: 'd2' }, { name: 'test', digest: 'd3' }];
      const VALUES = [0.1, 0.2, 0.2, 0.3, 0.5, Number.NaN];
      const batch: Record<string, unknown>[] = [];
      for (const m of models) {
        if (random() < 0.2) continue;
        for (let k = 1 + Math.floor(random() * 4); k > 0; k -= 1) {
          const dataset = pick(DATASETS);
          const point: Point = { key: pick(['acc', 'loss']), value: random() < 0.3 ? Math.round(random() * 1000) / 1000 : pick(VALUES), timestamp: 1 + Math.floor(random() * 3), step: Math.floor(random() * 2), ...(dataset === undefined ? {} : { dataset }) };
          m.points.push(point);
          batch.push({ key: point.key, value: Number.isNaN(point.value) ? 'NaN' : point.value, timestamp: point.timestamp, step: point.step, model_id: m.id,
            ...(dataset === undefined ? {} : { dataset_name: dataset.name, dataset_digest: dataset.digest }) });
        }
      }
      for (let i = 0; i < batch.length; i += 300) ok(await apiA.post('runs/log-batch', { run_id: runId, metrics: batch.slice(i, i + 300) }), 'model metrics');
      // Deleted models never appear.
      for (const m of models.splice(0, 3)) ok(await apiA.delete(`logged-models/${m.id}`, { model_id: m.id }), 'delete');
      // Another tenant's experiment with the same id, models with the same names and metrics.
      let sameId = '0';
      while (sameId !== experimentId) sameId = await createExperiment(apiB, `lm-reference-${Date.now()}-${Math.random()}`);
      const runB = await createRun(apiB, sameId);
      for (let i = 0; i < 20; i += 1) {
        const theirs = await createModel(apiB, { experiment_id: sameId, name: pick(NAMES), source_run_id: runB });
        ok(await apiB.post('runs/log-batch', { run_id: runB, metrics: [{ key: 'acc', value: 0.4, timestamp: 2, step: 1, model_id: theirs.info.model_id }] }), 'B metric');
      }

      // The reference: the latest point by (timestamp, step, value), NaN above every number.
      const above = (x: number, y: number): number => (Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : Number.isNaN(y) ? -1 : x - y);
      const latest = (m: Model, key: string, name?: string, digest?: string): number | undefined => {
        let best: Point | undefined;
        for (const q of m.points) {
          if (q.key !== key || (name !== undefined && q.dataset?.name !== name) || (digest !== undefined && q.dataset?.digest !== digest)) continue;
          const later = best === undefined || (q.timestamp !== best.timestamp ? q.timestamp > best.timestamp
            : q.step !== best.step ? q.step > best.step : above(q.value, best.value) > 0);
          if (later) best = q;
        }
        return best?.value;
      };
      type Entry = { field_name: string; ascending: boolean; dataset_name?: string; dataset_digest?: string };
      const compare = (orderBy: readonly Entry[]) => (x: Model, y: Model): number => {
        const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
        for (const e of orderBy) {
          const dir = e.ascending ? 1 : -1;
          let c = 0;
          if (e.field_name.startsWith('metrics.')) {
            const key = e.field_name.slice('metrics.'.length);
            const a = latest(x, key, e.dataset_name, e.dataset_digest);
            const b = latest(y, key, e.dataset_name, e.dataset_digest);
            c = a === undefined || b === undefined ? (a === undefined ? 1 : 0) - (b === undefined ? 1 : 0) : dir * above(a, b);
          } else if (e.field_name === 'name') c = dir * byText(x.name, y.name);
          else if (e.field_name === 'model_id') c = dir * byText(x.id, y.id);
          else if (e.field_name === 'status') c = dir * byText(x.status, y.status);
          else if (e.field_name === 'creation_timestamp') c = dir * (x.created - y.created);
          else if (e.field_name === 'last_updated_timestamp') c = dir * (x.updated - y.updated);
          if (c !== 0) return c;
        }
        if (!orderBy.some((e) => e.field_name === 'creation_timestamp')) {
          const c = y.created - x.created;
          if (c !== 0) return c;
        }
        return byText(x.id, y.id);
      };
      const metricOrder = (): Entry => {
        const dataset = pick([undefined, { dataset_name: 'eval' }, { dataset_name: 'eval', dataset_digest: pick(['d1', 'd2']) }, { dataset_name: 'test' }]);
        return { field_name: `metrics.${pick(['acc', 'loss'])}`, ascending: random() < 0.5, ...dataset };
      };
      const attributeOrder = (): Entry => ({ field_name: pick(['name', 'creation_timestamp', 'last_updated_timestamp', 'model_id', 'status']), ascending: random() < 0.5 });
      const filters: Array<{ filter?: string; keep: (m: Model) => boolean }> = [
        { keep: () => true },
        { filter: 'creation_timestamp > 1600000000030', keep: (m) => m.created > 1_600_000_000_030 },
        { filter: "name = 'nc'", keep: (m) => m.name === 'nc' },
        { filter: "status = 'READY'", keep: (m) => m.status === 'READY' },
        { filter: 'metrics.loss < 0.25', keep: (m) => m.points.some((q) => q.key === 'loss' && q.value < 0.25) },
      ];
      const original = new Set(models.map((m) => m.id));
      let late = 0;
      const lateIds = new Set<string>();
      for (let c = 0; c < 16; c += 1) {
        // Index-served forms (default, one attribute, one metric) and the general one (two terms).
        const orderBy = pick<() => Entry[]>([() => [], () => [attributeOrder()], () => [metricOrder()], () => [metricOrder()], () => [attributeOrder(), metricOrder()], () => [metricOrder(), attributeOrder()]])();
        if (orderBy.length === 2 && orderBy[0]?.field_name === orderBy[1]?.field_name) orderBy.pop();
        const { filter, keep } = pick(filters);
        const maxResults = 1 + Math.floor(random() * 17);
        const expected = models.filter(keep).sort(compare(orderBy)).map((m) => m.id);
        const seen: string[] = [];
        let token: string | undefined;
        do {
          const page = ok(await apiA.post('logged-models/search', {
            experiment_ids: [experimentId], order_by: orderBy, max_results: maxResults, ...(filter === undefined ? {} : { filter }), ...(token === undefined ? {} : { page_token: token }),
          }), `search (seed ${String(seed)})`) as { models?: { info: { model_id: string } }[]; next_page_token?: string };
          assert.ok((page.models ?? []).length <= maxResults);
          seen.push(...(page.models ?? []).map((m) => m.info.model_id));
          token = page.next_page_token;
          // New models while the client pages: newest of all, no metrics.
          late += 1;
          if (late % 3 === 0) lateIds.add((await createModel(apiA, { experiment_id: experimentId, name: pick(NAMES) })).info.model_id);
        } while (token !== undefined);
        const what = `seed ${String(seed)}, order ${JSON.stringify(orderBy)}, filter ${filter ?? '-'}, pages of ${String(maxResults)}`;
        assert.equal(new Set(seen).size, seen.length, `no model twice: ${what}`);
        assert.deepEqual(seen.filter((id) => original.has(id)), expected, what);
        // Nothing else: no deleted model, none of tenant B's (same experiment id, names and metric key).
        assert.deepEqual(seen.filter((id) => !original.has(id) && !lateIds.has(id)), [], what);
      }
      // Tenant B sees only its own 20 models in the experiment with the same id.
      const theirs = ok(await apiB.post('logged-models/search', { experiment_ids: [sameId], order_by: [{ field_name: 'metrics.acc', ascending: false }], max_results: 100 }), 'B search');
      assert.equal(theirs.models.length, 20);
      assert.ok(theirs.models.every((m: { info: { model_id: string } }) => !original.has(m.info.model_id)));
    });

    test('concurrent log-batches linking points to the same models keep each model\'s latest value, without deadlock', async () => {
      const experimentId = await createExperiment(apiA, 'lm-concurrent');
      const runs = await Promise.all(Array.from({ length: 8 }, () => createRun(apiA, experimentId)));
      const models: string[] = [];
      for (let i = 0; i < 4; i += 1) models.push((await createModel(apiA, { experiment_id: experimentId, name: `c${i}` })).info.model_id as string);
      // Eight writers, each its batches of the same models and keys in its own shuffled order: the
      // latest-value rows they share are locked in one order whatever the batch's order.
      let seed = 7;
      const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
      const points = runs.map((_, w) => Array.from({ length: 60 }, (_, i) => ({
        key: `k${i % 3}`, value: Math.round(random() * 1000) / 10, timestamp: 1_700_000_000_000 + Math.floor(random() * 20), step: Math.floor(random() * 5),
        model_id: models[(i + w) % models.length] as string, dataset_name: 'eval', dataset_digest: i % 2 === 0 ? 'd0' : 'd1',
      })).sort(() => random() - 0.5));
      await Promise.all(runs.map(async (runId, w) => {
        const mine = points[w] ?? [];
        for (let i = 0; i < mine.length; i += 20) ok(await apiA.post('runs/log-batch', { run_id: runId, metrics: mine.slice(i, i + 20) }), `writer ${w}`);
      }));
      // Each model's latest acc per selector, by the reference rule (timestamp, then step, then the larger value).
      const all = points.flat();
      for (const model of models) {
        for (const key of ['k0', 'k1', 'k2']) {
          const mine = all.filter((m) => m.model_id === model && m.key === key);
          if (mine.length === 0) continue;
          const best = mine.reduce((x, y) => (y.timestamp !== x.timestamp ? (y.timestamp > x.timestamp ? y : x) : y.step !== x.step ? (y.step > x.step ? y : x) : y.value > x.value ? y : x));
          const stored = await withSystem(p.database.owner, async (tx) => (await tx.query<{ value: number }>(
            `SELECT value FROM logged_model_latest_metrics WHERE tenant_id = $1 AND model_id = $2 AND key = $3 AND dataset_name = '' AND dataset_digest = ''`, [a.id, model, key])).rows);
          assert.deepEqual(stored.map((r) => Number(r.value)), [best.value], `${model} ${key}`);
        }
      }
    });

    test('tags, params and delete', async () => {
      const experimentId = await createExperiment(apiA, 'lm-tags');
      const modelId = (await createModel(apiA, { experiment_id: experimentId, name: 'tagged', params: [{ key: 'depth', value: '3' }] })).info.model_id as string;

      // RestStore.set_logged_model_tags → PATCH logged-models/{id}/tags {tags} (no model_id in the body).
      ok(await apiA.patch(`logged-models/${modelId}/tags`, { tags: [{ key: 'stage', value: 'dev' }, { key: 'stage', value: 'prod' }, { key: 'owner', value: 'ml' }] }), 'set tags');
      assert.deepEqual(ok(await apiA.get(`logged-models/${modelId}`), 'get').model.info.tags, [{ key: 'owner', value: 'ml' }, { key: 'stage', value: 'prod' }]);
      // RestStore.delete_logged_model_tag → DELETE logged-models/{id}/tags/{key}, no body.
      ok(await apiA.delete(`logged-models/${modelId}/tags/stage`, undefined), 'delete tag');
      assert.equal(errorCode(await apiA.delete(`logged-models/${modelId}/tags/stage`, undefined)), 'RESOURCE_DOES_NOT_EXIST');
      assert.deepEqual(ok(await apiA.get(`logged-models/${modelId}`), 'get').model.info.tags, [{ key: 'owner', value: 'ml' }]);
      assert.equal(errorCode(await apiA.patch(`logged-models/${modelId}/tags`, { tags: [{ key: 'bad//key', value: 'x' }] })), 'INVALID_PARAMETER_VALUE');

      // RestStore.log_logged_model_params → POST logged-models/{id}/params {model_id, params}
      ok(await apiA.post(`logged-models/${modelId}/params`, { model_id: modelId, params: [{ key: 'epochs', value: '5' }, { key: 'depth', value: '3' }] }), 'log params');
      const changed = await apiA.post(`logged-models/${modelId}/params`, { model_id: modelId, params: [{ key: 'epochs', value: '6' }, { key: 'seed', value: '1' }] });
      assert.equal(errorCode(changed), 'INVALID_PARAMETER_VALUE');
      assert.match(changed.body.message, /Changing param values is not allowed/);
      assert.deepEqual(ok(await apiA.get(`logged-models/${modelId}`), 'get').model.data.params, [{ key: 'depth', value: '3' }, { key: 'epochs', value: '5' }], 'nothing of the refused request');

      // RestStore.delete_logged_model → DELETE logged-models/{id} {model_id}
      ok(await apiA.delete(`logged-models/${modelId}`, { model_id: modelId }), 'delete');
      assert.equal(errorCode(await apiA.get(`logged-models/${modelId}`)), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.delete(`logged-models/${modelId}`, { model_id: modelId })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await finalize(apiA, modelId, 'LOGGED_MODEL_READY')), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.patch(`logged-models/${modelId}/tags`, { tags: [{ key: 'k', value: 'v' }] })), 'RESOURCE_DOES_NOT_EXIST');
      assert.deepEqual(ok(await apiA.post('logged-models/search', { experiment_ids: [experimentId] }), 'search').models ?? [], []);

      assert.deepEqual(await auditActions(a).then((rows) => rows.filter(([, target]) => target === `logged_model:${modelId}`).map(([action]) => action)), [
        'tracking.logged_model.create', 'tracking.logged_model.set_tags', 'tracking.logged_model.delete_tag', 'tracking.logged_model.delete',
      ]);
    });

    test('validation errors answer MLflow codes', async () => {
      const experimentId = await createExperiment(apiA, 'lm-validation');
      const runId = await createRun(apiA, experimentId);
      const modelId = (await createModel(apiA, { experiment_id: experimentId, name: 'valid' })).info.model_id as string;

      assert.equal(errorCode(await apiA.post('logged-models', { name: 'no-experiment' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: experimentId, name: 'a/b' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: experimentId, name: 'x'.repeat(501) })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: experimentId, params: [{ key: 'p', value: '1' }, { key: 'p', value: '2' }] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: experimentId, tags: [{ key: '../up', value: 'x' }] })), 'INVALID_PARAMETER_VALUE');
      // Unknown experiment and run: RESOURCE_DOES_NOT_EXIST, as MLflow's store answers (and as another tenant's).
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: '987654' })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: 'not-a-number' })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: experimentId, source_run_id: 'f'.repeat(32) })), 'RESOURCE_DOES_NOT_EXIST');
      // A deleted experiment takes no new models (INVALID_PARAMETER_VALUE, as for runs).
      const gone = await createExperiment(apiA, 'lm-validation-deleted');
      ok(await apiA.post('experiments/delete', { experiment_id: gone }), 'delete experiment');
      assert.equal(errorCode(await apiA.post('logged-models', { experiment_id: gone })), 'INVALID_PARAMETER_VALUE');

      for (const status of ['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_STATUS_UNSPECIFIED', 'READY_NOW', 1, 7, true]) {
        assert.equal(errorCode(await finalize(apiA, modelId, status)), 'INVALID_PARAMETER_VALUE', `status ${String(status)}`);
      }
      assert.equal(errorCode(await apiA.patch(`logged-models/${modelId}`, { model_id: modelId })), 'INVALID_PARAMETER_VALUE', 'status is required');
      assert.equal(errorCode(await apiA.patch(`logged-models/${modelId}`, { model_id: `m-${'2'.repeat(32)}`, status: 'LOGGED_MODEL_READY' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(ok(await apiA.get(`logged-models/${modelId}`), 'still pending').model.info.status, 'LOGGED_MODEL_PENDING');
      assert.equal(errorCode(await apiA.get('logged-models/not-a-model-id')), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.get(`logged-models/m-${'3'.repeat(32)}`)), 'RESOURCE_DOES_NOT_EXIST');

      // Metrics and outputs naming a model that does not exist are refused whole: nothing is written.
      const refused = await apiA.post('runs/log-batch', {
        run_id: runId,
        metrics: [{ key: 'loss', value: 1, timestamp: 1, step: 0 }, { key: 'loss', value: 0.5, timestamp: 2, step: 1, model_id: `m-${'4'.repeat(32)}` }],
      });
      assert.equal(errorCode(refused), 'RESOURCE_DOES_NOT_EXIST');
      assert.deepEqual(ok(await apiA.get('metrics/get-history', { run_id: runId, metric_key: 'loss' }), 'history').metrics ?? [], []);
      assert.equal(errorCode(await apiA.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'loss', value: 1, timestamp: 1, model_id: 42 }] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await apiA.post('runs/outputs', { run_id: runId, models: [{ model_id: `m-${'4'.repeat(32)}`, step: 0 }] })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.post('runs/outputs', { run_id: 'f'.repeat(32), models: [{ model_id: modelId, step: 0 }] })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await apiA.post('runs/outputs', { run_id: runId, models: [{ step: 0 }] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(ok(await apiA.get('runs/get', { run_id: runId }), 'run').run.outputs, undefined);
      // log-inputs takes logged-model inputs (MLflow 3 `models`), of this tenant only.
      ok(await apiA.post('runs/log-inputs', { run_id: runId, models: [{ model_id: modelId }] }), 'model input');
      assert.deepEqual(ok(await apiA.get('runs/get', { run_id: runId }), 'run').run.inputs.model_inputs, [{ model_id: modelId }]);

      // A viewer reads logged models but cannot write them.
      const viewer = mlflowHttp(p, a.tokens.viewer);
      assert.equal(ok(await viewer.get(`logged-models/${modelId}`), 'viewer get').model.info.model_id, modelId);
      ok(await viewer.post('logged-models/search', { experiment_ids: [experimentId] }), 'viewer search');
      assert.equal(errorCode(await viewer.post('logged-models', { experiment_id: experimentId })), 'PERMISSION_DENIED');
      assert.equal(errorCode(await finalize(viewer, modelId, 'LOGGED_MODEL_READY')), 'PERMISSION_DENIED');
      assert.equal(errorCode(await viewer.delete(`logged-models/${modelId}`, { model_id: modelId })), 'PERMISSION_DENIED');
    });

    test("another tenant's logged model is RESOURCE_DOES_NOT_EXIST for every call, and nothing changes", async () => {
      const experimentId = await createExperiment(apiA, 'lm-private');
      const runA = await createRun(apiA, experimentId);
      const model = await createModel(apiA, {
        experiment_id: experimentId, name: 'secret', source_run_id: runA, params: [{ key: 'lr', value: '0.1' }], tags: [{ key: 'owner', value: 'alpha' }],
      });
      const modelId = model.info.model_id as string;
      const root = artifactPath(model.info.artifact_uri);
      assert.equal((await artifacts(a.tokens.member).put(`${root}/MLmodel`, 'alpha model')).statusCode, 200);
      const before = ok(await apiA.get(`logged-models/${modelId}`), 'before').model;

      const missing = (response: MlflowResponse, what: string) => {
        assert.equal(response.status, 404, `${what}: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.error_code, 'RESOURCE_DOES_NOT_EXIST', what);
      };
      missing(await apiB.get(`logged-models/${modelId}`), 'get');
      missing(await finalize(apiB, modelId, 'LOGGED_MODEL_READY'), 'finalize');
      missing(await apiB.patch(`logged-models/${modelId}/tags`, { tags: [{ key: 'owner', value: 'beta' }] }), 'set tags');
      missing(await apiB.delete(`logged-models/${modelId}/tags/owner`, undefined), 'delete tag');
      missing(await apiB.post(`logged-models/${modelId}/params`, { model_id: modelId, params: [{ key: 'evil', value: '1' }] }), 'log params');
      missing(await apiB.delete(`logged-models/${modelId}`, { model_id: modelId }), 'delete');
      // B has no experiment with A's id: searching it is RESOURCE_DOES_NOT_EXIST, like a missing one.
      missing(await apiB.post('logged-models/search', { experiment_ids: [experimentId] }), 'search by experiment id');
      missing(await apiB.post('logged-models', { experiment_id: experimentId, name: 'planted' }), 'create in the experiment');
      missing(await apiB.post('logged-models', { experiment_id: '0', source_run_id: runA }), 'create from the run');
      // From B's own run, nothing can be linked to A's model.
      const runB = await createRun(apiB, '0');
      missing(await apiB.post('runs/log-batch', { run_id: runB, metrics: [{ key: 'acc', value: 0.1, timestamp: 1, step: 0, model_id: modelId }] }), 'model metric');
      missing(await apiB.post('runs/log-metric', { run_id: runB, key: 'acc', value: 0.1, timestamp: 1, model_id: modelId }), 'model metric (log-metric)');
      missing(await apiB.post('runs/outputs', { run_id: runB, models: [{ model_id: modelId, step: 0 }] }), 'run output');
      missing(await apiB.post('runs/log-inputs', { run_id: runB, models: [{ model_id: modelId }] }), 'run input');
      ok(await apiB.post('registered-models/create', { name: 'stolen' }), 'B registered model');
      missing(await apiB.post('model-versions/create', { name: 'stolen', source: `models:/${modelId}`, model_id: modelId }), 'register');
      missing(await apiB.post('model-versions/create', { name: 'stolen', source: `models:/${modelId}` }), 'register by source');

      // B's own experiment with the same (per-tenant) id holds none of A's models; B's model there gets the
      // same-looking artifact path, but in B's own artifact namespace.
      let sameId = '0';
      while (sameId !== experimentId) sameId = await createExperiment(apiB, `beta-${Date.now()}-${Math.random()}`);
      assert.deepEqual(ok(await apiB.post('logged-models/search', { experiment_ids: [experimentId] }), 'B search').models ?? [], []);
      assert.deepEqual(ok(await apiB.post('logged-models/search', { experiment_ids: [experimentId], filter: `model_id = '${modelId}'` }), 'B search by id').models ?? [], []);
      assert.equal((await artifacts(b.tokens.member).put(`${root}/MLmodel`, 'beta overwrite')).statusCode, 200);
      assert.equal((await artifacts(a.tokens.member).get(`${root}/MLmodel`)).body, 'alpha model');

      // A's model is exactly as it was: status, tags, params, metrics, not deleted, no outputs from B.
      assert.deepEqual(ok(await apiA.get(`logged-models/${modelId}`), 'after').model, before);
      assert.equal(ok(await apiB.get('runs/get', { run_id: runB }), 'B run').run.outputs, undefined);
      const rows = await withSystem(p.database.owner, async (tx) => (await tx.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM logged_model_metrics WHERE model_id = $1) + (SELECT count(*) FROM run_model_links WHERE model_id = $1)
              + (SELECT count(*) FROM model_versions WHERE model_id = $1) AS n`, [modelId],
      )).rows[0]?.n);
      assert.equal(Number(rows), 0);
      assert.deepEqual(await auditActions(b).then((events) => events.filter(([, target]) => target === `logged_model:${modelId}`)), []);
    });
  });
}
