/**
 * Issue 15, on PGlite and PostgreSQL, with real serving workers: tenant `dep-b` deploys a model version
 * that `own-a` shared with it (`own-a/churn`, version 1) in its own deployment and gets its predictions;
 * the load is a shared read in both audit logs. A version that is not shared (2) and a tenant the share
 * does not name (`dep-c`) never get a ready deployment. Lineage shows the cross-tenant edge to both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform, TestTenant } from './support/platform.ts';
import { waitFor } from './support/wait.ts';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

for (const kind of databaseKinds) {
  describe(`deploying a shared model version on ${kind}`, () => {
    let p: TestPlatform;
    let a: TestTenant;
    let b: TestTenant;
    let c: TestTenant;

    const register = async (name: string, weights: number[]): Promise<string> => {
      const path = `models/${name}/${randomBytes(4).toString('hex')}`;
      const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: weights.map((_, i) => `f${i}`), weights, bias: 0 });
      const upload = await p.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${path}/model.onnx`, headers: { authorization: `Bearer ${a.tokens.member}`, 'content-type': 'application/octet-stream' }, payload: Buffer.from(bytes) });
      assert.equal(upload.statusCode, 200, upload.body);
      const created = await p.call('POST', '/api/2.0/mlflow/model-versions/create', a.tokens.member, { name, source: `mlflow-artifacts:/${path}` });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return String(created.body.model_version.version);
    };
    const deployment = async (t: TestTenant, name: string) => (await p.call('GET', `/api/v1/tenants/${t.slug}/deployments/${name}`, t.tokens.viewer)).body;
    const deploy = (t: TestTenant, name: string, version: string) => p.call('POST', `/api/v1/tenants/${t.slug}/deployments`, t.tokens.member,
      { name, model: 'own-a/churn', version, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 2 });
    const auditReads = async (t: TestTenant) => {
      const page = await p.call('GET', `/api/v1/tenants/${t.slug}/audit?limit=200`, t.tokens.admin);
      return (page.body.events as Array<{ action: string; target: string }>).filter((e) => e.action === 'share.read');
    };

    before(async () => {
      p = await createTestPlatform(kind, { cgroupPrefix: `bhshr-${randomBytes(4).toString('hex')}` });
      a = await p.createTenant('own-a');
      b = await p.createTenant('dep-b');
      c = await p.createTenant('dep-c');
      for (const t of [a, b, c]) await p.call('PUT', `/api/v1/tenants/${t.slug}/quota`, adminToken, { cpu: 4, memoryMiB: 8192, requestsPerSecond: 10_000 });
      await p.call('POST', '/api/2.0/mlflow/registered-models/create', a.tokens.member, { name: 'churn' });
      assert.equal(await register('churn', [1, 2]), '1');
      assert.equal(await register('churn', [5, 5]), '2');
      const share = await p.call('POST', '/api/v1/tenants/own-a/shares', a.tokens.admin, { resource: 'model:churn/1', grantee: b.id });
      assert.equal(share.status, 201, JSON.stringify(share.body));
    });
    after(async () => {
      await p.close();
    });

    test("the grantee deploys the shared version in its own deployment; nothing else deploys; the load is audited in both tenants", async () => {
      assert.equal((await deploy(b, 'theirs', '1')).status, 201);
      await waitFor('the shared deployment to be ready', async () => (await deployment(b, 'theirs')).status === 'ready', 60_000);
      const inferred = await p.call('POST', '/v2/models/theirs/infer', b.tokens.member, { id: 'r', inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }] });
      assert.equal(inferred.status, 200, JSON.stringify(inferred.body));
      const probability = inferred.body.outputs.find((o: { name: string }) => o.name === 'probabilities') ?? inferred.body.outputs[0];
      const values = (probability.data as number[]).flat();
      assert.ok(values.some((v) => Math.abs(v - sigmoid(3)) < 1e-4), `weights [1, 2] on [1, 1]: ${JSON.stringify(inferred.body.outputs)}`);

      // Not shared: version 2, and any version for dep-c. Each deployment is accepted but never becomes ready.
      assert.equal((await deploy(b, 'unshared', '2')).status, 201);
      assert.equal((await deploy(c, 'stranger', '1')).status, 201);
      await waitFor('both refused deployments to fail', async () =>
        (await deployment(b, 'unshared')).status === 'failed' && (await deployment(c, 'stranger')).status === 'failed', 30_000);

      const ownerReads = await auditReads(a);
      assert.ok(ownerReads.some((e) => e.target === 'model:own-a/churn/1'), JSON.stringify(ownerReads));
      assert.ok((await auditReads(b)).some((e) => e.target === 'model:own-a/churn/1'));
      assert.ok(!ownerReads.some((e) => e.target.endsWith('/2')), 'a refused read is no shared read');
      assert.deepEqual(await auditReads(c), []);
    });

    test('lineage shows the cross-tenant edge to the owner (tenant and kind only) and to the grantee (its deployment), nothing upstream', async () => {
      const lineage = (t: TestTenant, name: string, version: string) =>
        p.call('GET', `/api/v1/tenants/${t.slug}/models/${encodeURIComponent(name)}/versions/${version}/lineage`, t.tokens.viewer);
      // The owner: tenant dep-b used version 1 in a deployment; not the deployment's name or id.
      const owner = await lineage(a, 'churn', '1');
      assert.equal(owner.status, 200, JSON.stringify(owner.body));
      assert.equal(owner.body.sharing.sharedFrom, null);
      assert.deepEqual(owner.body.sharing.uses.map((u: any) => [u.tenant, u.kind]), [['dep-b', 'deployment']]);
      assert.deepEqual(owner.body.sharing.deployments, []);
      const theirs = await deployment(b, 'theirs');
      assert.ok(!JSON.stringify(owner.body).includes('theirs') && !JSON.stringify(owner.body).includes(theirs.id), "the grantee's deployment is not named to the owner");
      // Version 2 was never loaded by anyone else (the refused deployment left no edge).
      assert.deepEqual((await lineage(a, 'churn', '2')).body.sharing.uses, []);

      // The grantee: the shared version, its own deployment of it and its edge; nothing upstream of it.
      const grantee = await lineage(b, 'own-a/churn', '1');
      assert.equal(grantee.status, 200, JSON.stringify(grantee.body));
      assert.equal(grantee.body.sharing.sharedFrom, 'own-a');
      assert.deepEqual(grantee.body.sharing.deployments.map((d: any) => d.name), ['theirs']);
      assert.deepEqual(grantee.body.sharing.uses.map((u: any) => [u.tenant, u.kind]), [['own-a', 'deployment']]);
      assert.equal(grantee.body.model.runId, null);
      assert.deepEqual(grantee.body.upstream, { job: null, run: null, datasets: [], codeBundle: null, codeDigest: null, image: null, params: {} });
      // Not shared: version 2 for dep-b, anything for dep-c.
      assert.equal((await lineage(b, 'own-a/churn', '2')).status, 404);
      assert.equal((await lineage(c, 'own-a/churn', '1')).status, 404);
    });
  });
}
