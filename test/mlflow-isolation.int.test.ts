/**
 * Two tenants side by side on the MLflow API, on PGlite and PostgreSQL. Every attempt of one tenant on
 * the other's experiments, runs and models — ids guessed, names reused, run ids smuggled into
 * log-batch, get-history and model versions — answers RESOURCE_DOES_NOT_EXIST (404), exactly as for a
 * missing resource, and the other tenant's data is left as it was (compared before and after, through
 * the API and in the tables).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withSystem, withTenant } from '../src/db/index.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { mlflowHttp } from './support/mlflow-http.ts';
import type { MlflowHttp, MlflowResponse } from './support/mlflow-http.ts';

const ok = (response: MlflowResponse, what: string) => {
  assert.equal(response.status, 200, `${what}: ${JSON.stringify(response.body)}`);
  return response.body;
};

const notFound = (response: MlflowResponse, what: string) => {
  assert.equal(response.status, 404, `${what}: expected 404, got ${response.status} ${JSON.stringify(response.body)}`);
  assert.equal(response.body.error_code, 'RESOURCE_DOES_NOT_EXIST', what);
};

for (const kind of databaseKinds) {
  describe(`MLflow tenant isolation on ${kind}`, () => {
    let p: TestPlatform;
    let alpha: TestTenant;
    let beta: TestTenant;
    let a: MlflowHttp;
    let b: MlflowHttp;
    let alphaExp: string;
    let alphaRun: string;
    let betaRun: string;

    /** Everything tenant alpha owns, as the API shows it and as the tables hold it. */
    const snapshot = async () => ({
      experiments: ok(await a.post('experiments/search', { view_type: 'ALL', max_results: 1000 }), 'search').experiments,
      run: ok(await a.get('runs/get', { run_id: alphaRun }), 'get run').run,
      history: ok(await a.get('metrics/get-history', { run_id: alphaRun, metric_key: 'loss' }), 'history').metrics,
      models: ok(await a.get('registered-models/search', {}), 'models').registered_models,
      versions: ok(await a.get('model-versions/search', {}), 'versions').model_versions,
      rows: await withSystem(p.database.owner, async (tx) => {
        const counts: Record<string, number> = {};
        for (const table of ['experiments', 'experiment_tags', 'runs', 'run_params', 'run_tags', 'run_metrics', 'run_latest_metrics', 'run_inputs',
          'registered_models', 'registered_model_tags', 'model_versions', 'model_version_tags', 'registered_model_aliases']) {
          counts[table] = Number((await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [alpha.id])).rows[0]?.n);
        }
        return counts;
      }),
    });

    before(async () => {
      p = await createTestPlatform(kind);
      alpha = await p.createTenant('alpha');
      beta = await p.createTenant('beta');
      a = mlflowHttp(p, alpha.tokens.member);
      b = mlflowHttp(p, beta.tokens.owner);
      // Both tenants use the same names; ids are per tenant, so both get experiment 1.
      alphaExp = ok(await a.post('experiments/create', { name: 'shared-name', tags: [{ key: 'k', value: 'alpha' }] }), 'a exp').experiment_id;
      const betaExp = ok(await b.post('experiments/create', { name: 'shared-name' }), 'b exp').experiment_id;
      assert.equal(alphaExp, betaExp, 'experiment ids are per tenant');
      ok(await a.post('experiments/create', { name: 'alpha-only' }), 'a exp 2');
      alphaRun = ok(await a.post('runs/create', { experiment_id: alphaExp, start_time: 1, run_name: 'alpha-run' }), 'a run').run.info.run_id;
      betaRun = ok(await b.post('runs/create', { experiment_id: betaExp, start_time: 1 }), 'b run').run.info.run_id;
      ok(await a.post('runs/log-batch', {
        run_id: alphaRun,
        metrics: [{ key: 'loss', value: 0.5, timestamp: 10, step: 1 }],
        params: [{ key: 'lr', value: '0.1' }],
        tags: [{ key: 'team', value: 'alpha' }],
      }), 'a log');
      ok(await a.post('runs/log-inputs', { run_id: alphaRun, datasets: [{ dataset: { name: 'd', digest: 'x', source_type: 'local', source: 's' } }] }), 'a inputs');
      ok(await a.post('registered-models/create', { name: 'churn', tags: [{ key: 'k', value: 'alpha' }] }), 'a model');
      ok(await b.post('registered-models/create', { name: 'churn' }), 'b model with the same name');
      ok(await a.post('registered-models/create', { name: 'alpha-model' }), 'a model 2');
      ok(await a.post('model-versions/create', { name: 'alpha-model', source: `runs:/${alphaRun}/model`, run_id: alphaRun, tags: [{ key: 'k', value: 'v' }] }), 'a version');
      ok(await a.post('registered-models/alias', { name: 'alpha-model', alias: 'prod', version: '1' }), 'a alias');
    });
    after(async () => p.close());

    test("every attempt on the other tenant's runs, experiments and models is RESOURCE_DOES_NOT_EXIST and changes nothing", async () => {
      const before = await snapshot();
      const alphaExp2 = before.experiments.find((e: any) => e.name === 'alpha-only').experiment_id as string;

      // Runs: guessed (leaked) run id in every run endpoint.
      notFound(await b.get('runs/get', { run_id: alphaRun }), 'runs/get');
      notFound(await b.post('runs/log-batch', { run_id: alphaRun, metrics: [{ key: 'loss', value: 99, timestamp: 99, step: 99 }], params: [{ key: 'lr', value: '9' }], tags: [{ key: 'team', value: 'beta' }] }), 'log-batch');
      notFound(await b.post('runs/log-batch', { run_id: alphaRun, params: [{ key: 'new', value: '1' }] }), 'log-batch params only');
      notFound(await b.post('runs/log-batch', { run_id: alphaRun }), 'empty log-batch');
      notFound(await b.post('runs/log-metric', { run_id: alphaRun, key: 'loss', value: 99, timestamp: 99, step: 100 }), 'log-metric');
      notFound(await b.post('runs/log-parameter', { run_id: alphaRun, key: 'x', value: '1' }), 'log-parameter');
      notFound(await b.post('runs/set-tag', { run_id: alphaRun, key: 'team', value: 'beta' }), 'set-tag');
      notFound(await b.post('runs/delete-tag', { run_id: alphaRun, key: 'team' }), 'delete-tag');
      notFound(await b.post('runs/update', { run_id: alphaRun, status: 'KILLED', end_time: 5 }), 'update');
      notFound(await b.post('runs/delete', { run_id: alphaRun }), 'delete');
      notFound(await b.post('runs/restore', { run_id: alphaRun }), 'restore');
      notFound(await b.post('runs/log-inputs', { run_id: alphaRun, datasets: [{ dataset: { name: 'e', digest: 'y', source_type: 'local', source: 's' } }] }), 'log-inputs');
      notFound(await b.get('metrics/get-history', { run_id: alphaRun, metric_key: 'loss' }), 'get-history');
      notFound(await b.get('metrics/get-history-bulk-interval', { run_ids: [betaRun, alphaRun], metric_key: 'loss' }), 'get-history-bulk-interval');
      // Search never reaches the other tenant's runs, by experiment id or by run id.
      assert.deepEqual(ok(await b.post('runs/search', { experiment_ids: [alphaExp2] }), 'search').runs, []);
      const byId = ok(await b.post('runs/search', { experiment_ids: ['0', '1', '2'], filter: `attributes.run_id = '${alphaRun}'` }), 'search by id');
      assert.deepEqual(byId.runs, []);

      // Experiments: alpha's experiment 2 does not exist for beta (beta has only 0 and 1).
      notFound(await b.get('experiments/get', { experiment_id: alphaExp2 }), 'experiments/get');
      notFound(await b.get('experiments/get-by-name', { experiment_name: 'alpha-only' }), 'get-by-name');
      notFound(await b.post('experiments/update', { experiment_id: alphaExp2, new_name: 'stolen' }), 'experiments/update');
      notFound(await b.post('experiments/delete', { experiment_id: alphaExp2 }), 'experiments/delete');
      notFound(await b.post('experiments/restore', { experiment_id: alphaExp2 }), 'experiments/restore');
      notFound(await b.post('experiments/set-experiment-tag', { experiment_id: alphaExp2, key: 'k', value: 'beta' }), 'set-experiment-tag');
      notFound(await b.post('runs/create', { experiment_id: alphaExp2, start_time: 1 }), 'runs/create in the other tenant experiment');
      assert.ok(!ok(await b.post('experiments/search', { view_type: 'ALL' }), 'b search').experiments.some((e: any) => e.name === 'alpha-only'));
      // The shared name resolves to beta's own experiment; changing it leaves alpha's alone.
      ok(await b.post('experiments/set-experiment-tag', { experiment_id: alphaExp, key: 'k', value: 'beta' }), 'own tag on same id');
      ok(await b.post('experiments/delete', { experiment_id: alphaExp }), 'beta deletes its own experiment 1');

      // Models: alpha's model names and versions.
      notFound(await b.get('registered-models/get', { name: 'alpha-model' }), 'registered-models/get');
      notFound(await b.post('registered-models/rename', { name: 'alpha-model', new_name: 'stolen' }), 'rename');
      notFound(await b.patch('registered-models/update', { name: 'alpha-model', description: 'x' }), 'update');
      notFound(await b.post('registered-models/set-tag', { name: 'alpha-model', key: 'k', value: 'beta' }), 'set-tag');
      notFound(await b.delete('registered-models/delete-tag', { name: 'alpha-model', key: 'k' }), 'delete-tag');
      notFound(await b.post('registered-models/get-latest-versions', { name: 'alpha-model' }), 'latest');
      notFound(await b.post('registered-models/alias', { name: 'alpha-model', alias: 'prod', version: '1' }), 'alias set');
      notFound(await b.delete('registered-models/alias', { name: 'alpha-model', alias: 'prod' }), 'alias delete');
      notFound(await b.get('registered-models/alias', { name: 'alpha-model', alias: 'prod' }), 'alias get');
      notFound(await b.delete('registered-models/delete', { name: 'alpha-model' }), 'delete');
      notFound(await b.get('model-versions/get', { name: 'alpha-model', version: '1' }), 'version get');
      notFound(await b.get('model-versions/get-download-uri', { name: 'alpha-model', version: '1' }), 'download uri');
      notFound(await b.patch('model-versions/update', { name: 'alpha-model', version: '1', description: 'x' }), 'version update');
      notFound(await b.post('model-versions/transition-stage', { name: 'alpha-model', version: '1', stage: 'Archived' }), 'transition');
      notFound(await b.post('model-versions/set-tag', { name: 'alpha-model', version: '1', key: 'k', value: 'b' }), 'version tag');
      notFound(await b.delete('model-versions/delete-tag', { name: 'alpha-model', version: '1', key: 'k' }), 'version delete tag');
      notFound(await b.delete('model-versions/delete', { name: 'alpha-model', version: '1' }), 'version delete');
      notFound(await b.post('model-versions/create', { name: 'alpha-model', source: `runs:/${betaRun}/model` }), 'version create on their model');
      // beta's own model, but pointing at alpha's run: the run is unknown to beta.
      notFound(await b.post('model-versions/create', { name: 'churn', source: `runs:/${alphaRun}/model` }), 'source = other tenant run');
      notFound(await b.post('model-versions/create', { name: 'churn', source: `runs:/${betaRun}/model`, run_id: alphaRun }), 'run_id = other tenant run');
      assert.deepEqual(ok(await b.get('model-versions/search', { filter: `run_id = '${alphaRun}'` }), 'mv search').model_versions, []);
      assert.deepEqual(ok(await b.get('registered-models/search', {}), 'rm search').registered_models.map((m: any) => m.name), ['churn']);
      // The same name is beta's own model: deleting it leaves alpha's "churn" in place.
      ok(await b.delete('registered-models/delete', { name: 'churn' }), 'beta deletes its own churn');

      // A workspace header naming the other tenant is a workspace that does not exist.
      notFound(await b.get('runs/get', { run_id: betaRun }, { 'x-mlflow-workspace': 'alpha' }), 'workspace header');

      const after = await snapshot();
      assert.deepEqual(after, before);
      assert.ok(after.rows['run_metrics']! > 0 && after.rows['model_versions']! > 0, 'the snapshot covers real data');
      // Nothing was written under beta's id that points at alpha's run.
      const smuggled = await withSystem(p.database.owner, async (tx) =>
        (await tx.query<{ n: number }>(
          `SELECT ((SELECT count(*) FROM run_metrics WHERE run_id = $1 AND tenant_id <> $2) + (SELECT count(*) FROM run_params WHERE run_id = $1 AND tenant_id <> $2)
                 + (SELECT count(*) FROM run_tags WHERE run_id = $1 AND tenant_id <> $2))::int AS n`, [alphaRun, alpha.id])).rows[0]?.n);
      assert.equal(smuggled, 0);
    });

    test("the database refuses beta's rows on alpha's run even when the service check is bypassed", async () => {
      // Defense in depth below the service: as beta, straight SQL naming alpha's run id.
      await assert.rejects(
        withTenant(p.database.db, beta.id, (tx) => tx.query(`INSERT INTO run_params (tenant_id, run_id, key, value) VALUES ($1, $2, 'x', 'y')`, [beta.id, alphaRun])),
        /foreign key|violates/,
      );
      await assert.rejects(
        withTenant(p.database.db, beta.id, (tx) => tx.query(`INSERT INTO run_metrics (tenant_id, run_id, key, step, timestamp, value, is_nan) VALUES ($1, $2, 'loss', 0, 0, 1, false)`, [alpha.id, alphaRun])),
        /row-level security/,
      );
      const seen = await withTenant(p.database.db, beta.id, async (tx) => (await tx.query('SELECT 1 FROM runs WHERE id = $1', [alphaRun])).rows.length);
      assert.equal(seen, 0);
    });
  });
}
