/**
 * The console's live views (issue 11), on PGlite and PostgreSQL through the real app: a deployment's
 * recent requests, latency and errors (this process's inference window, fed by the real /v2 route), never
 * for another tenant's deployment (404); the platform admins' scheduler view (queue, weight, entitled vs
 * received share), refused to tenant tokens.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';

for (const kind of databaseKinds) {
  describe(`console live views on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;

    before(async () => {
      p = await createTestPlatform(kind);
      a = await p.createTenant('lv-a', 'sandbox');
      b = await p.createTenant('lv-b', 'sandbox');
      // A deployment with no replica: it exists (and its requests are answered 503) without a worker.
      const token = a.tokens.admin;
      assert.equal((await p.call('POST', '/api/2.0/mlflow/registered-models/create', token, { name: 'churn' })).status, 200);
      const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['f0', 'f1'], weights: [1, 2], bias: 0 });
      const put = await p.app.inject({ method: 'PUT', url: '/api/2.0/mlflow-artifacts/artifacts/models/churn/v1/model.onnx', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(put.statusCode, 200, put.body);
      const version = await p.call('POST', '/api/2.0/mlflow/model-versions/create', token, { name: 'churn', source: 'mlflow-artifacts:/models/churn/v1' });
      assert.equal(version.status, 200, JSON.stringify(version.body));
      const created = await p.call('POST', '/api/v1/tenants/lv-a/deployments', token, { name: 'churn', model: 'churn', version: '1', replicas: 0 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    });
    after(async () => p?.close());

    test("a deployment's stats count the inference gateway's requests of this process", async () => {
      const empty = await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', a.tokens.viewer);
      assert.equal(empty.status, 200, JSON.stringify(empty.body));
      assert.deepEqual(empty.body, { deployment: 'churn', scope: 'process', windowSeconds: 60, requests: 0, requestsPerSecond: 0, p50Ms: null, p99Ms: null, rateLimited: 0, serverErrors: 0 });
      const input = { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }] };
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await p.call('POST', '/v2/models/churn/infer', a.tokens.member, input)).status);
      const stats = await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', a.tokens.viewer);
      assert.equal(stats.status, 200);
      assert.equal(stats.body.requests, 3);
      assert.equal(stats.body.requestsPerSecond, 0.05);
      assert.equal(stats.body.serverErrors, statuses.filter((s) => s >= 500).length);
      assert.equal(stats.body.rateLimited, statuses.filter((s) => s === 429).length);
      assert.ok(typeof stats.body.p50Ms === 'number' && stats.body.p50Ms >= 0 && stats.body.p99Ms >= stats.body.p50Ms, JSON.stringify(stats.body));
      // Tenant B's requests to its own (missing) deployment of that name are not A's.
      await p.call('POST', '/v2/models/churn/infer', b.tokens.member, input);
      assert.equal((await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', a.tokens.viewer)).body.requests, 3);
    });

    test("the tenant's request-rate 429s at the gateway are counted as such", async () => {
      const before = (await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', a.tokens.viewer)).body;
      const quota = await p.call('GET', '/api/v1/tenants/lv-a/quota', adminToken);
      assert.equal((await p.call('PUT', '/api/v1/tenants/lv-a/quota', adminToken, { requestsPerSecond: 1 })).status, 200);
      const input = { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }] };
      const statuses: number[] = [];
      try {
        for (let i = 0; i < 20; i++) statuses.push((await p.call('POST', '/v2/models/churn/infer', a.tokens.member, input)).status);
      } finally {
        assert.equal((await p.call('PUT', '/api/v1/tenants/lv-a/quota', adminToken, { requestsPerSecond: quota.body.requestsPerSecond })).status, 200);
      }
      const limited = statuses.filter((s) => s === 429).length;
      assert.ok(limited > 0, statuses.join(','));
      const after = (await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', a.tokens.viewer)).body;
      assert.equal(after.requests - before.requests, 20);
      assert.equal(after.rateLimited - before.rateLimited, limited);
      assert.equal(after.serverErrors - before.serverErrors, statuses.filter((s) => s >= 500).length);
    });

    test("another tenant's deployment stats are 404, by its path and under the caller's own", async () => {
      const byPath = await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', b.tokens.owner);
      assert.equal(byPath.status, 404);
      assert.equal(byPath.body.code, 'NOT_FOUND');
      const own = await p.call('GET', '/api/v1/tenants/lv-b/deployments/churn/stats', b.tokens.owner);
      assert.equal(own.status, 404);
      assert.equal(own.body.code, 'NOT_FOUND');
      assert.ok(!JSON.stringify([byPath.body, own.body]).includes('requests'));
      assert.equal((await p.call('GET', '/api/v1/tenants/lv-a/deployments/churn/stats', undefined)).status, 401);
    });

    test("the scheduler view: each tenant's queue, weight, entitled and received share; platform admins only", async () => {
      // Weight 3 for A; a job each for A and B, kept queued (no concurrent job allowed).
      for (const t of [a, b]) {
        const quota = await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { maxConcurrentJobs: 0, ...(t === a ? { weight: 3 } : {}) });
        assert.equal(quota.status, 200, JSON.stringify(quota.body));

        const job = await p.call('POST', `/api/v1/tenants/${t.slug}/jobs`, t.tokens.member, { name: 'wait', command: ['sleep', '60'], resources: { cpu: 0.5, memoryMiB: 128 } });
        assert.equal(job.status, 201, JSON.stringify(job.body));
      }
      const view = await p.call('GET', '/api/v1/platform/scheduler', adminToken);
      assert.equal(view.status, 200, JSON.stringify(view.body));
      const row = (slug: string) => view.body.tenants.find((t: { slug: string }) => t.slug === slug);
      assert.equal(row('lv-a').weight, 3);
      const work = (r: { queued: number; admitted: number; running: number }) => r.queued + r.admitted + r.running;
      assert.deepEqual([row('lv-a').queued, row('lv-b').queued, work(row('lv-a')), work(row('lv-b'))], [1, 1, 1, 1]);
      assert.equal(view.body.queued, 2);
      const weightB = row('lv-b').weight;
      assert.ok(Math.abs(row('lv-a').entitledShare - 3 / (3 + weightB)) < 1e-9, JSON.stringify(view.body));
      assert.ok(Math.abs(row('lv-a').entitledShare + row('lv-b').entitledShare - 1) < 1e-9);
      const cpuShares = view.body.tenants.reduce((s: number, t: { cpuShare: number }) => s + t.cpuShare, 0);
      assert.ok(view.body.runningCpu === 0 ? cpuShares === 0 : Math.abs(cpuShares - 1) < 1e-9, JSON.stringify(view.body));
      for (const token of [a.tokens.owner, b.tokens.admin]) {
        const refused = await p.call('GET', '/api/v1/platform/scheduler', token);
        assert.equal(refused.status, 403, JSON.stringify(refused.body));
        assert.ok(!JSON.stringify(refused.body).includes('lv-'), 'no tenant in the refusal');
      }
      assert.equal((await p.call('GET', '/api/v1/platform/scheduler', undefined)).status, 401);
    });
  });
}
