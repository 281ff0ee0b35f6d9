/**
 * The MLflow REST API as the official Python client calls it, on PGlite and PostgreSQL. Request shapes
 * follow mlflow/store/tracking/rest_store.py and mlflow/store/model_registry/rest_store.py (see
 * test/support/mlflow-http.ts for the encoding rules); each test names the client method it imitates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withSystem } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { errorCode, mlflowHttp } from './support/mlflow-http.ts';
import type { MlflowHttp } from './support/mlflow-http.ts';

const ok = (response: { status: number; body: any }, what: string) => {
  assert.equal(response.status, 200, `${what}: ${JSON.stringify(response.body)}`);
  return response.body;
};

for (const kind of databaseKinds) {
  describe(`MLflow REST API on ${kind}`, () => {
    let p: TestPlatform;
    let tenant: TestTenant;
    let api: MlflowHttp;

    before(async () => {
      p = await createTestPlatform(kind);
      tenant = await p.createTenant('ml-team');
      api = mlflowHttp(p, tenant.tokens.member);
    });
    after(async () => p.close());

    test('set_experiment: get-by-name answers RESOURCE_DOES_NOT_EXIST, then create; Default is experiment 0', async () => {
      // MlflowClient.get_experiment_by_name → GET experiments/get-by-name?experiment_name=...
      const missing = await api.get('experiments/get-by-name', { experiment_name: 'fraud' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
      // MlflowClient.create_experiment → POST experiments/create {name, tags}
      const created = ok(await api.post('experiments/create', { name: 'fraud', tags: [{ key: 'team', value: 'risk' }] }), 'create');
      assert.match(created.experiment_id, /^[1-9]\d*$/);
      const again = await api.post('experiments/create', { name: 'fraud' });
      assert.equal(again.status, 400);
      assert.equal(again.body.error_code, 'RESOURCE_ALREADY_EXISTS');
      const byName = ok(await api.get('experiments/get-by-name', { experiment_name: 'fraud' }), 'get-by-name');
      assert.equal(byName.experiment.experiment_id, created.experiment_id);
      assert.equal(byName.experiment.artifact_location, `mlflow-artifacts:/${created.experiment_id}`);
      assert.deepEqual(byName.experiment.tags, [{ key: 'team', value: 'risk' }]);
      const dflt = ok(await api.get('experiments/get', { experiment_id: '0' }), 'get default');
      assert.equal(dflt.experiment.name, 'Default');
      assert.equal(dflt.experiment.lifecycle_stage, 'active');
    });

    test('experiments: search (POST and GET) with filter, order_by and page tokens; update, delete, restore, set tag', async () => {
      for (const name of ['search-a', 'search-b', 'search-c']) ok(await api.post('experiments/create', { name }), name);
      // MlflowClient.search_experiments → POST experiments/search {view_type, max_results, filter, order_by, page_token}
      const page1 = ok(await api.post('experiments/search', { view_type: 'ACTIVE_ONLY', max_results: 2, filter: "name LIKE 'search-%'", order_by: ['name ASC'] }), 'search');
      assert.deepEqual(page1.experiments.map((e: any) => e.name), ['search-a', 'search-b']);
      assert.equal(typeof page1.next_page_token, 'string');
      const page2 = ok(await api.get('experiments/search', { max_results: 2, filter: "name LIKE 'search-%'", order_by: 'name ASC', page_token: page1.next_page_token }), 'search page 2');
      assert.deepEqual(page2.experiments.map((e: any) => e.name), ['search-c']);
      assert.equal(page2.next_page_token, undefined);

      const id = page1.experiments[0].experiment_id as string;
      ok(await api.post('experiments/update', { experiment_id: id, new_name: 'search-a2' }), 'rename');
      ok(await api.post('experiments/set-experiment-tag', { experiment_id: id, key: 'stage', value: 'dev' }), 'tag');
      ok(await api.post('experiments/delete', { experiment_id: id }), 'delete');
      const active = ok(await api.post('experiments/search', { filter: "name = 'search-a2'" }), 'search active');
      assert.deepEqual(active.experiments, []);
      const deleted = ok(await api.post('experiments/search', { view_type: 'DELETED_ONLY', filter: "name = 'search-a2'" }), 'search deleted');
      assert.equal(deleted.experiments[0].lifecycle_stage, 'deleted');
      assert.deepEqual(deleted.experiments[0].tags, [{ key: 'stage', value: 'dev' }]);
      // A deleted experiment's name stays taken, and it takes no new runs.
      assert.equal(errorCode(await api.post('experiments/create', { name: 'search-a2' })), 'RESOURCE_ALREADY_EXISTS');
      assert.equal(errorCode(await api.post('runs/create', { experiment_id: id, start_time: 1 })), 'INVALID_PARAMETER_VALUE');
      ok(await api.post('experiments/restore', { experiment_id: id }), 'restore');
      assert.equal(ok(await api.get('experiments/get', { experiment_id: id }), 'get').experiment.lifecycle_stage, 'active');
      assert.equal(errorCode(await api.get('experiments/get', { experiment_id: '987654' })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await api.get('experiments/get', { experiment_id: 'not-a-number' })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await api.post('experiments/search', { filter: 'name = unquoted' })), 'INVALID_PARAMETER_VALUE');
    });

    test('runs: create returns the mlflow-artifacts URI; log-batch, log-metric, log-parameter, set-tag, get, update', async () => {
      const { experiment_id: experimentId } = ok(await api.post('experiments/create', { name: 'runs-exp' }), 'exp');
      // MlflowClient.create_run → POST runs/create {experiment_id, user_id, start_time, tags, run_name}
      const created = ok(await api.post('runs/create', {
        experiment_id: experimentId, user_id: 'alice', start_time: 1_700_000_000_000, run_name: 'first',
        tags: [{ key: 'mlflow.user', value: 'alice' }, { key: 'mlflow.source.type', value: 'LOCAL' }],
      }), 'create run');
      const run = created.run;
      const runId = run.info.run_id as string;
      assert.match(runId, /^[0-9a-f]{32}$/);
      assert.equal(run.info.run_uuid, runId);
      assert.equal(run.info.artifact_uri, `mlflow-artifacts:/${experimentId}/${runId}/artifacts`);
      assert.equal(run.info.status, 'RUNNING');
      assert.equal(run.info.run_name, 'first');
      assert.ok(run.data.tags.some((t: any) => t.key === 'mlflow.runName' && t.value === 'first'));

      // MlflowClient.log_batch → POST runs/log-batch {run_id, metrics, params, tags}
      ok(await api.post('runs/log-batch', {
        run_id: runId,
        metrics: [
          { key: 'loss', value: 0.9, timestamp: 1000, step: 0 },
          { key: 'loss', value: 0.5, timestamp: 2000, step: 1 },
          { key: 'loss', value: 0.7, timestamp: 1500, step: 1 },
          { key: 'acc', value: 'NaN', timestamp: 1000, step: 0 },
        ],
        params: [{ key: 'lr', value: '0.01' }, { key: 'layers', value: '3' }],
        tags: [{ key: 'team', value: 'risk' }],
      }), 'log-batch');
      // log_metric → POST runs/log-metric {run_uuid, run_id, key, value, timestamp, step}
      ok(await api.post('runs/log-metric', { run_uuid: runId, run_id: runId, key: 'loss', value: 0.1, timestamp: 500, step: 0 }), 'log-metric');
      ok(await api.post('runs/log-metric', { run_id: runId, key: 'inf', value: 'Infinity', timestamp: 1, step: 0 }), 'log-metric inf');
      // log_param → POST runs/log-parameter {run_uuid, run_id, key, value}
      ok(await api.post('runs/log-parameter', { run_uuid: runId, run_id: runId, key: 'epochs', value: '10' }), 'log-parameter');
      // set_tag → POST runs/set-tag {run_uuid, run_id, key, value}
      ok(await api.post('runs/set-tag', { run_uuid: runId, run_id: runId, key: 'note', value: 'hello' }), 'set-tag');

      // get_run → GET runs/get?run_uuid=...&run_id=...
      const got = ok(await api.get('runs/get', { run_uuid: runId, run_id: runId }), 'get').run;
      const metrics = Object.fromEntries(got.data.metrics.map((m: any) => [m.key, m]));
      // Latest = greatest (step, timestamp): step 1 at timestamp 2000, not the later-logged step-0 point.
      assert.deepEqual(metrics['loss'], { key: 'loss', value: 0.5, timestamp: 2000, step: 1 });
      assert.equal(metrics['acc'].value, 'NaN');
      assert.equal(metrics['inf'].value, 'Infinity');
      assert.deepEqual(got.data.params, [{ key: 'epochs', value: '10' }, { key: 'layers', value: '3' }, { key: 'lr', value: '0.01' }]);
      assert.ok(got.data.tags.some((t: any) => t.key === 'note' && t.value === 'hello'));

      // get_metric_history → GET metrics/get-history?run_id=...&metric_key=...&max_results=25000
      const history = ok(await api.get('metrics/get-history', { run_uuid: runId, run_id: runId, metric_key: 'loss', max_results: 25000 }), 'history');
      assert.deepEqual(history.metrics.map((m: any) => [m.step, m.timestamp, m.value]), [[0, 500, 0.1], [0, 1000, 0.9], [1, 1500, 0.7], [1, 2000, 0.5]]);
      const paged = ok(await api.get('metrics/get-history', { run_id: runId, metric_key: 'loss', max_results: 3 }), 'history page');
      assert.equal(paged.metrics.length, 3);
      const rest = ok(await api.get('metrics/get-history', { run_id: runId, metric_key: 'loss', max_results: 3, page_token: paged.next_page_token }), 'history page 2');
      assert.deepEqual(rest.metrics.map((m: any) => m.value), [0.5]);
      const bulk = ok(await api.get('metrics/get-history-bulk-interval', { run_ids: [runId], metric_key: 'loss', start_step: 1, end_step: 1, max_results: 10 }), 'bulk');
      assert.deepEqual(bulk.metrics.map((m: any) => [m.run_id, m.step, m.value]), [[runId, 1, 0.7], [runId, 1, 0.5]]);

      // set_terminated → POST runs/update {run_uuid, run_id, status, end_time}
      const updated = ok(await api.post('runs/update', { run_uuid: runId, run_id: runId, status: 'FINISHED', end_time: 1_700_000_100_000 }), 'update');
      assert.equal(updated.run_info.status, 'FINISHED');
      assert.equal(updated.run_info.end_time, 1_700_000_100_000);
      ok(await api.post('runs/update', { run_id: runId, run_name: 'renamed' }), 'rename run');
      const renamed = ok(await api.get('runs/get', { run_id: runId }), 'get').run;
      assert.equal(renamed.info.run_name, 'renamed');
      assert.ok(renamed.data.tags.some((t: any) => t.key === 'mlflow.runName' && t.value === 'renamed'));
      // delete_tag → POST runs/delete-tag {run_id, key}
      ok(await api.post('runs/delete-tag', { run_id: runId, key: 'note' }), 'delete-tag');
      assert.equal(errorCode(await api.post('runs/delete-tag', { run_id: runId, key: 'note' })), 'RESOURCE_DOES_NOT_EXIST');
    });

    test('log-batch follows MLflow limits and validation, and is all-or-nothing', async () => {
      const runId = ok(await api.post('runs/create', { experiment_id: '0', start_time: 1 }), 'run').run.info.run_id as string;
      const metric = (i: number) => ({ key: `m${i % 7}`, value: i, timestamp: i, step: i });
      const tooMany = await api.post('runs/log-batch', { run_id: runId, metrics: Array.from({ length: 1001 }, (_, i) => metric(i)) });
      assert.equal(tooMany.status, 400);
      assert.equal(tooMany.body.error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(tooMany.body.message, /at most 1000 metrics/);
      const params101 = Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, params: params101 })), 'INVALID_PARAMETER_VALUE');
      const mixed = { run_id: runId, metrics: Array.from({ length: 950 }, (_, i) => metric(i)), tags: Array.from({ length: 51 }, (_, i) => ({ key: `t${i}`, value: 'v' })) };
      assert.equal(errorCode(await api.post('runs/log-batch', mixed)), 'INVALID_PARAMETER_VALUE');
      // Exactly at the limits is fine.
      ok(await api.post('runs/log-batch', { run_id: runId, metrics: Array.from({ length: 1000 }, (_, i) => metric(i)) }), '1000 metrics');
      // Bad key names (MLflow: alphanumerics, _ - . space /; no path tricks).
      for (const key of ['bad!key', '../up', 'a//b', '/abs', '']) {
        assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, metrics: [{ key, value: 1, timestamp: 1, step: 0 }] })), 'INVALID_PARAMETER_VALUE', `key ${JSON.stringify(key)}`);
      }
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'x', value: 'abc', timestamp: 1 }] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'x', value: 1 }] })), 'INVALID_PARAMETER_VALUE', 'timestamp is required');
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, params: [{ key: 'd', value: '1' }, { key: 'd', value: '1' }] })), 'INVALID_PARAMETER_VALUE', 'duplicate param keys');

      // Param immutability: same value again is fine, a new value is refused — and refuses the whole batch.
      ok(await api.post('runs/log-batch', { run_id: runId, params: [{ key: 'lr', value: '0.1' }] }), 'param');
      ok(await api.post('runs/log-parameter', { run_id: runId, key: 'lr', value: '0.1' }), 'same param again');
      const changed = await api.post('runs/log-batch', {
        run_id: runId,
        metrics: [{ key: 'only-if-accepted', value: 1, timestamp: 1, step: 0 }],
        params: [{ key: 'lr', value: '0.2' }, { key: 'new-param', value: 'x' }],
        tags: [{ key: 'only-if-accepted', value: 'x' }],
      });
      assert.equal(changed.status, 400);
      assert.equal(changed.body.error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(changed.body.message, /Changing param values is not allowed/);
      const after = ok(await api.get('runs/get', { run_id: runId }), 'get').run;
      assert.deepEqual(after.data.params, [{ key: 'lr', value: '0.1' }]);
      assert.ok(!after.data.metrics.some((m: any) => m.key === 'only-if-accepted'));
      assert.ok(!after.data.tags.some((t: any) => t.key === 'only-if-accepted'));
      assert.equal(errorCode(await api.post('runs/log-parameter', { run_id: runId, key: 'lr', value: '0.3' })), 'INVALID_PARAMETER_VALUE');

      // Over-long values: params and tags are truncated (MLFLOW_TRUNCATE_LONG_VALUES default), keys refused.
      ok(await api.post('runs/log-batch', { run_id: runId, params: [{ key: 'long', value: 'x'.repeat(7000) }] }), 'long param');
      const long = ok(await api.get('runs/get', { run_id: runId }), 'get').run.data.params.find((q: any) => q.key === 'long');
      assert.equal(long.value.length, 6000);
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, params: [{ key: 'k'.repeat(251), value: 'v' }] })), 'INVALID_PARAMETER_VALUE');

      // A deleted run takes no more logging; a missing run is RESOURCE_DOES_NOT_EXIST.
      // Nothing of a refused batch is kept (the batch's COMMIT is sent with its writes: each is conditional).
      ok(await api.post('runs/delete', { run_id: runId }), 'delete');
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: runId, metrics: [metric(1)] })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('runs/log-batch', {
        run_id: runId, metrics: [{ key: 'while-deleted', value: 1, timestamp: 1, step: 0 }], params: [{ key: 'while-deleted', value: 'x' }],
        tags: [{ key: 'while-deleted', value: 'x' }, { key: 'mlflow.runName', value: 'renamed-while-deleted' }],
      })), 'INVALID_PARAMETER_VALUE');
      ok(await api.post('runs/restore', { run_id: runId }), 'restore');
      const restored = ok(await api.get('runs/get', { run_id: runId }), 'get restored').run;
      assert.ok(!restored.data.metrics.some((m: any) => m.key === 'while-deleted'));
      assert.deepEqual(ok(await api.get('metrics/get-history', { run_id: runId, metric_key: 'while-deleted' }), 'history').metrics ?? [], []);
      assert.ok(!restored.data.params.some((q: any) => q.key === 'while-deleted'));
      assert.ok(!restored.data.tags.some((t: any) => t.key === 'while-deleted' || t.value === 'renamed-while-deleted'));
      assert.notEqual(restored.info.run_name, 'renamed-while-deleted');
      ok(await api.post('runs/log-batch', { run_id: runId, metrics: [metric(1)] }), 'after restore');
      assert.equal(errorCode(await api.post('runs/log-batch', { run_id: '0'.repeat(32), metrics: [metric(1)] })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await api.post('runs/log-batch', { metrics: [metric(1)] })), 'INVALID_PARAMETER_VALUE');
    });

    test('search_runs: filter grammar, order_by over metrics/params, pages', async () => {
      const { experiment_id: exp } = ok(await api.post('experiments/create', { name: 'search-runs' }), 'exp');
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const runId = ok(await api.post('runs/create', { experiment_id: exp, start_time: 1000 + i, run_name: `r${i}` }), 'run').run.info.run_id as string;
        ids.push(runId);
        ok(await api.post('runs/log-batch', {
          run_id: runId,
          metrics: [{ key: 'auc', value: i / 10, timestamp: 1, step: 0 }],
          params: [{ key: 'model', value: i % 2 === 0 ? 'cnn' : 'rnn' }],
          tags: [{ key: 'team', value: 'vision' }],
        }), 'log');
      }
      // MlflowClient.search_runs → POST runs/search {experiment_ids, filter, run_view_type, max_results, order_by, page_token}
      const found = ok(await api.post('runs/search', {
        experiment_ids: [exp], filter: "metrics.auc >= 0.2 and params.model = 'cnn' and tags.team = 'vision'", run_view_type: 'ACTIVE_ONLY', max_results: 1000, order_by: ['metrics.auc DESC'],
      }), 'search');
      assert.deepEqual(found.runs.map((r: any) => r.info.run_name), ['r4', 'r2']);
      const p1 = ok(await api.post('runs/search', { experiment_ids: [exp], max_results: 2, order_by: ['attributes.start_time ASC'] }), 'page 1');
      const p2 = ok(await api.post('runs/search', { experiment_ids: [exp], max_results: 2, order_by: ['attributes.start_time ASC'], page_token: p1.next_page_token }), 'page 2');
      const p3 = ok(await api.post('runs/search', { experiment_ids: [exp], max_results: 2, order_by: ['attributes.start_time ASC'], page_token: p2.next_page_token }), 'page 3');
      assert.deepEqual([...p1.runs, ...p2.runs, ...p3.runs].map((r: any) => r.info.run_id), ids);
      assert.equal(p3.next_page_token, undefined);
      const byId = ok(await api.post('runs/search', { experiment_ids: [exp], filter: `attributes.run_id IN ('${ids[1]}', '${ids[3]}')` }), 'in');
      assert.deepEqual(new Set(byId.runs.map((r: any) => r.info.run_id)), new Set([ids[1], ids[3]]));
      assert.equal(errorCode(await api.post('runs/search', { experiment_ids: [exp], filter: "metrics.auc > 0 OR params.model = 'x'" })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('runs/search', { experiment_ids: [exp], filter: "params.model = 'x'; DROP TABLE runs" })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('runs/search', { experiment_ids: [exp], page_token: 'not a token' })), 'INVALID_PARAMETER_VALUE');
    });

    test('log-inputs records dataset inputs on the run', async () => {
      const runId = ok(await api.post('runs/create', { experiment_id: '0', start_time: 1 }), 'run').run.info.run_id as string;
      // MlflowClient.log_inputs → POST runs/log-inputs {run_id, datasets: [{tags, dataset}]}
      const dataset = { name: 'iris', digest: 'abc123', source_type: 'local', source: '{"uri": "/data/iris.csv"}', schema: '{"mlflow_colspec": []}' };
      ok(await api.post('runs/log-inputs', { run_id: runId, datasets: [{ tags: [{ key: 'mlflow.data.context', value: 'training' }], dataset }] }), 'log-inputs');
      ok(await api.post('runs/log-inputs', { run_id: runId, datasets: [{ tags: [], dataset }] }), 'again (deduplicated)');
      const got = ok(await api.get('runs/get', { run_id: runId }), 'get').run;
      assert.deepEqual(got.inputs.dataset_inputs, [{ tags: [{ key: 'mlflow.data.context', value: 'training' }], dataset }]);
      assert.equal(errorCode(await api.post('runs/log-inputs', { run_id: runId, datasets: [{ dataset: { name: 'x', digest: 'd'.repeat(37), source_type: 's', source: 's' } }] })), 'INVALID_PARAMETER_VALUE');
      // mlflow.search_runs(filter_string="datasets.name = 'iris' AND datasets.context = 'training'")
      const other = ok(await api.post('runs/create', { experiment_id: '0', start_time: 2 }), 'run').run.info.run_id as string;
      ok(await api.post('runs/log-inputs', { run_id: other, datasets: [{ tags: [{ key: 'mlflow.data.context', value: 'evaluation' }], dataset: { ...dataset, digest: 'def456' } }] }), 'log-inputs');
      const found = async (filter: string) =>
        (ok(await api.post('runs/search', { experiment_ids: ['0'], filter }), filter).runs ?? []).map((r: any) => r.info.run_id as string).sort();
      assert.deepEqual(await found("datasets.name = 'iris' AND datasets.context = 'training'"), [runId]);
      assert.deepEqual(await found("datasets.digest IN ('abc123', 'def456')"), [runId, other].sort());
      assert.deepEqual(await found("datasets.context LIKE 'eval%'"), [other]);
      assert.equal(errorCode(await api.post('runs/search', { experiment_ids: ['0'], filter: "datasets.source = 'x'" })), 'INVALID_PARAMETER_VALUE');
    });

    test('model registry: create, versions from runs, stages, aliases, tags, search, rename, delete', async () => {
      const runId = ok(await api.post('runs/create', { experiment_id: '0', start_time: 1 }), 'run').run.info.run_id as string;
      // MlflowClient.create_registered_model → POST registered-models/create {name, tags, description}
      const model = ok(await api.post('registered-models/create', { name: 'churn', tags: [{ key: 'owner', value: 'risk' }], description: 'churn model' }), 'create').registered_model;
      assert.equal(model.name, 'churn');
      assert.equal(model.description, 'churn model');
      assert.equal(errorCode(await api.post('registered-models/create', { name: 'churn' })), 'RESOURCE_ALREADY_EXISTS');
      // MlflowClient.create_model_version → POST model-versions/create {name, source, run_id, tags, run_link, description}
      const v1 = ok(await api.post('model-versions/create', { name: 'churn', source: `runs:/${runId}/model`, run_id: runId }), 'v1').model_version;
      assert.equal(v1.version, '1');
      assert.equal(v1.status, 'READY');
      assert.equal(v1.current_stage, 'None');
      const v2 = ok(await api.post('model-versions/create', { name: 'churn', source: `mlflow-artifacts:/0/${runId}/artifacts/model`, run_id: runId, tags: [{ key: 'k', value: 'v' }] }), 'v2').model_version;
      assert.equal(v2.version, '2');
      assert.equal(errorCode(await api.post('model-versions/create', { name: 'churn', source: '/etc/passwd' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('model-versions/create', { name: 'churn', source: 'mlflow-artifacts:/0/../../x' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('model-versions/create', { name: 'nope', source: `runs:/${runId}/model` })), 'RESOURCE_DOES_NOT_EXIST');

      // transition_model_version_stage → POST model-versions/transition-stage {name, version, stage, archive_existing_versions}
      ok(await api.post('model-versions/transition-stage', { name: 'churn', version: '1', stage: 'Production', archive_existing_versions: false }), 'v1 prod');
      const promoted = ok(await api.post('model-versions/transition-stage', { name: 'churn', version: '2', stage: 'production', archive_existing_versions: true }), 'v2 prod').model_version;
      assert.equal(promoted.current_stage, 'Production');
      assert.equal(ok(await api.get('model-versions/get', { name: 'churn', version: '1' }), 'get v1').model_version.current_stage, 'Archived');
      assert.equal(errorCode(await api.post('model-versions/transition-stage', { name: 'churn', version: '1', stage: 'Prod' })), 'INVALID_PARAMETER_VALUE');
      // get_latest_versions → POST registered-models/get-latest-versions {name, stages}
      const latest = ok(await api.post('registered-models/get-latest-versions', { name: 'churn', stages: ['Production'] }), 'latest').model_versions;
      assert.deepEqual(latest.map((v: any) => v.version), ['2']);

      // set_registered_model_alias → POST registered-models/alias {name, alias, version}
      ok(await api.post('registered-models/alias', { name: 'churn', alias: 'champion', version: '2' }), 'alias');
      assert.equal(errorCode(await api.post('registered-models/alias', { name: 'churn', alias: 'latest', version: '2' })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('registered-models/alias', { name: 'churn', alias: 'x', version: '9' })), 'RESOURCE_DOES_NOT_EXIST');
      const byAlias = ok(await api.get('registered-models/alias', { name: 'churn', alias: 'champion' }), 'by alias').model_version;
      assert.equal(byAlias.version, '2');
      assert.deepEqual(byAlias.aliases, ['champion']);
      const full = ok(await api.get('registered-models/get', { name: 'churn' }), 'get model').registered_model;
      assert.deepEqual(full.aliases, [{ alias: 'champion', version: '2' }]);
      assert.deepEqual(full.tags, [{ key: 'owner', value: 'risk' }]);
      assert.deepEqual(full.latest_versions.map((v: any) => [v.current_stage, v.version]).sort(), [['Archived', '1'], ['Production', '2']]);

      // get_model_version_download_uri → GET model-versions/get-download-uri?name=&version=
      assert.equal(ok(await api.get('model-versions/get-download-uri', { name: 'churn', version: '1' }), 'uri').artifact_uri, `runs:/${runId}/model`);
      ok(await api.post('model-versions/set-tag', { name: 'churn', version: '1', key: 'validated', value: 'yes' }), 'mv tag');
      ok(await api.patch('model-versions/update', { name: 'churn', version: '1', description: 'first' }), 'mv update');
      ok(await api.post('registered-models/set-tag', { name: 'churn', key: 'domain', value: 'telco' }), 'rm tag');
      ok(await api.delete('registered-models/delete-tag', { name: 'churn', key: 'owner' }), 'rm delete tag');
      ok(await api.patch('registered-models/update', { name: 'churn', description: 'updated' }), 'rm update');
      // search_model_versions → GET model-versions/search?filter=...
      const mvs = ok(await api.get('model-versions/search', { filter: "name = 'churn' and tags.validated = 'yes'" }), 'search mv').model_versions;
      assert.deepEqual(mvs.map((v: any) => [v.version, v.description]), [['1', 'first']]);
      const byRun = ok(await api.get('model-versions/search', { filter: `run_id = '${runId}'`, order_by: ['version_number ASC'] }), 'search by run').model_versions;
      assert.deepEqual(byRun.map((v: any) => v.version), ['1', '2']);
      // search_registered_models → GET registered-models/search?filter=&max_results=&order_by=
      ok(await api.post('registered-models/create', { name: 'churn-lite' }), 'second model');
      const rms = ok(await api.get('registered-models/search', { filter: "name LIKE 'churn%'", max_results: 1, order_by: ['name ASC'] }), 'search rm');
      assert.deepEqual(rms.registered_models.map((m: any) => m.name), ['churn']);
      const rms2 = ok(await api.get('registered-models/search', { filter: "name LIKE 'churn%'", max_results: 1, order_by: ['name ASC'], page_token: rms.next_page_token }), 'search rm 2');
      assert.deepEqual(rms2.registered_models.map((m: any) => m.name), ['churn-lite']);

      // rename carries versions, tags and aliases along.
      const renamed = ok(await api.post('registered-models/rename', { name: 'churn', new_name: 'churn-v2' }), 'rename').registered_model;
      assert.equal(renamed.name, 'churn-v2');
      assert.deepEqual(renamed.aliases, [{ alias: 'champion', version: '2' }]);
      assert.equal(ok(await api.get('model-versions/get', { name: 'churn-v2', version: '1' }), 'renamed version').model_version.tags[0].key, 'validated');
      assert.equal(errorCode(await api.get('registered-models/get', { name: 'churn' })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await api.post('registered-models/rename', { name: 'churn-v2', new_name: 'churn-lite' })), 'RESOURCE_ALREADY_EXISTS');

      // Deleting a version removes its aliases; numbers are never reused.
      ok(await api.delete('model-versions/delete', { name: 'churn-v2', version: '2' }), 'delete v2');
      assert.equal(errorCode(await api.get('registered-models/alias', { name: 'churn-v2', alias: 'champion' })), 'RESOURCE_DOES_NOT_EXIST');
      const v3 = ok(await api.post('model-versions/create', { name: 'churn-v2', source: `runs:/${runId}/model` }), 'v3').model_version;
      assert.equal(v3.version, '3');
      ok(await api.delete('registered-models/delete', { name: 'churn-v2' }), 'delete model');
      assert.equal(errorCode(await api.get('model-versions/get', { name: 'churn-v2', version: '1' })), 'RESOURCE_DOES_NOT_EXIST');
      assert.equal(errorCode(await api.delete('registered-models/delete', { name: 'churn-v2' })), 'RESOURCE_DOES_NOT_EXIST');
    });

    test('the /ajax-api alias, HTTP basic auth, and the X-MLFLOW-WORKSPACE header on tracking and artifact routes', async () => {
      const ajax = mlflowHttp(p, tenant.tokens.viewer, '/ajax-api/2.0/mlflow');
      assert.equal(ok(await ajax.get('experiments/get', { experiment_id: '0' }), 'ajax').experiment.name, 'Default');
      // MLFLOW_TRACKING_USERNAME/PASSWORD: basic auth with the token as password.
      const basic = await p.app.inject({
        method: 'GET', url: '/api/2.0/mlflow/experiments/get?experiment_id=0',
        headers: { authorization: `Basic ${Buffer.from(`anyone:${tenant.tokens.viewer}`).toString('base64')}` },
      });
      assert.equal(basic.statusCode, 200);
      const own = await api.get('experiments/get', { experiment_id: '0' }, { 'x-mlflow-workspace': tenant.slug });
      assert.equal(own.status, 200);
      const other = await api.get('experiments/get', { experiment_id: '0' }, { 'x-mlflow-workspace': 'some-other-team' });
      assert.equal(other.status, 404);
      assert.equal(other.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
      const otherWrite = await api.post('experiments/create', { name: 'via-workspace' }, { 'x-mlflow-workspace': 'some-other-team' });
      assert.equal(otherWrite.status, 404);
      assert.equal(errorCode(await api.get('experiments/get-by-name', { experiment_name: 'via-workspace' })), 'RESOURCE_DOES_NOT_EXIST');

      // The artifact API honours the header the same way: upload, list, download and delete.
      const artifact = (method: 'GET' | 'PUT' | 'DELETE', path: string, workspace: string, payload?: string) =>
        p.app.inject({
          method, url: `/api/2.0/mlflow-artifacts/artifacts${path}`,
          headers: { authorization: `Bearer ${tenant.tokens.member}`, 'x-mlflow-workspace': workspace, ...(payload === undefined ? {} : { 'content-type': 'application/octet-stream' }) },
          ...(payload === undefined ? {} : { payload }),
        });
      assert.equal((await artifact('PUT', '/ws/own.txt', tenant.slug, 'own workspace')).statusCode, 200);
      for (const [method, path, payload] of [['PUT', '/ws/other.txt', 'other workspace'], ['GET', '/ws/own.txt'], ['GET', '?path=ws'], ['DELETE', '/ws/own.txt']] as const) {
        const refused = await artifact(method, path, 'some-other-team', payload);
        assert.equal(refused.statusCode, 404, `${method} ${path}: ${refused.body}`);
        assert.equal(JSON.parse(refused.body).error_code, 'RESOURCE_DOES_NOT_EXIST');
      }
      const listed = await artifact('GET', '?path=ws', tenant.slug);
      assert.deepEqual(JSON.parse(listed.body).files.map((f: { path: string }) => f.path), ['own.txt']);
      assert.equal((await artifact('GET', '/ws/own.txt', tenant.slug)).body, 'own workspace');
    });

    test('a viewer reads but cannot write; no token is UNAUTHENTICATED in MLflow error format', async () => {
      const viewer = mlflowHttp(p, tenant.tokens.viewer);
      const denied = await viewer.post('experiments/create', { name: 'viewer-exp' });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error_code, 'PERMISSION_DENIED');
      assert.equal(errorCode(await viewer.post('registered-models/create', { name: 'viewer-model' })), 'PERMISSION_DENIED');
      const anonymous = await p.app.inject({ method: 'GET', url: '/api/2.0/mlflow/experiments/get?experiment_id=0' });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(JSON.parse(anonymous.body).error_code, 'UNAUTHENTICATED');
    });

    test('lifecycle and registry changes are audited in the same transaction; high-volume logging is not', async () => {
      const before = await withSystem(p.database.owner, async (tx) => (await tx.query<{ action: string }>('SELECT action FROM audit_events WHERE tenant_id = $1', [tenant.id])).rows.length);
      const runId = ok(await api.post('runs/create', { experiment_id: '0', start_time: 1 }), 'run').run.info.run_id as string;
      for (let i = 0; i < 5; i += 1) ok(await api.post('runs/log-metric', { run_id: runId, key: 'x', value: i, timestamp: i }), 'metric');
      ok(await api.post('runs/delete', { run_id: runId }), 'delete');
      ok(await api.post('registered-models/create', { name: 'audited' }), 'model');
      const events = await withSystem(p.database.owner, async (tx) =>
        (await tx.query<{ action: string; target: string }>('SELECT action, target FROM audit_events WHERE tenant_id = $1 ORDER BY id', [tenant.id])).rows);
      const added = events.slice(before).filter((e) => e.action.startsWith('tracking.') || e.action.startsWith('models.'));
      assert.deepEqual(added.map((e) => [e.action, e.target]), [
        ['tracking.run.create', `run:${runId}`],
        ['tracking.run.delete', `run:${runId}`],
        ['models.registered_model.create', 'model:audited'],
      ]);
      // A run refused for its experiment writes no audit event either (it goes in with the run, or not at all).
      const gone = ok(await api.post('experiments/create', { name: 'audited-then-deleted' }), 'exp').experiment_id as string;
      ok(await api.post('experiments/delete', { experiment_id: gone }), 'delete exp');
      assert.equal(errorCode(await api.post('runs/create', { experiment_id: gone, start_time: 1 })), 'INVALID_PARAMETER_VALUE');
      assert.equal(errorCode(await api.post('runs/create', { experiment_id: '987654', start_time: 1 })), 'RESOURCE_DOES_NOT_EXIST');
      const creates = await withSystem(p.database.owner, async (tx) =>
        (await tx.query('SELECT 1 FROM audit_events WHERE tenant_id = $1 AND action = $2', [tenant.id, 'tracking.run.create'])).rows.length);
      assert.equal(creates, events.filter((e) => e.action === 'tracking.run.create').length);
    });
  });
}
