/**
 * The example training job end to end: dataset version → job (sandbox) reading /data and /code → MLflow
 * params and per-epoch metrics through the relay → /outputs stored as the tenant's encrypted artifacts →
 * registered from the job, deployed and called with the request body of examples/train-logreg/README.md.
 * Also: a symlink a job plants in /outputs is not followed when outputs are collected.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

for (const kind of databaseKinds) {
  describe(`example training job on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhex-${randomBytes(4).toString('hex')}`, relayPort: 18768 });
      acme = await p.createTenant('acme');
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    const waitFor = async (id: string) => {
      for (let i = 0; i < 600; i += 1) {
        const job = await p.call('GET', `/api/v1/tenants/acme/jobs/${id}`, acme.tokens.viewer);
        if (terminal.has(job.body.status)) return job.body;
        await p.platform.jobs.runner.tick();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('job did not finish');
    };

    test('dataset → sandboxed training → metrics in the run → model in the artifact store', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bulkhead-example-'));
      execFileSync('python3', ['examples/train-logreg/make-data.py', join(dir, 'churn.csv'), '500']);  // as the example's README
      const ctx = { actor: 'test', requestId: 'test' };
      const version = await p.platform.datasets.pushVersion(ctx, acme.id, 'churn', (async function* () {
        yield { path: 'churn.csv', stream: Readable.from(readFileSync(join(dir, 'churn.csv'))) };
      })());
      assert.equal(version.version, 1);
      await p.platform.artifacts.putArtifact(ctx, acme.id, 'code/train.py', Readable.from(readFileSync('examples/train-logreg/train.py')));

      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, {
        name: 'train-churn',
        command: ['python3', '/code/train.py'],
        // The README's defaults: 50 epochs (EPOCHS) on 500 rows.
        datasets: ['churn:1'],
        codeBundle: 'code/train.py',
        resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 120 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const job = await waitFor(created.body.id);
      const logs = (await p.app.inject({ method: 'GET', url: `/api/v1/tenants/acme/jobs/${job.id}/logs`, headers: { authorization: `Bearer ${acme.tokens.viewer}` } })).body;
      assert.equal(job.status, 'succeeded', logs);
      assert.match(logs, /loaded 500 rows with 3 features/);
      assert.match(job.codeDigest, /^[0-9a-f]{64}$/);

      const run = await p.call('GET', `/api/2.0/mlflow/runs/get?run_id=${job.runId}`, acme.tokens.viewer);
      assert.equal(run.body.run.info.status, 'FINISHED');
      assert.ok(run.body.run.data.params.some((param: { key: string; value: string }) => param.key === 'epochs' && param.value === '50'));
      const history = await p.call('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${job.runId}&metric_key=loss`, acme.tokens.viewer);
      assert.equal(history.body.metrics.length, 50);

      assert.equal(job.outputs.length, 1);
      const model = job.outputs[0];
      assert.match(model.path, new RegExp(`/${job.runId}/artifacts/outputs/model.json$`));
      const download = await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${model.path}`, headers: { authorization: `Bearer ${acme.tokens.viewer}` } });
      assert.equal(download.statusCode, 200);
      const parsed = JSON.parse(download.body) as { kind: string; weights: number[] };
      assert.equal(parsed.kind, 'logistic_regression');
      assert.equal(parsed.weights.length, 3);

      // examples/train-logreg/README.md steps 3–5: register from the job, deploy, infer with its request body.
      const registered = await p.call('POST', `/api/v1/tenants/acme/jobs/${job.id}/register-model`, acme.tokens.member, { name: 'churn' });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      assert.equal(registered.body.converted, true);
      const modelVersion = String(registered.body.model.version);
      const deployed = await p.call('POST', '/api/v1/tenants/acme/deployments', acme.tokens.member, { name: 'churn', model: 'churn', version: modelVersion, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 } });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      for (let i = 0; ; i += 1) {
        const status = (await p.call('GET', '/api/v1/tenants/acme/deployments/churn', acme.tokens.viewer)).body.status;
        if (status === 'ready') break;
        assert.ok(i < 300 && status !== 'failed', `deployment ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const readme = readFileSync('examples/train-logreg/README.md', 'utf8');
      const body = /<<'JSON'\n([\s\S]*?)\nJSON\n/.exec(readme)?.[1];
      assert.ok(body !== undefined, 'the README has the infer request body');
      const answer = await p.app.inject({ method: 'POST', url: '/v2/models/churn/infer', headers: { authorization: `Bearer ${acme.tokens.member}`, 'content-type': 'application/json' }, payload: body });
      assert.equal(answer.statusCode, 200, answer.body);
      const inferred = JSON.parse(answer.body) as { id: string; model_name: string; outputs: Array<{ name: string; shape: number[]; data: number[] }> };
      assert.equal(inferred.id, 'churn-1');
      assert.equal(inferred.model_name, 'churn');
      assert.equal(inferred.outputs[0]?.name, 'probability');
      assert.deepEqual(inferred.outputs[0]?.shape, [2, 1]);
      const [churner, loyal] = inferred.outputs[0]!.data;
      assert.ok(churner! > 0.5 && loyal! < 0.5 && churner! > loyal!, `as the README says: ${churner} vs ${loyal}`);
    });

    test('a symlink planted in /outputs is not followed when outputs are collected', async () => {
      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, {
        command: ['sh', '-c', 'ln -s /etc/passwd /outputs/stolen && ln -s / /outputs/root && echo fine > /outputs/ok.txt'],
        resources: { cpu: 0.5, memoryMiB: 64, timeoutSeconds: 30 },
      });
      const job = await waitFor(created.body.id);
      assert.equal(job.status, 'succeeded');
      assert.deepEqual(job.outputs.map((o: { path: string }) => o.path.split('/').at(-1)), ['ok.txt']);
    });
  });
}
