/**
 * Suspension stops everything, on PGlite and PostgreSQL, with the real job runner (bubblewrap, cgroups)
 * and real serving workers (onnxruntime): right after `PATCH {status: "suspended"}` every credential of
 * the tenant is refused — API, MLflow, inference, job and endpoint tokens — each refusal audited; its
 * running job is cancelled, its queued job waits, its deployment stops; another tenant is untouched.
 * Resuming starts the deployment again and lets the queued job run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { databaseKinds } from './support/databases.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';

const terminal = new Set(['succeeded', 'failed', 'oom_killed', 'timed_out', 'cancelled', 'refused']);

for (const kind of databaseKinds) {
  describe(`tenant suspension on ${kind}`, () => {
    let p: TestPlatform;
    let halt: TestTenant;
    let steady: TestTenant;

    const poll = async <T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await read();
        if (done(value)) return value;
        if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
        await p.platform.jobs.runner.tick();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    // Read as the platform admin: a suspended tenant's own tokens read nothing.
    const jobStatus = (tenant: TestTenant, id: string) => poll(`job ${id}`, async () => (await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs/${id}`, adminToken)).body.status as string, () => true);
    const waitJob = (tenant: TestTenant, id: string, done: (status: string) => boolean) =>
      poll(`job ${id}`, async () => (await p.call('GET', `/api/v1/tenants/${tenant.slug}/jobs/${id}`, adminToken)).body.status as string, done);
    const waitDeployment = (tenant: TestTenant, name: string, done: (status: string) => boolean) =>
      poll(`deployment ${name}`, async () => (await p.call('GET', `/api/v1/tenants/${tenant.slug}/deployments/${name}`, adminToken)).body.status as string, done);
    const register = async (tenant: TestTenant, name: string): Promise<string> => {
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', tenant.tokens.member, { name });
      const path = `models/${name}/${randomBytes(4).toString('hex')}`;
      const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['f0', 'f1'], weights: [1, 2], bias: 0 });
      const put = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}/model.onnx`, headers: { authorization: `Bearer ${tenant.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(put.statusCode, 200, put.body);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', tenant.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return String(created.body.model_version.version);
    };
    const infer = (tenant: TestTenant) => p.call('POST', '/v2/models/churn/infer', tenant.tokens.member, {
      inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }],
    });
    const submit = (tenant: TestTenant, command: string[]) => p.call('POST', `/api/v1/tenants/${tenant.slug}/jobs`, tenant.tokens.member, { command, resources: { cpu: 0.2, memoryMiB: 64, timeoutSeconds: 300 } });

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhsus-${randomBytes(4).toString('hex')}`, relayPort: 18767 });
      halt = await p.createTenant('halt');
      steady = await p.createTenant('steady');
      for (const t of [halt, steady]) {
        // One concurrent job: the second job of `halt` stays queued behind the first.
        await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 1, requestsPerSecond: 10_000 });
        const version = await register(t, 'churn');
        const deployed = await p.call('POST', `/api/v1/tenants/${t.slug}/deployments`, t.tokens.member, { name: 'churn', model: 'churn', version, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 4 });
        assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      }
      await waitDeployment(halt, 'churn', (s) => s === 'ready');
      await waitDeployment(steady, 'churn', (s) => s === 'ready');
    });
    after(async () => {
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test('suspension refuses every credential at once, audited, and stops jobs and deployments; resumption restarts them', async () => {
      const running = await submit(halt, ['sleep', '300']);
      assert.equal(running.status, 201, JSON.stringify(running.body));
      await waitJob(halt, running.body.id, (s) => s === 'running');
      const queued = await submit(halt, ['true']);
      assert.equal(queued.status, 201);
      assert.equal(await jobStatus(halt, queued.body.id), 'queued');
      // A job token (bound to the running job, used as its relay forwards it) and an endpoint token.
      const ctx = { actor: 'test', requestId: 'test' };
      const jobToken = (await p.platform.identity.createToken(ctx, halt.id, { name: 'job', role: 'member', kind: 'job', jobId: running.body.id })).token;
      const deploymentId = (await p.call('GET', '/api/v1/tenants/halt/deployments/churn', adminToken)).body.id as string;
      const endpointToken = (await p.platform.identity.createToken(ctx, halt.id, { name: 'endpoint', role: 'viewer', kind: 'endpoint', deploymentId })).token;
      const viaRelay = (token: string) => p.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}`, 'x-bulkhead-relay': p.platform.jobs.relays.secret } });

      // Before: everything works.
      assert.equal((await infer(halt)).status, 200);
      assert.equal((await viaRelay(jobToken)).statusCode, 200);
      assert.equal((await p.call('POST', '/api/2.0/mlflow/experiments/search', halt.tokens.member, { max_results: 10 })).status, 200);

      const suspended = await p.call('PATCH', '/api/v1/tenants/halt', adminToken, { status: 'suspended' });
      assert.equal(suspended.status, 200);
      assert.equal(suspended.body.status, 'suspended');

      // At once, with no wait: every kind of credential is refused.
      const inference = await infer(halt);
      assert.equal(inference.status, 403, JSON.stringify(inference.body));
      assert.equal(inference.body.code, 'TENANT_SUSPENDED');
      assert.equal(typeof inference.body.requestId, 'string');
      assert.equal((await p.call('GET', '/v2/models/churn', halt.tokens.viewer)).status, 403);
      for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
        const me = await p.call('GET', '/api/v1/me', halt.tokens[role]);
        assert.equal(me.status, 403, role);
        assert.equal(me.body.code, 'TENANT_SUSPENDED');
        assert.equal((await p.call('GET', '/api/v1/tenants/halt/jobs', halt.tokens[role])).status, 403, role);
      }
      const mlflow = await p.call('POST', '/api/2.0/mlflow/experiments/search', halt.tokens.member, { max_results: 10 });
      assert.equal(mlflow.status, 403);
      assert.equal(mlflow.body.error_code, 'PERMISSION_DENIED');
      const relayed = await viaRelay(jobToken);
      assert.equal(relayed.statusCode, 403, relayed.body);
      assert.equal(JSON.parse(relayed.body).code, 'TENANT_SUSPENDED');
      const endpoint = await p.call('GET', '/api/v1/me', endpointToken);
      assert.equal(endpoint.status, 403);
      assert.equal(endpoint.body.code, 'TENANT_SUSPENDED');

      // What ran has stopped: the running job is cancelled, the queued one waits, the deployment is stopped.
      assert.equal(await waitJob(halt, running.body.id, (s) => terminal.has(s)), 'cancelled');
      await waitDeployment(halt, 'churn', (s) => s === 'stopped');
      // A restart of the platform (its start-up recovery) does not start a suspended tenant's deployment.
      await p.platform.serving.deployments.recover();
      assert.equal((await p.call('GET', '/api/v1/tenants/halt/deployments/churn', adminToken)).body.status, 'stopped');
      for (let i = 0; i < 3; i += 1) await p.platform.jobs.runner.tick();
      assert.equal(await jobStatus(halt, queued.body.id), 'queued');

      // The other tenant is untouched.
      assert.equal((await infer(steady)).status, 200);
      assert.equal((await p.call('GET', '/api/v1/me', steady.tokens.viewer)).status, 200);

      // Each refusal is in the tenant's audit chain (read by the platform admin), and so is what stopped.
      const events = (await p.call('GET', '/api/v1/tenants/halt/audit?limit=1000', adminToken)).body.events as Array<{ action: string; outcome: string; actor: string; target: string; details: Record<string, unknown> }>;
      const refusals = events.filter((e) => e.action === 'auth.tenant_suspended' && e.outcome === 'denied');
      const refusedIds = new Set(refusals.map((e) => (e as { requestId?: string }).requestId));
      for (const [what, requestId] of [['inference', inference.body.requestId], ['job token', JSON.parse(relayed.body).requestId], ['endpoint token', endpoint.body.requestId]] as const) {
        assert.ok(refusedIds.has(requestId), `${what} refusal audited`);
      }
      assert.ok(refusals.some((e) => e.target === 'POST /v2/models/:name/infer'), JSON.stringify(refusals.map((e) => e.target)));
      assert.ok(refusals.some((e) => e.target.startsWith('POST /api/2.0/mlflow/')), 'MLflow refusal audited');
      const stopped = events.find((e) => e.action === 'tenant.suspend.stopped');
      assert.deepEqual(stopped?.details, { jobsCancelled: 1, deploymentsPaused: 1 });
      assert.ok(events.some((e) => e.action === 'job.cancel_requested' && e.target === `job:${running.body.id}`));

      // Resumption: the credentials work again, the deployment starts again, the queued job runs.
      assert.equal((await p.call('PATCH', '/api/v1/tenants/halt', adminToken, { status: 'active' })).status, 200);
      assert.equal((await p.call('GET', '/api/v1/me', halt.tokens.viewer)).status, 200);
      await waitDeployment(halt, 'churn', (s) => s === 'ready');
      assert.equal((await infer(halt)).status, 200);
      assert.equal(await waitJob(halt, queued.body.id, (s) => terminal.has(s)), 'succeeded');
    });
  });
}
