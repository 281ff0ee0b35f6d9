/**
 * The npm `mlflow` client (v2.0.7) against a listening server, on PGlite and PostgreSQL: experiments,
 * runs, logging, search and metric history, for two tenants side by side, each with its own token.
 *
 * Client quirks worth knowing (node_modules/mlflow/lib): it lists experiments with MLflow 1.x's
 * `experiments/list` (served here as an alias of search), and its `setExperimentTag` posts to a path
 * without the separating slash (`.../experimentsset-experiment-tag`), so that one method cannot work
 * against any MLflow server; it also console.logs every POST body, silenced here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mlflowPackage from 'mlflow';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';

// The package's entry (index.js) sets module.exports to the class, while its types describe an ES module
// with a default export: under NodeNext the default import is typed as that module, so take its
// `default` for the type and accept either shape at run time.
type MLflowClass = typeof mlflowPackage.default;
const MLflow: MLflowClass = typeof mlflowPackage === 'function' ? (mlflowPackage as unknown as MLflowClass) : mlflowPackage.default;
type Client = InstanceType<MLflowClass>;

/** The client throws Error(JSON.stringify({status, statusText, data})) wrapped once more in Error. */
const failure = async (promise: Promise<unknown>): Promise<{ status: number; data: any }> => {
  try {
    await promise;
  } catch (error) {
    const text = String((error as Error).message).replace(/^Error: /, '');
    return JSON.parse(text) as { status: number; data: any };
  }
  throw new Error('expected the call to fail');
};

