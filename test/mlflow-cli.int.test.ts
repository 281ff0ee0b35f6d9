/**
 * `bulkhead experiment|run|model ...` against a listening server, on PGlite and PostgreSQL: the commands
 * speak the MLflow API with the CLI's token, print tables or JSON, and report MLflow errors with the
 * platform's codes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliWith } from './support/cli.ts';
import { databaseKinds } from './support/databases.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { mlflowHttp } from './support/mlflow-http.ts';

for (const kind of databaseKinds) {
  describe(`bulkhead experiment/run/model commands on ${kind}`, () => {
    let p: TestPlatform;
    let tenant: TestTenant;
    let other: TestTenant;
    let url: string;
    let dir: string;

    const run = (args: string[], token: string) => runCliWith(args, { BULKHEAD_CLI_CONFIG: join(dir, 'cli.json'), BULKHEAD_URL: url, BULKHEAD_TOKEN: token });

    before(async () => {
      p = await createTestPlatform(kind);
      tenant = await p.createTenant('cli-team');
      other = await p.createTenant('cli-other');
      url = await p.listen();
      dir = mkdtempSync(join(tmpdir(), 'bulkhead-cli-mlflow-'));
    });
    after(async () => {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('experiments: create, list, show, delete', async () => {
      const token = tenant.tokens.member;
      const created = await run(['experiment', 'create', 'cli-exp'], token);
      assert.equal(created.code, 0, created.err);
      assert.match(created.out, /created experiment 1 \(cli-exp\)/);
      const listed = JSON.parse((await run(['--json', 'experiment', 'list'], token)).out) as { name: string }[];
      assert.deepEqual(listed.map((e) => e.name).sort(), ['Default', 'cli-exp']);
      assert.match((await run(['experiment', 'show', 'cli-exp'], token)).out, /artifacts\s+mlflow-artifacts:\/1/);
      const dup = await run(['experiment', 'create', 'cli-exp'], token);
      assert.equal(dup.code, 1);
      assert.match(dup.err, /error \[CONFLICT\]/);
      assert.equal((await run(['experiment', 'delete', '1'], token)).code, 0);
      assert.match((await run(['experiment', 'list', '--all'], token)).out, /cli-exp\s+deleted/);
      // The other tenant sees none of it.
      const missing = await run(['experiment', 'show', 'cli-exp'], other.tokens.member);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /error \[NOT_FOUND\]/);
    });

    test('runs and models: list, show, versions, delete', async () => {
      const api = mlflowHttp(p, tenant.tokens.member);
      const exp = (await api.post('experiments/create', { name: 'cli-runs' })).body.experiment_id as string;
      const runId = (await api.post('runs/create', { experiment_id: exp, start_time: 1, run_name: 'cli-run' })).body.run.info.run_id as string;
      await api.post('runs/log-batch', { run_id: runId, metrics: [{ key: 'auc', value: 0.93, timestamp: 1, step: 0 }], params: [{ key: 'lr', value: '0.1' }] });
      await api.post('registered-models/create', { name: 'cli-model' });
      await api.post('model-versions/create', { name: 'cli-model', source: `runs:/${runId}/model`, run_id: runId });
      await api.post('registered-models/alias', { name: 'cli-model', alias: 'champion', version: '1' });

      const runs = await run(['run', 'list', '--experiment', 'cli-runs', '--filter', 'metrics.auc > 0.9'], tenant.tokens.viewer);
      assert.equal(runs.code, 0, runs.err);
      assert.match(runs.out, new RegExp(`${runId}\\s+cli-run\\s+RUNNING`));
      assert.match(runs.out, /auc=0\.93/);
      const shown = await run(['run', 'show', runId], tenant.tokens.viewer);
      assert.match(shown.out, /lr\s+0\.1/);
      const models = await run(['model', 'list'], tenant.tokens.viewer);
      assert.match(models.out, /cli-model\s+v1:None\s+champion→v1/);
      assert.match((await run(['model', 'show', 'cli-model'], tenant.tokens.viewer)).out, /aliases\s+champion→v1/);
      const versions = JSON.parse((await run(['--json', 'model', 'versions', 'cli-model'], tenant.tokens.viewer)).out) as { version: string; run_id: string }[];
      assert.deepEqual(versions.map((v) => [v.version, v.run_id]), [['1', runId]]);
      const denied = await run(['run', 'delete', runId], tenant.tokens.viewer);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /error \[FORBIDDEN\]/);
      assert.equal((await run(['run', 'delete', runId], tenant.tokens.member)).code, 0);
      assert.equal((await api.get('runs/get', { run_id: runId })).body.run.info.lifecycle_stage, 'deleted');
      const foreign = await run(['run', 'show', runId], other.tokens.owner);
      assert.match(foreign.err, /error \[NOT_FOUND\]/);
    });
  });
}
