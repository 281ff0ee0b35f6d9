/**
 * Regression tests for issue 21 (hostile input answered 500), on PGlite and PostgreSQL: each request the
 * issue measured now answers 400 INVALID_PARAMETER_VALUE naming the field and stores nothing; the same
 * input check on the platform's own routes answers VALIDATION_FAILED with the field in `details`; MLflow
 * metric values keep NaN and ±Infinity (1e309 in JSON) as valid values.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { mlflowHttp } from './support/mlflow-http.ts';
import type { MlflowHttp, MlflowResponse } from './support/mlflow-http.ts';

const refusedNaming = (response: MlflowResponse, field: string): void => {
  assert.equal(response.status, 400, JSON.stringify(response.body));
  assert.equal(response.body.error_code, 'INVALID_PARAMETER_VALUE');
  assert.ok(String(response.body.message).includes(`'${field}'`), `the message names '${field}': ${response.body.message}`);
};

for (const kind of databaseKinds) {
  describe(`hostile input answers 400 naming the field (${kind})`, () => {
    let p: TestPlatform;
    let tenant: TestTenant;
    let api: MlflowHttp;

    before(async () => {
      p = await createTestPlatform(kind);
      tenant = await p.createTenant('input-a');
      api = mlflowHttp(p, tenant.tokens.member);
      assert.equal((await api.post('registered-models/create', { name: 'existing' })).status, 200);
    });
    after(async () => p.close());

    const registeredModelNames = async (): Promise<string[]> => {
      const found = await api.get('registered-models/search', { max_results: 1000 });
      assert.equal(found.status, 200);
      return (found.body.registered_models ?? []).map((m: { name: string }) => m.name).sort();
    };
    const experimentNames = async (): Promise<string[]> => {
      const found = await api.post('experiments/search', { max_results: 1000, view_type: 'ALL' });
      assert.equal(found.status, 200);
      return found.body.experiments.map((e: { name: string }) => e.name).sort();
    };

    for (const [label, bad] of [['\\u0000 (NUL)', 'churn\u0000model'], ['\\ud800 (lone surrogate)', 'churn\ud800model']] as const) {
      test(`experiments/create with a name holding ${label}`, async () => {
        const before = await experimentNames();
        refusedNaming(await api.post('experiments/create', { name: bad }), 'name');
        assert.deepEqual(await experimentNames(), before);
      });
      test(`registered-models/create with a name holding ${label}`, async () => {
        refusedNaming(await api.post('registered-models/create', { name: bad }), 'name');
        assert.deepEqual(await registeredModelNames(), ['existing']);
      });
      test(`registered-models/update with a name holding ${label}`, async () => {
        refusedNaming(await api.patch('registered-models/update', { name: bad, description: 'x' }), 'name');
      });
      test(`registered-models/get-latest-versions with a name holding ${label}`, async () => {
        refusedNaming(await api.post('registered-models/get-latest-versions', { name: bad }), 'name');
        if (bad.includes('\u0000')) {
          refusedNaming(await api.get('registered-models/get-latest-versions', { name: bad }), 'name');
        } else {
          // A URL cannot carry a lone surrogate: its (invalid) 3-byte UTF-8 escape is left undecoded by the
          // query parser, so the name is that literal text, valid and simply not found.
          const url = `/api/2.0/mlflow/registered-models/get-latest-versions?name=churn%ED%A0%80model`;
          const response = await p.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tenant.tokens.member}` } });
          assert.equal(response.statusCode, 404, response.body);
          assert.equal(JSON.parse(response.body).error_code, 'RESOURCE_DOES_NOT_EXIST');
        }
      });
    }

    test('registered-models/create with a 100,000-character name', async () => {
      refusedNaming(await api.post('registered-models/create', { name: 'm'.repeat(100_000) }), 'name');
      assert.deepEqual(await registeredModelNames(), ['existing']);
      // MLflow's column holds 256 characters: that many is still a valid name.
      assert.equal((await api.post('registered-models/create', { name: 'm'.repeat(256) })).status, 200);
      refusedNaming(await api.post('registered-models/create', { name: 'm'.repeat(257) }), 'name');
      refusedNaming(await api.post('registered-models/rename', { name: 'existing', new_name: 'm'.repeat(257) }), 'new_name');
    });

    test('a NUL in a nested MLflow field names its path (log-batch tag value)', async () => {
      const experiment = await api.post('experiments/create', { name: 'nested' });
      const run = await api.post('runs/create', { experiment_id: experiment.body.experiment_id });
      const runId = run.body.run.info.run_id as string;
      refusedNaming(await api.post('runs/log-batch', { run_id: runId, tags: [{ key: 'k', value: 'a\u0000' }] }), 'tags[0].value');
      const got = await api.get('runs/get', { run_id: runId });
      assert.equal(got.body.run.data.tags?.some((t: { key: string }) => t.key === 'k') ?? false, false);
    });

    test('MLflow metric values keep their semantics: 1e309 is Infinity, -1e309 is -Infinity, "NaN" is NaN', async () => {
      const experiment = await api.post('experiments/create', { name: 'non-finite' });
      const run = await api.post('runs/create', { experiment_id: experiment.body.experiment_id });
      const runId = run.body.run.info.run_id as string;
      const headers = { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/json' };
      const single = await p.app.inject({ method: 'POST', url: '/api/2.0/mlflow/runs/log-metric', headers, payload: `{"run_id":"${runId}","key":"up","value":1e309,"timestamp":1,"step":0}` });
      assert.equal(single.statusCode, 200, single.body);
      const batch = await p.app.inject({
        method: 'POST', url: '/api/2.0/mlflow/runs/log-batch', headers,
        payload: `{"run_id":"${runId}","metrics":[{"key":"down","value":-1e309,"timestamp":1,"step":0},{"key":"nan","value":"NaN","timestamp":1,"step":0}]}`,
      });
      assert.equal(batch.statusCode, 200, batch.body);
      const metrics = Object.fromEntries((await api.get('runs/get', { run_id: runId })).body.run.data.metrics.map((m: { key: string; value: unknown }) => [m.key, m.value]));
      assert.deepEqual(metrics, { up: 'Infinity', down: '-Infinity', nan: 'NaN' });
      // Elsewhere in the same request a non-finite number is refused: a timestamp of 1e309 makes no sense.
      const badTimestamp = await p.app.inject({ method: 'POST', url: '/api/2.0/mlflow/runs/log-metric', headers, payload: `{"run_id":"${runId}","key":"up","value":1,"timestamp":1e309}` });
      assert.equal(badTimestamp.statusCode, 400);
      assert.equal(JSON.parse(badTimestamp.body).error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(JSON.parse(badTimestamp.body).message, /'timestamp'/);
    });

    test('numbers beyond the range of integer columns are refused, not sent to the database', async () => {
      const version = await api.get('model-versions/get', { name: 'existing', version: '3000000000' });
      refusedNaming(version, 'version');
      const dataset = await p.call('GET', `/api/v1/tenants/${tenant.slug}/datasets/d/versions/3000000000`, tenant.tokens.member);
      assert.equal(dataset.status, 400);
      assert.equal(dataset.body.code, 'VALIDATION_FAILED');
      const lineage = await p.call('GET', `/api/v1/tenants/${tenant.slug}/models/existing/versions/9999999999/lineage`, tenant.tokens.member);
      assert.equal(lineage.status, 400);
      assert.equal(lineage.body.code, 'VALIDATION_FAILED');
      const job = await p.call('POST', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member, { command: ['true'], datasets: ['d:99999999999'] });
      assert.equal(job.status, 400);
      assert.equal(job.body.code, 'VALIDATION_FAILED');
      // Year 0 is valid ISO 8601 but no date PostgreSQL can hold.
      const before = await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs?before=0000-01-01T00:00:00Z`, tenant.tokens.member);
      assert.equal(before.status, 400);
      assert.equal(before.body.code, 'VALIDATION_FAILED');
    });

    test('query strings and path parameters are checked too, before the tenant is looked up', async () => {
      refusedNaming(await api.get('registered-models/get', { name: 'a\u0000' }), 'name');
      const path = await p.call('GET', '/api/v1/tenants/input%00a', adminToken);
      assert.equal(path.status, 400);
      assert.equal(path.body.code, 'VALIDATION_FAILED');
      assert.deepEqual([path.body.details.field, path.body.details.in], ['tenant', 'params']);
      // A lone surrogate sent the way a client can: its (invalid) UTF-8 bytes, percent-encoded.
      const surrogate = await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs/a%ED%A0%80`, tenant.tokens.member);
      assert.equal(surrogate.status, 400, JSON.stringify(surrogate.body));
      assert.ok(['BAD_REQUEST', 'VALIDATION_FAILED'].includes(surrogate.body.code), JSON.stringify(surrogate.body));
      const long = await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs/${'x'.repeat(300)}`, tenant.tokens.member);
      assert.equal(long.status, 400);
      assert.equal(long.body.code, 'VALIDATION_FAILED');
    });

    test("the platform's own routes answer VALIDATION_FAILED with the field, and store nothing", async () => {
      const jobsBefore = (await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member)).body.jobs.length;
      const nul = await p.call('POST', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member, { command: ['python3', 'train\u0000.py'] });
      assert.equal(nul.status, 400);
      assert.equal(nul.body.code, 'VALIDATION_FAILED');
      assert.equal(nul.body.details.field, 'command[1]');
      assert.match(nul.body.message, /'command\[1\]'/);
      assert.equal((await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member)).body.jobs.length, jobsBefore);
      const infinite = await p.app.inject({
        method: 'PUT', url: `/api/v1/tenants/${tenant.slug}/quota`, payload: '{"cpu":1e309}',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      });
      assert.equal(infinite.statusCode, 400);
      assert.equal(JSON.parse(infinite.body).details.field, 'cpu');
      const key = await p.call('PUT', `/api/v1/tenants/${tenant.slug}/quota`, adminToken, { ['cpu\ud800']: 1 });
      assert.equal(key.status, 400);
      assert.equal(key.body.code, 'VALIDATION_FAILED');
    });
  });
}
