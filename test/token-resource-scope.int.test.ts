/**
 * Tokens narrowed to named registered models and deployments (issue 14), on PGlite and PostgreSQL through
 * the real app and the real CLI: `bulkhead token create --model churn --deployment web` reaches that model
 * (MLflow registry) and that deployment (platform API and OIP inference) only; every other model,
 * deployment, experiment and tenant-wide listing is NOT_FOUND, with the same body whether the other
 * resource exists or not; names that do not exist are refused when the token is made; another tenant's
 * deployment of the same name stays out of reach.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { runCliWith } from './support/cli.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';

for (const kind of databaseKinds) {
  describe(`tokens narrowed to models and deployments on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    /** A registered model with one ONNX version and a deployment of it with no replica (no worker runs). */
    const deploy = async (tenant: TestTenant, model: string, deployment: string): Promise<void> => {
      const token = tenant.tokens.admin;
      assert.equal((await p.call('POST', '/api/2.0/mlflow/registered-models/create', token, { name: model })).status, 200);
      const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['f0', 'f1'], weights: [1, 2], bias: 0 });
      const put = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/models/${model}/v1/model.onnx`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(put.statusCode, 200, put.body);
      const version = await p.call('POST', '/api/2.0/mlflow/model-versions/create', token, { name: model, source: `mlflow-artifacts:/models/${model}/v1` });
      assert.equal(version.status, 200, JSON.stringify(version.body));
      const created = await p.call('POST', `/api/v1/tenants/${tenant.slug}/deployments`, token, { name: deployment, model, version: '1', replicas: 0 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    };

    before(async () => {
      p = await createTestPlatform(kind);
      a = await p.createTenant('rs-a', 'sandbox');
      b = await p.createTenant('rs-b', 'sandbox');
      await deploy(a, 'churn', 'web');
      await deploy(a, 'fraud', 'batch');
      await deploy(b, 'churn', 'web');
    });
    after(async () => p?.close());

    test('bulkhead token create --model churn --deployment web: inside its scope it works, outside everything is NOT_FOUND', async () => {
      const url = await p.listen();
      const cli = await runCliWith(['--json', 'token', 'create', '--tenant', 'rs-a', '--name', 'web-ci', '--role', 'member', '--expires', '30d', '--model', 'churn', '--deployment', 'web'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: a.tokens.admin });
      assert.equal(cli.code, 0, cli.err);
      const made = JSON.parse(cli.out);
      assert.deepEqual([made.models, made.deployments, made.experiments], [['churn'], ['web'], null]);
      const listed = await p.call('GET', '/api/v1/tenants/rs-a/tokens', a.tokens.admin);
      const row = listed.body.tokens.find((t: { id: string }) => t.id === made.id);
      assert.deepEqual([row.models, row.deployments], [['churn'], ['web']]);
      const token = made.token as string;

      const inside = [
        await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=churn', token),
        await p.call('GET', '/api/2.0/mlflow/model-versions/get?name=churn&version=1', token),
        await p.call('GET', '/api/2.0/mlflow/model-versions/get-download-uri?name=churn&version=1', token),
        await p.call('POST', '/api/2.0/mlflow/registered-models/set-tag', token, { name: 'churn', key: 'owner', value: 'ci' }),
        await p.call('GET', '/api/v1/tenants/rs-a/deployments/web', token),
        await p.call('PATCH', '/api/v1/tenants/rs-a/deployments/web', token, { maxConcurrency: 4 }),
        await p.call('GET', '/api/v1/tenants/rs-a/deployments/web/stats', token),
        await p.call('GET', '/api/v1/me', token),
      ];
      assert.deepEqual(inside.map((r) => r.status), [200, 200, 200, 200, 200, 200, 200, 200], JSON.stringify(inside.map((r) => r.body)));
      // OIP: its deployment is reached (no replica serves it: 503, not 404); another is not found.
      const input = { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }] };
      const own = await p.call('POST', '/v2/models/web/infer', token, input);
      assert.notEqual(own.status, 404, JSON.stringify(own.body));
      assert.equal(own.status, 503, JSON.stringify(own.body));

      const outside = [
        await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=fraud', token),
        await p.call('GET', '/api/2.0/mlflow/model-versions/get-download-uri?name=fraud&version=1', token),
        await p.call('POST', '/api/2.0/mlflow/registered-models/create', token, { name: 'new-model' }),
        await p.call('POST', '/api/2.0/mlflow/registered-models/rename', token, { name: 'churn', new_name: 'churn2' }),
        await p.call('GET', '/api/2.0/mlflow/registered-models/search', token),
        await p.call('GET', '/api/2.0/mlflow/model-versions/search', token),
        await p.call('POST', '/api/2.0/mlflow/experiments/create', token, { name: 'x' }),
        await p.call('GET', '/api/v1/tenants/rs-a/deployments', token),
        await p.call('GET', '/api/v1/tenants/rs-a/deployments/batch', token),
        await p.call('PATCH', '/api/v1/tenants/rs-a/deployments/batch', token, { replicas: 1 }),
        await p.call('DELETE', '/api/v1/tenants/rs-a/deployments/batch', token),
        await p.call('GET', '/api/v1/tenants/rs-a/deployments/batch/logs', token),
        await p.call('POST', '/api/v1/tenants/rs-a/deployments', token, { name: 'web2', model: 'fraud', version: '1', replicas: 0 }),
        await p.call('POST', '/v2/models/batch/infer', token, input),
        await p.call('GET', '/v2/models/batch', token),
        await p.call('GET', '/api/v1/tenants/rs-a/jobs', token),
      ];
      assert.deepEqual(outside.map((r) => r.status), outside.map(() => 404), JSON.stringify(outside.map((r) => r.body)));
      // The same answer whether the other deployment exists or not: nothing reveals which names exist.
      const ghost = await p.call('GET', '/api/v1/tenants/rs-a/deployments/ghost', token);
      const real = await p.call('GET', '/api/v1/tenants/rs-a/deployments/batch', token);
      assert.equal(ghost.status, 404);
      assert.deepEqual({ ...ghost.body, requestId: undefined }, { ...real.body, requestId: undefined });
      // Another tenant's deployment and model of the same names: not found, as for any tenant token.
      assert.equal((await p.call('GET', '/api/v1/tenants/rs-b/deployments/web', token)).status, 404);
      // Nothing outside was touched: the other deployment kept its replicas and the model its name.
      assert.equal((await p.call('GET', '/api/v1/tenants/rs-a/deployments/batch', a.tokens.admin)).body.replicas, 0);
      assert.equal((await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=churn', a.tokens.admin)).status, 200);
      // Refusals are audited in the tenant's chain.
      const audit = await p.call('GET', '/api/v1/tenants/rs-a/audit?limit=200', adminToken);
      assert.ok(audit.body.events.some((e: { action: string; actor: string }) => e.action === 'auth.resource_scope' && e.actor === `token:${made.id}`), 'scope refusals are audited');
      const createEvent = audit.body.events.find((e: { action: string; target: string }) => e.action === 'token.create' && e.target === `token:${made.id}`);
      assert.deepEqual([createEvent?.details?.models, createEvent?.details?.deployments], [['churn'], ['web']]);
    });

    test('a model-only token reaches neither deployments nor experiments; unknown names are refused at creation', async () => {
      const made = await p.call('POST', '/api/v1/tenants/rs-a/tokens', a.tokens.admin, { name: 'model-only', role: 'member', models: ['fraud'] });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.deployments, null);
      const token = made.body.token as string;
      assert.equal((await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=fraud', token)).status, 200);
      assert.equal((await p.call('GET', '/api/v1/tenants/rs-a/deployments/batch', token)).status, 404);
      assert.equal((await p.call('POST', '/v2/models/batch/infer', token, { inputs: [] })).status, 404);
      assert.equal((await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=churn', token)).status, 404);
      for (const body of [{ models: ['no-such-model'] }, { deployments: ['no-such-deployment'] }, { models: ['churn'], deployments: ['web', 'nope'] }]) {
        const refused = await p.call('POST', '/api/v1/tenants/rs-a/tokens', a.tokens.admin, { name: 'bad', role: 'member', ...body });
        assert.equal(refused.status, 400, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'VALIDATION_FAILED');
      }
      // Another tenant's names do not count as existing here.
      const onlyInB = await p.call('POST', '/api/v1/tenants/rs-b/tokens', b.tokens.admin, { name: 'bad', role: 'member', deployments: ['batch'] });
      assert.equal(onlyInB.status, 400);
      const before = (await p.call('GET', '/api/v1/tenants/rs-a/tokens', a.tokens.admin)).body.tokens.filter((t: { name: string }) => t.name === 'bad');
      assert.equal(before.length, 0, 'nothing half-made');
      // A service-account token takes the same narrowing.
      assert.equal((await p.call('POST', '/api/v1/tenants/rs-a/service-accounts', a.tokens.admin, { name: 'deployer' })).status, 201);
      const sa = await p.call('POST', '/api/v1/tenants/rs-a/service-accounts/deployer/tokens', a.tokens.admin, { name: 'roll', role: 'member', deployments: ['web'] });
      assert.equal(sa.status, 201, JSON.stringify(sa.body));
      assert.equal((await p.call('GET', '/api/v1/tenants/rs-a/deployments/web', sa.body.token)).status, 200);
      assert.equal((await p.call('GET', '/api/v1/tenants/rs-a/deployments/batch', sa.body.token)).status, 404);
      assert.equal((await p.call('GET', '/api/2.0/mlflow/registered-models/get?name=churn', sa.body.token)).status, 404);
    });
  });
}
