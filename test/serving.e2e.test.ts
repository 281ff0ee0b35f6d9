/**
 * Model serving end to end on PGlite and PostgreSQL: models registered through the MLflow API and stored
 * in the encrypted artifact store, deployed as sandboxed workers (real bubblewrap, cgroups and
 * onnxruntime), called over the Open Inference Protocol v2. Covers tenant isolation of deployments,
 * crash and OOM containment with restarts, a rolling update under load, and per-tenant rate limits.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { waitFor as eventually } from './support/wait.ts';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

for (const kind of databaseKinds) {
  describe(`serving on ${kind}`, () => {
    let p: TestPlatform;
    let acme: TestTenant;
    let globex: TestTenant;

    const upload = async (tenant: TestTenant, path: string, bytes: Uint8Array) => {
      const response = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}`, headers: { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(response.statusCode, 200, response.body);
    };
    const register = async (tenant: TestTenant, name: string, bytes: Uint8Array): Promise<string> => {
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', tenant.tokens.member, { name });
      const path = `models/${name}/${randomBytes(4).toString('hex')}`;
      await upload(tenant, `${path}/model.onnx`, bytes);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', tenant.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return String(created.body.model_version.version);
    };
    const logreg = (weights: number[], bias: number) => buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: weights.map((_, i) => `f${i}`), weights, bias });
    const deploy = (tenant: TestTenant, body: Record<string, unknown>) => p.call('POST', `/api/v1/tenants/${tenant.slug}/deployments`, tenant.tokens.member, body);
    const waitFor = async (tenant: TestTenant, name: string, done: (d: any) => boolean, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await p.call('GET', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, tenant.tokens.viewer);
        if (d.status === 200 && done(d.body)) return d.body;
        if (Date.now() > deadline) {
          const logs = await p.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant.slug}/deployments/${name}/logs`, headers: { authorization: `Bearer ${tenant.tokens.viewer}` } });
          throw new Error(`deployment ${name}: ${JSON.stringify(d.body)}\n${logs.body.split('\n').slice(-12).join('\n')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const infer = (tenant: TestTenant, name: string, rows: number[][], version?: string) =>
      p.call('POST', `/v2/models/${name}${version === undefined ? '' : `/versions/${version}`}/infer`, tenant.tokens.member, {
        id: 'req-1', inputs: [{ name: 'input', shape: [rows.length, rows[0]!.length], datatype: 'FP32', data: rows }],
      });

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhsrv-${randomBytes(4).toString('hex')}` });
      acme = await p.createTenant('acme');
      globex = await p.createTenant('globex');
      for (const t of [acme, globex]) {
        await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
      }
      const a = await register(acme, 'churn', logreg([1, 2], 0));
      const g = await register(globex, 'churn', logreg([-1, -2], 0));
      assert.equal((await deploy(acme, { name: 'churn', model: 'churn', version: a, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 4 })).status, 201);
      assert.equal((await deploy(globex, { name: 'churn', model: 'churn', version: g, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 4 })).status, 201);
      await waitFor(acme, 'churn', (d) => d.status === 'ready');
      await waitFor(globex, 'churn', (d) => d.status === 'ready');
    });
    after(async () => {
      await p.close();
    });

    test('two tenants both deploy churn; each token reaches only its own model (OIP v2)', async () => {
      const a = await infer(acme, 'churn', [[1, 1], [0, 0]]);
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(a.body.model_name, 'churn');
      assert.equal(a.body.id, 'req-1');
      assert.equal(a.body.outputs[0].name, 'probability');
      assert.deepEqual(a.body.outputs[0].shape, [2, 1]);
      assert.equal(a.body.outputs[0].datatype, 'FP32');
      assert.ok(Math.abs(a.body.outputs[0].data[0] - sigmoid(3)) < 1e-5);
      const g = await infer(globex, 'churn', [[1, 1]]);
      assert.ok(Math.abs(g.body.outputs[0].data[0] - sigmoid(-3)) < 1e-5);
      const meta = await p.call('GET', '/v2/models/churn', acme.tokens.member);
      assert.equal(meta.status, 200);
      assert.equal(meta.body.inputs[0].name, 'input');
      assert.equal(meta.body.inputs[0].datatype, 'FP32');
      assert.deepEqual(meta.body.inputs[0].shape, [-1, 2]);
      assert.equal((await p.call('GET', '/v2/models/churn/ready', acme.tokens.member)).status, 200);
      assert.equal((await p.call('GET', '/v2/health/ready', acme.tokens.member)).status, 200);
      assert.equal((await p.call('GET', '/v2/health/live', acme.tokens.member)).status, 200);
      const bad = await p.call('POST', '/v2/models/churn/infer', acme.tokens.member, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2] }] });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /needs 3 elements/);
      assert.equal((await infer(acme, 'churn', [[1, 1]], '999')).status, 404);
    });

    test("tenant B cannot call, list, describe, update, delete or read logs of tenant A's deployment", async () => {
      const v = await register(acme, 'secret', logreg([3], 1));
      assert.equal((await deploy(acme, { name: 'secret', model: 'secret', version: v, replicas: 1, resources: { cpu: 0.25, memoryMiB: 256 }, maxConcurrency: 2 })).status, 201);
      await waitFor(acme, 'secret', (d) => d.status === 'ready');
      const inferred = await infer(globex, 'secret', [[1]]);
      assert.equal(inferred.status, 404);
      assert.deepEqual(Object.keys(inferred.body), ['error']);
      assert.equal((await p.call('GET', '/v2/models/secret', globex.tokens.owner)).status, 404);
      assert.equal((await p.call('GET', '/v2/models/secret/ready', globex.tokens.owner)).status, 404);
      const list = await p.call('GET', '/api/v1/tenants/globex/deployments', globex.tokens.owner);
      assert.deepEqual(list.body.deployments.map((d: { name: string }) => d.name), ['churn']);
      const missing = await p.call('GET', '/api/v1/tenants/globex/deployments/nope', globex.tokens.owner);
      for (const [method, url, body] of [
        ['GET', '/api/v1/tenants/globex/deployments/secret'], ['GET', '/api/v1/tenants/globex/deployments/secret/logs'],
        ['PATCH', '/api/v1/tenants/globex/deployments/secret', { replicas: 0 }], ['DELETE', '/api/v1/tenants/globex/deployments/secret'],
        ['GET', '/api/v1/tenants/acme/deployments/secret'], ['PATCH', '/api/v1/tenants/acme/deployments/secret', { replicas: 0 }],
        ['DELETE', '/api/v1/tenants/acme/deployments/secret'], ['GET', '/api/v1/tenants/acme/deployments'],
      ] as Array<[string, string, unknown?]>) {
        const r = await p.call(method, url, globex.tokens.owner, body);
        assert.equal(r.status, 404, `${method} ${url}`);
        assert.equal(r.body.code, missing.body.code);
      }
      // Tenant B cannot deploy tenant A's model either: the model name resolves in B's registry only.
      assert.equal((await deploy(globex, { name: 'stolen', model: 'secret', version: v, replicas: 1, resources: { cpu: 0.25, memoryMiB: 256 }, maxConcurrency: 2 })).status, 201);
      const stolen = await waitFor(globex, 'stolen', (d) => d.status === 'failed');
      assert.match(stolen.reason, /not found|no such/);
      assert.equal((await infer(acme, 'secret', [[1]])).status, 200);
    });

    test('a crashing model and an OOM-ing model affect only their own deployments, are restarted, and the crash is visible', async () => {
      const broken = await register(acme, 'broken', new TextEncoder().encode('this is not an onnx model'));
      assert.equal((await deploy(acme, { name: 'broken', model: 'broken', version: broken, replicas: 1, resources: { cpu: 0.25, memoryMiB: 256 }, maxConcurrency: 2 })).status, 201);
      const v = await register(acme, 'tiny', logreg([1, 1], 0));
      assert.equal((await deploy(acme, { name: 'tiny', model: 'tiny', version: v, replicas: 1, resources: { cpu: 0.25, memoryMiB: 32 }, maxConcurrency: 2 })).status, 201);
      const crashed = await waitFor(acme, 'broken', (d) => d.replicaStatus[0]?.restarts >= 2);
      assert.equal(crashed.status, 'unavailable');
      assert.match(crashed.replicaStatus[0].lastExit.reason, /exited with code/);
      const logs = await p.app.inject({ method: 'GET', url: '/api/v1/tenants/acme/deployments/broken/logs', headers: { authorization: `Bearer ${acme.tokens.viewer}` } });
      assert.match(logs.body, /restart 2 in/);
      assert.doesNotMatch(logs.body, /\/tmp\/bhs-|\/work\//, 'logs must not reveal host paths');
      const oom = await waitFor(acme, 'tiny', (d) => d.replicaStatus[0]?.restarts >= 1);
      assert.match(oom.replicaStatus[0].lastExit.reason, /out of memory|exited/);
      const call = await p.call('POST', '/v2/models/broken/infer', acme.tokens.member, { inputs: [{ name: 'input', shape: [1, 1], datatype: 'FP32', data: [1] }] });
      assert.equal(call.status, 503);
      // Neighbours keep serving, in the same tenant and in another.
      assert.equal((await infer(acme, 'churn', [[1, 1]])).status, 200);
      assert.equal((await infer(globex, 'churn', [[1, 1]])).status, 200);
      assert.equal((await p.call('DELETE', '/api/v1/tenants/acme/deployments/broken', acme.tokens.member)).status, 204);
      assert.equal((await p.call('DELETE', '/api/v1/tenants/acme/deployments/tiny', acme.tokens.member)).status, 204);
    });

    test('a rolling update under continuous load has zero failed requests', async () => {
      const v2 = await register(acme, 'churn', logreg([1, 2], 5));
      let stop = false;
      const statuses = new Map<number, number>();
      const versions = new Set<string>();
      const client = async () => {
        while (!stop) {
          const r = await infer(acme, 'churn', [[1, 1]]);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) versions.add(r.body.model_version);
        }
      };
      const clients = Array.from({ length: 4 }, client);
      await eventually('requests answered before the rollout', () => (statuses.get(200) ?? 0) >= 10);
      try {
        const patched = await p.call('PATCH', '/api/v1/tenants/acme/deployments/churn', acme.tokens.member, { version: v2 });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        await waitFor(acme, 'churn', (d) => d.status === 'ready' && d.replicaStatus.every((r: { version: string }) => r.version === v2));
        await eventually('the new version to answer', () => versions.size === 2);
      } finally {
        stop = true;
        await Promise.all(clients);
      }
      assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
      assert.ok((statuses.get(200) ?? 0) > 20);
      assert.equal(versions.size, 2, 'both versions answered during the rollout');
      const after = await infer(acme, 'churn', [[1, 1]]);
      assert.ok(Math.abs(after.body.outputs[0].data[0] - sigmoid(8)) < 1e-5);
    });

    test('over its rate a tenant gets 429 with Retry-After at once; the other tenant is unaffected', async () => {
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { requestsPerSecond: 5 });
      // No wait: a quota change applies to the next request in the process that made it.
      const results = await Promise.all(Array.from({ length: 30 }, () => infer(acme, 'churn', [[1, 1]])));
      const limited = results.filter((r) => r.status === 429);
      assert.ok(limited.length >= 20, `429s: ${limited.length}`);
      assert.ok(results.every((r) => r.status === 200 || r.status === 429));
      assert.ok(Number(limited[0]!.headers['retry-after']) >= 1);
      assert.equal(typeof limited[0]!.body.error, 'string');
      // 10 at once: within globex's own concurrency cap (4) + queue (8), so only a rate limit could refuse them.
      const other = await Promise.all(Array.from({ length: 10 }, () => infer(globex, 'churn', [[1, 1]])));
      assert.deepEqual([...new Set(other.map((r) => r.status))], [200]);
      await p.call('PUT', '/api/v1/tenants/acme/quota', adminToken, { requestsPerSecond: 10_000 });
    });

    test('a dedicated tenant serves on its own reserved CPUs; other tenants get the rest', async () => {
      const solo = await p.createTenant('solo', 'dedicated');
      await p.call('PUT', '/api/v1/tenants/solo/quota', adminToken, { cpu: 1, memoryMiB: 2048, requestsPerSecond: 10_000 });
      const reserved = await p.platform.jobs.runner.cpusetFor(solo.id);
      const shared = await p.platform.jobs.runner.cpusetFor(acme.id);
      assert.ok(reserved !== undefined && shared !== undefined, `reserved ${reserved}, shared ${shared}`);
      assert.ok(!shared.split(',').includes(reserved), 'a reserved CPU is not in the shared pool');
      const v = await register(solo, 'churn', logreg([1, 1], 0));
      assert.equal((await deploy(solo, { name: 'churn', model: 'churn', version: v, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 2 })).status, 201);
      await waitFor(solo, 'churn', (d) => d.status === 'ready');
      const answer = await infer(solo, 'churn', [[1, 1]]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const tenantCpuset = `/sys/fs/cgroup/cpuset/${p.config.cgroupPrefix}-srv/tenant-${solo.id}`;
      if (existsSync(tenantCpuset)) {
        const workers = readdirSync(tenantCpuset, { withFileTypes: true }).filter((e) => e.isDirectory());
        assert.ok(workers.length > 0);
        for (const worker of workers) assert.equal(readFileSync(`${tenantCpuset}/${worker.name}/cpuset.cpus`, 'utf8').trim(), reserved);
      }
      await p.call('DELETE', '/api/v1/tenants/solo/deployments/churn', solo.tokens.member);
    });
  });
}