for (const kind of databaseKinds) {
  describe(`npm mlflow client on ${kind}`, () => {
    let p: TestPlatform;
    let alpha: TestTenant;
    let beta: TestTenant;
    let endpoint: string;
    let quietLog: typeof console.log;
    const clientFor = (token: string): Client => new MLflow({ endpoint, headers: { Authorization: `Bearer ${token}` } });

    before(async () => {
      p = await createTestPlatform(kind);
      alpha = await p.createTenant('npm-alpha');
      beta = await p.createTenant('npm-beta');
      endpoint = await p.app.listen({ port: 0, host: '127.0.0.1' });
      quietLog = console.log;
      console.log = () => {};
    });
    after(async () => {
      console.log = quietLog;
      await p.close();
    });

    test('experiments and runs through the client, two tenants side by side', async () => {
      const a = clientFor(alpha.tokens.member);
      const b = clientFor(beta.tokens.member);
      const { experiment_id: expA } = await a.Experiments.create({ name: 'npm-exp', artifact_location: '' });
      const { experiment_id: expB } = await b.Experiments.create({ name: 'npm-exp', artifact_location: '' });
      assert.equal(expA, expB, 'same name and id in both tenants, no collision');
      const listed = await a.Experiments.list();
      assert.deepEqual(listed.experiments.map((e) => e.name).sort(), ['Default', 'npm-exp']);
      await a.Experiments.update({ experiment_id: expA, new_name: 'npm-exp-renamed' });
      assert.equal((await a.Experiments.get({ experiment_id: expA })).experiment.name, 'npm-exp-renamed');
      assert.equal((await b.Experiments.get({ experiment_id: expB })).experiment.name, 'npm-exp', "beta's experiment is untouched");

      const { run } = await a.Runs.create({ experiment_id: expA, user_id: 'alice', start_time: 1_700_000_000_000, tags: [{ key: 'source', value: 'npm' }] });
      const runId = run.info.run_id;
      assert.equal(run.info.artifact_uri, `mlflow-artifacts:/${expA}/${runId}/artifacts`);
      await a.Runs.logMetric({ run_id: runId, key: 'loss', value: 0.4, timestamp: 1, step: 0 });
      await a.Runs.logMetric({ run_id: runId, key: 'loss', value: 0.2, timestamp: 2, step: 1 });
      await a.Runs.logParameter({ run_id: runId, key: 'lr', value: '0.01' });
      await a.Runs.setTag({ run_id: runId, key: 'stage', value: 'dev' });
      await a.Runs.logBatch({ run_id: runId, metrics: [{ key: 'acc', value: 0.9, timestamp: 3, step: 1 }], params: [{ key: 'depth', value: '4' }], tags: [{ key: 'x', value: 'y' }] });
      await a.Runs.deleteTag({ run_id: runId, key: 'x' });
      const { metrics } = await a.Metrics.getHistory({ run_id: runId, metric_key: 'loss' });
      assert.deepEqual(metrics.map((m) => m.value), [0.4, 0.2]);
      const got = await a.Runs.get({ run_id: runId });
      assert.deepEqual(got.run.data.params.map((q) => `${q.key}=${q.value}`), ['depth=4', 'lr=0.01']);
      assert.ok(!got.run.data.tags.some((t) => t.key === 'x'));
      const found = await a.Runs.search({ experiment_ids: [expA], filter: "metrics.loss < 0.3 and params.lr = '0.01'" });
      assert.deepEqual(found.runs.map((r) => r.info.run_id), [runId]);
      const { run_info: finished } = await a.Runs.update({ run_id: runId, status: 'FINISHED' as never, end_time: 1_700_000_001_000 });
      assert.equal(finished.status, 'FINISHED');

      // Param immutability, as MLflow: the client sees INVALID_PARAMETER_VALUE with HTTP 400.
      const changed = await failure(a.Runs.logParameter({ run_id: runId, key: 'lr', value: '0.5' }));
      assert.equal(changed.status, 400);
      assert.equal(changed.data.error_code, 'INVALID_PARAMETER_VALUE');

      // Tenant beta with alpha's run id: not found, and alpha's run is unchanged.
      const beforeAttempts = await a.Runs.get({ run_id: runId });
      for (const call of [
        () => b.Runs.get({ run_id: runId }),
        () => b.Runs.logMetric({ run_id: runId, key: 'loss', value: 99, timestamp: 9, step: 9 }),
        () => b.Runs.logBatch({ run_id: runId, metrics: [{ key: 'loss', value: 99, timestamp: 9, step: 9 }] }),
        () => b.Metrics.getHistory({ run_id: runId, metric_key: 'loss' }),
        () => b.Runs.delete({ run_id: runId }),
      ]) {
        const refused = await failure(call());
        assert.equal(refused.status, 404);
        assert.equal(refused.data.error_code, 'RESOURCE_DOES_NOT_EXIST');
      }
      assert.deepEqual((await b.Runs.search({ experiment_ids: [expA] })).runs ?? [], []);
      assert.deepEqual(await a.Runs.get({ run_id: runId }), beforeAttempts);
      assert.deepEqual((await a.Metrics.getHistory({ run_id: runId, metric_key: 'loss' })).metrics.map((m) => m.value), [0.4, 0.2]);

      await a.Runs.delete({ run_id: runId });
      assert.equal((await a.Runs.get({ run_id: runId })).run.info.lifecycle_stage, 'deleted');
      await a.Runs.restore({ run_id: runId });
      await a.Experiments.delete({ experiment_id: expA });
      assert.equal((await a.Experiments.get({ experiment_id: expA })).experiment.lifecycle_stage, 'deleted');
      await a.Experiments.restore({ experiment_id: expA });
      assert.equal((await b.Experiments.get({ experiment_id: expB })).experiment.lifecycle_stage, 'active');
    });

    test("a token of one tenant cannot read the other's experiment by id", async () => {
      const a = clientFor(alpha.tokens.member);
      const b = clientFor(beta.tokens.viewer);
      const { experiment_id: onlyAlpha } = await a.Experiments.create({ name: 'alpha-private', artifact_location: '' });
      const refused = await failure(b.Experiments.get({ experiment_id: onlyAlpha }));
      assert.equal(refused.status, 404);
      assert.equal(refused.data.error_code, 'RESOURCE_DOES_NOT_EXIST');
      const noToken = await failure(new MLflow({ endpoint }).Experiments.get({ experiment_id: '0' }));
      assert.equal(noToken.status, 401);
    });
  });
}
