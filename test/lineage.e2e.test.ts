/**
 * Lineage end to end: dataset version → real sandboxed training job → `register-model` from its outputs
 * (model.json converted to ONNX, stored next to it) → lineage both ways (model version → job, run,
 * dataset digests, code digest, params; dataset version → jobs and model versions). The registered
 * version resolves through the serving model resolver and its ONNX runs in onnxruntime-node. Model
 * versions created through the MLflow API with a job's run_id get lineage automatically. Another tenant's
 * job, model and dataset answer 404 NOT_FOUND.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { withSystem } from '../src/db/index.ts';
import { createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { createRegistryService, createTrackingService } from '../src/tracking/index.ts';
import { createRegistryModelResolver } from '../src/serving/index.ts';
import { formatDatasetLineage, formatModelLineage } from '../src/cli/lineage-output.ts';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

for (const kind of databaseKinds) {
  describe(`model lineage on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;
    let job: { id: string; runId: string; experimentId: string; codeDigest: string; outputs: Array<{ path: string }> };
    let datasetDigest: string;
    let onnxPath: string;

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhlin-${randomBytes(4).toString('hex')}`, relayPort: 18770 });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    const waitFor = async (id: string) => {
      for (let i = 0; i < 600; i += 1) {
        const got = await p.call('GET', `/api/v1/tenants/acme/jobs/${id}`, acme.tokens.viewer);
        if (terminal.has(got.body.status)) return got.body;
        await p.platform.jobs.runner.tick();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('job did not finish');
    };

    test('a sandboxed training job reads a dataset version and leaves model.json', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bulkhead-lineage-'));
      execFileSync('python3', ['examples/train-logreg/make-data.py', join(dir, 'churn.csv'), '200']);
      const ctx = { actor: 'test', requestId: 'test' };
      const version = await p.platform.datasets.pushVersion(ctx, acme.id, 'churn', (async function* () {
        yield { path: 'churn.csv', stream: Readable.from(readFileSync(join(dir, 'churn.csv'))) };
      })());
      datasetDigest = version.digest;
      await p.platform.artifacts.putArtifact(ctx, acme.id, 'code/train.py', Readable.from(readFileSync('examples/train-logreg/train.py')));
      const created = await p.call('POST', '/api/v1/tenants/acme/jobs', acme.tokens.member, {
        name: 'train-churn', command: ['python3', '/code/train.py'], env: { EPOCHS: '12' }, datasets: ['churn:1'], codeBundle: 'code/train.py',
        resources: { cpu: 1, memoryMiB: 256, timeoutSeconds: 120 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      job = await waitFor(created.body.id);
      const logs = await p.call('GET', `/api/v1/tenants/acme/jobs/${job.id}/logs`, acme.tokens.viewer);
      assert.equal((job as unknown as { status: string }).status, 'succeeded', `${JSON.stringify(job)}\n${typeof logs.body === 'string' ? logs.body : JSON.stringify(logs.body)}`);
      assert.deepEqual(job.outputs.map((o) => o.path.split('/').at(-1)), ['model.json']);
    });

    test("another tenant cannot register from, or learn of, the job (404 like a missing one); viewers may not register", async () => {
      const own = await p.call('POST', `/api/v1/tenants/globex/jobs/${job.id}/register-model`, globex.tokens.member, { name: 'stolen' });
      const missing = await p.call('POST', `/api/v1/tenants/globex/jobs/00000000-0000-4000-8000-000000000000/register-model`, globex.tokens.member, { name: 'stolen' });
      assert.equal(own.status, 404);
      assert.equal(own.body.code, 'NOT_FOUND');
      assert.equal(missing.status, 404);
      assert.equal(own.body.message.replace(job.id, 'X'), missing.body.message.replace('00000000-0000-4000-8000-000000000000', 'X'));
      const probe = await p.call('POST', `/api/v1/tenants/acme/jobs/${job.id}/register-model`, globex.tokens.owner, { name: 'stolen' });
      assert.equal(probe.status, 404);
      const viewer = await p.call('POST', `/api/v1/tenants/acme/jobs/${job.id}/register-model`, acme.tokens.viewer, { name: 'churn' });
      assert.equal(viewer.status, 403);
      const none = await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=stolen', globex.tokens.viewer);
      assert.equal(none.status, 404);
    });

    test('register-model converts model.json to ONNX next to it and creates the version with lineage', async () => {
      const registered = await p.call('POST', `/api/v1/tenants/acme/jobs/${job.id}/register-model`, acme.tokens.member, { name: 'churn' });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      onnxPath = registered.body.onnxPath;
      assert.equal(onnxPath, job.outputs[0]!.path.replace(/model\.json$/, 'model.onnx'));
      assert.equal(registered.body.converted, true);
      assert.equal(registered.body.model.version, '1');
      assert.equal(registered.body.model.source, `mlflow-artifacts:/${onnxPath}`);
      assert.equal(registered.body.model.run_id, job.runId);
      assert.equal(registered.body.lineage.recorded, true);
      assert.equal(registered.body.lineage.recordedVia, 'register-from-job');

      // A second registration of the same job is a new version of the same model.
      const again = await p.call('POST', `/api/v1/tenants/acme/jobs/${job.id}/register-model`, acme.tokens.member, { name: 'churn', path: 'model.json' });
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.equal(again.body.model.version, '2');
      const badPath = await p.call('POST', `/api/v1/tenants/acme/jobs/${job.id}/register-model`, acme.tokens.member, { name: 'churn', path: '../../etc/passwd' });
      assert.equal(badPath.status, 400);
    });

    test("the registered version resolves like a deployment's model and its ONNX predicts in onnxruntime-node", async () => {
      const registry = createRegistryService({ db: p.platform.db });
      const tracking = createTrackingService({ db: p.platform.db });
      const scope = (tenantId: string) => ({ tenantId, actor: 'test', requestId: 'test' });
      const resolver = createRegistryModelResolver({
        getDownloadUri: (tenantId, name, version) => registry.getDownloadUri(scope(tenantId), { name, version }),
        getRunArtifactUri: async (tenantId, runId) => (await tracking.getRun(scope(tenantId), runId)).info.artifact_uri,
        openArtifact: async (tenantId, path) => ((await p.platform.artifacts.findArtifact(tenantId, path)) === undefined ? undefined : (await p.platform.artifacts.openArtifact(tenantId, path)).stream),
      });
      const model = await resolver.readModel(acme.id, 'churn', '1');
      await assert.rejects(resolver.readModel(globex.id, 'churn', '1'), /NOT_FOUND|no such registered model/);

      const json = JSON.parse((await p.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${job.outputs[0]!.path}`, headers: { authorization: `Bearer ${acme.tokens.viewer}` } })).body) as { weights: number[]; bias: number };
      const session = await InferenceSession.create(model);
      const rows = [[0.1, 0.5, 0.9], [0.9, 0.2, 0.1]];
      const result = await session.run({ input: new Tensor('float32', Float32Array.from(rows.flat()), [2, 3]) });
      const probabilities = Array.from(result['probability']!.data as Float32Array);
      assert.equal(probabilities.length, 2);
      rows.forEach((row, i) => {
        const z = row.reduce((sum, x, j) => sum + x * json.weights[j]!, json.bias);
        assert.ok(Math.abs(probabilities[i]! - 1 / (1 + Math.exp(-z))) < 1e-4, `row ${i}: ${probabilities[i]}`);
      });
      // The churn data: many support calls and short tenure churn more than the reverse.
      assert.ok(probabilities[0]! > probabilities[1]!);
    });

    test('model lineage: job, run, dataset digest, code digest, params, and the other versions from the dataset', async () => {
      const got = await p.call('GET', '/api/v1/tenants/acme/models/churn/versions/1/lineage', acme.tokens.viewer);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      const l = got.body;
      assert.equal(l.recorded, true);
      assert.deepEqual(l.model, { name: 'churn', version: 1, source: `mlflow-artifacts:/${onnxPath}`, runId: job.runId });
      assert.equal(l.upstream.job.id, job.id);
      assert.equal(l.upstream.job.name, 'train-churn');
      assert.deepEqual(l.upstream.run, { id: job.runId, experimentId: job.experimentId });
      assert.equal(l.upstream.codeBundle, 'code/train.py');
      assert.equal(l.upstream.codeDigest, job.codeDigest);
      assert.equal(l.upstream.params['epochs'], '12');
      assert.deepEqual(l.upstream.datasets, [{ name: 'churn', version: 1, digest: datasetDigest, modelVersions: [{ name: 'churn', version: 1 }, { name: 'churn', version: 2 }] }]);
      const text = formatModelLineage(l);
      assert.match(text, /model churn version 1/);
      assert.match(text, new RegExp(`job ${job.id} "train-churn"`));
      assert.match(text, /churn:1 {2}sha256:/);
      assert.match(text, /epochs = 12/);
      assert.match(text, /also → model churn version 2/);
    });

    test('dataset lineage: the jobs that read the version and the model versions that came from it', async () => {
      const got = await p.call('GET', '/api/v1/tenants/acme/datasets/churn/versions/1/lineage', acme.tokens.viewer);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.deepEqual(got.body.dataset, { name: 'churn', version: 1, digest: datasetDigest });
      assert.deepEqual(got.body.jobs.map((j: { id: string }) => j.id), [job.id]);
      assert.deepEqual(got.body.modelVersions.map((m: { name: string; version: number; jobId: string }) => [m.name, m.version, m.jobId]), [['churn', 1, job.id], ['churn', 2, job.id]]);
      assert.match(formatDatasetLineage(got.body), /model churn version 2/);
      const missing = await p.call('GET', '/api/v1/tenants/acme/datasets/churn/versions/9/lineage', acme.tokens.viewer);
      assert.equal(missing.status, 404);
    });

    test("a model version created through the MLflow API with a job's run_id gets lineage automatically; one without a job has none", async () => {
      assert.equal((await p.call('POST', '/api/2.0/mlflow/registered-models/create', acme.tokens.member, { name: 'churn-mlflow' })).status, 200);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', acme.tokens.member, { name: 'churn-mlflow', source: `mlflow-artifacts:/${onnxPath}`, run_id: job.runId });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const auto = await p.call('GET', '/api/v1/tenants/acme/models/churn-mlflow/versions/1/lineage', acme.tokens.viewer);
      assert.equal(auto.body.recorded, true);
      assert.equal(auto.body.recordedVia, 'model-version-create');
      assert.equal(auto.body.upstream.job.id, job.id);
      assert.equal(auto.body.upstream.datasets[0].digest, datasetDigest);

      assert.equal((await p.call('POST', '/api/2.0/mlflow/registered-models/create', acme.tokens.member, { name: 'handmade' })).status, 200);
      assert.equal((await p.call('POST', '/api/2.0/mlflow/model-versions/create', acme.tokens.member, { name: 'handmade', source: `mlflow-artifacts:/${onnxPath}` })).status, 200);
      const none = await p.call('GET', '/api/v1/tenants/acme/models/handmade/versions/1/lineage', acme.tokens.viewer);
      assert.equal(none.status, 200);
      assert.equal(none.body.recorded, false);
      assert.equal(none.body.upstream.job, null);
      assert.deepEqual(none.body.upstream.datasets, []);

      const ds = await p.call('GET', '/api/v1/tenants/acme/datasets/churn/versions/1/lineage', acme.tokens.viewer);
      assert.deepEqual(ds.body.modelVersions.map((m: { name: string; version: number }) => `${m.name}/${m.version}`), ['churn/1', 'churn/2', 'churn-mlflow/1']);

      // Self-healing: a version whose lineage row is missing (the server stopped between the version's
      // commit and the lineage's) gets it recorded from the job when it is first read.
      await withSystem(p.database.owner, (tx) => tx.query("DELETE FROM model_lineage WHERE model_name = 'churn-mlflow'"));
      const healed = await p.call('GET', '/api/v1/tenants/acme/models/churn-mlflow/versions/1/lineage', acme.tokens.viewer);
      assert.equal(healed.body.recorded, true);
      assert.equal(healed.body.upstream.job.id, job.id);
      assert.equal(healed.body.upstream.datasets[0].digest, datasetDigest);
      const rows = await withSystem(p.database.owner, async (tx) => (await tx.query("SELECT count(*)::int AS n FROM model_lineage WHERE model_name = 'churn-mlflow'")).rows[0]);
      assert.equal((rows as { n: number }).n, 1);
    });

    test("another tenant's model and dataset lineage answer 404 NOT_FOUND, like missing ones", async () => {
      for (const url of ['/api/v1/tenants/globex/models/churn/versions/1/lineage', '/api/v1/tenants/globex/datasets/churn/versions/1/lineage']) {
        const got = await p.call('GET', url, globex.tokens.owner);
        assert.equal(got.status, 404, url);
        assert.equal(got.body.code, 'NOT_FOUND');
      }
      for (const url of ['/api/v1/tenants/acme/models/churn/versions/1/lineage', '/api/v1/tenants/acme/datasets/churn/versions/1/lineage']) {
        const got = await p.call('GET', url, globex.tokens.owner);
        assert.equal(got.status, 404, url);
      }
      // Tenant globex's own model of the same name has no lineage from tenant acme's job.
      assert.equal((await p.call('POST', '/api/2.0/mlflow/registered-models/create', globex.tokens.member, { name: 'churn' })).status, 200);
      const foreignRun = await p.call('POST', '/api/2.0/mlflow/model-versions/create', globex.tokens.member, { name: 'churn', source: 'mlflow-artifacts:/x/model.onnx', run_id: job.runId });
      assert.equal(foreignRun.status, 404);
      const ds = await p.call('GET', '/api/v1/tenants/acme/datasets/churn/versions/1/lineage', acme.tokens.viewer);
      assert.equal(ds.body.modelVersions.length, 3);
    });

    test('every lineage record is audited', async () => {
      await p.platform.audit.seal();
      const events = await p.call('GET', '/api/v1/tenants/acme/audit?limit=1000', acme.tokens.admin);
      const recorded = events.body.events.filter((e: { action: string }) => e.action === 'models.lineage.record');
      // churn-mlflow/1 twice: recorded at creation, and again by the self-healing read after its row was removed.
      assert.deepEqual(recorded.map((e: { target: string }) => e.target).sort(), ['model:churn-mlflow/1', 'model:churn-mlflow/1', 'model:churn/1', 'model:churn/2']);
      const verify = await p.call('GET', '/api/v1/tenants/acme/audit/verify', acme.tokens.admin);
      assert.equal(verify.body.ok, true);
    });
  });
}
